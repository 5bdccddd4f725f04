//! The `tail` section: every tailed file's position, keyed by *source name* (ids are positions
//! in the config and change when sources are reordered; names are unique and stable).
//!
//! Paths are stored as text when they are valid UTF-8 and as bytes otherwise; they only matter
//! for the "device number changed" fallback and for finding files rotated away while stopped.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{SectionOut, unix_ms};
use crate::tail::{FileCheckpoint, Fingerprint, SourceSpec, TailCheckpoint};

pub const NAME: &str = "tail";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TailSection {
    /// `TailCheckpoint::scanned_at`, Unix milliseconds.
    pub scanned_at_ms: u64,
    pub sources: Vec<SourceFiles>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFiles {
    pub name: String,
    pub files: Vec<FilePosition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePosition {
    pub path: String,
    /// The path's bytes, only when it is not valid UTF-8 (`path` is then lossy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_bytes: Option<Vec<u8>>,
    pub dev: u64,
    pub ino: u64,
    pub head_len: u16,
    pub head_hash: u64,
    pub offset: u64,
}

impl TailSection {
    /// Names come from `specs` (the tailer's sources); positions of unknown ids are dropped.
    pub fn new(cp: &TailCheckpoint, specs: &[SourceSpec]) -> TailSection {
        let sources = specs
            .iter()
            .filter(|s| cp.sources.contains(&s.id))
            .map(|s| SourceFiles {
                name: s.name.clone(),
                files: cp
                    .files
                    .iter()
                    .filter(|f| f.source == s.id)
                    .map(|f| {
                        let text = f.path.to_string_lossy().into_owned();
                        let raw = f.path.as_os_str().as_bytes();
                        FilePosition {
                            path_bytes: (text.as_bytes() != raw).then(|| raw.to_vec()),
                            path: text,
                            dev: f.fingerprint.dev,
                            ino: f.fingerprint.ino,
                            head_len: f.fingerprint.head_len,
                            head_hash: f.fingerprint.head_hash,
                            offset: f.offset,
                        }
                    })
                    .collect(),
            })
            .collect();
        TailSection {
            scanned_at_ms: unix_ms(cp.scanned_at),
            sources,
        }
    }

    pub fn section(self) -> SectionOut {
        SectionOut::new(NAME, VERSION, self)
    }

    /// Back to a checkpoint for sources configured now (matched by name); sources no longer
    /// configured are dropped, new ones are not covered (they start per `start_at`).
    pub fn into_checkpoint(self, specs: &[SourceSpec]) -> TailCheckpoint {
        let mut cp = TailCheckpoint {
            sources: Vec::new(),
            files: Vec::new(),
            scanned_at: UNIX_EPOCH + Duration::from_millis(self.scanned_at_ms),
        };
        for src in self.sources {
            let Some(spec) = specs.iter().find(|s| s.name == src.name) else {
                tracing::info!(source = %src.name, "state has positions for a source that is no longer configured; ignored");
                continue;
            };
            cp.sources.push(spec.id);
            cp.files
                .extend(src.files.into_iter().map(|f| FileCheckpoint {
                    source: spec.id,
                    fingerprint: Fingerprint {
                        dev: f.dev,
                        ino: f.ino,
                        head_len: f.head_len,
                        head_hash: f.head_hash,
                    },
                    path: match f.path_bytes {
                        Some(b) => PathBuf::from(OsString::from_vec(b)),
                        None => PathBuf::from(f.path),
                    },
                    offset: f.offset,
                }));
        }
        cp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_by_name_with_reordered_and_removed_sources() {
        let specs = vec![
            SourceSpec::new(0, "edge", "/l/a*"),
            SourceSpec::new(1, "core", "/l/b*"),
        ];
        let weird = PathBuf::from(OsString::from_vec(b"/l/b\xff.log".to_vec()));
        let cp = TailCheckpoint {
            sources: vec![0, 1],
            files: vec![
                FileCheckpoint {
                    source: 1,
                    fingerprint: Fingerprint {
                        dev: 1,
                        ino: 2,
                        head_len: 256,
                        head_hash: u64::MAX,
                    },
                    path: weird.clone(),
                    offset: 77,
                },
                FileCheckpoint {
                    source: 0,
                    fingerprint: Fingerprint {
                        dev: 1,
                        ino: 3,
                        head_len: 5,
                        head_hash: 9,
                    },
                    path: "/l/a.log".into(),
                    offset: 5,
                },
            ],
            scanned_at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        };
        let json = serde_json::to_string(&TailSection::new(&cp, &specs)).unwrap();
        let back: TailSection = serde_json::from_str(&json).unwrap();
        // The next run configures "core" first and no longer has "edge".
        let now = vec![SourceSpec::new(0, "core", "/l/b*")];
        let cp2 = back.into_checkpoint(&now);
        assert_eq!(cp2.sources, vec![0]);
        assert_eq!(cp2.scanned_at, cp.scanned_at);
        assert_eq!(cp2.files.len(), 1);
        assert_eq!(cp2.files[0].path, weird);
        assert_eq!(cp2.files[0].source, 0);
        assert_eq!(cp2.files[0].fingerprint, cp.files[0].fingerprint);
        assert_eq!(cp2.files[0].offset, 77);
    }
}
