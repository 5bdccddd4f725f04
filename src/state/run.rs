//! The daemon's use of the state file, kept here so that `daemon.rs` only wires it in:
//! restore at start, save a snapshot at every tailer checkpoint marker and at shutdown, and
//! report how saving goes.
//!
//! Why snapshots are taken at markers (docs/operations.md has the long form): the aggregate
//! totals and the tail positions must describe the *same* instant of the stream. The marker
//! travels through the same bounded channels as the lines, in order, so when the aggregator
//! receives it, it has counted exactly the lines before the positions the marker carries — no
//! more (lines read later are still behind the marker), no fewer. After `kill -9`, the next
//! start restores those totals and re-reads from those positions: every line counted once.

use std::sync::Arc;
use std::time::SystemTime;

use super::tail::{self as tail_section, TailSection};
use super::{Health, HealthSnapshot, SectionOut, Store, Writer};
use crate::aggregate::{
    AggregateState, Aggregator, STATE_SECTION, STATE_VERSION, StateErrorOut, StateOut,
};
use crate::config::StateSettings;
use crate::detect::{self, DetectState};
use crate::tail::{SourceSpec, TailCheckpoint};
use crate::time::format_rfc3339_millis;

/// What the previous run left, ready to use.
pub struct Restored {
    /// Positions for [`crate::tail::Tailer::resume`] (empty when there was no state).
    pub tail: TailCheckpoint,
    pub aggregate: Option<AggregateState>,
    /// The detection engine's part (`detect` section), restored independently: an unreadable
    /// one is reported and the detectors start fresh while positions and totals restore.
    pub detect: Option<DetectState>,
}

/// Saving state while the daemon runs.
pub struct Persistence {
    writer: Writer,
    health: Arc<Health>,
    /// The tailer's sources, for names in the `tail` section.
    specs: Vec<SourceSpec>,
    /// `Health::version` last shown in a snapshot.
    shown: u64,
}

impl Persistence {
    /// Loads the last state (setting bad files aside) and starts the writer. Without
    /// `[state] dir`: no persistence, nothing restored.
    pub fn open(settings: &StateSettings, specs: &[SourceSpec]) -> (Option<Persistence>, Restored) {
        let mut restored = Restored {
            tail: TailCheckpoint::positions_only(Vec::new()),
            aggregate: None,
            detect: None,
        };
        let Some(dir) = &settings.dir else {
            return (None, restored);
        };
        let store = Store::new(dir);
        let outcome = store.load_or_set_aside();
        let health = Arc::new(Health::default());
        health.update(|h| {
            h.restored_from = outcome.loaded.as_ref().map(|l| l.path.clone());
            h.load_problems = outcome
                .problems
                .iter()
                .map(|p| p.error.to_string())
                .collect();
        });
        if let Some(mut loaded) = outcome.loaded {
            match loaded.section::<TailSection>(tail_section::NAME, tail_section::VERSION) {
                Ok(Some(t)) => restored.tail = t.into_checkpoint(specs),
                Ok(None) => {}
                Err(e) => section_problem(&health, e),
            }
            match loaded.section::<AggregateState>(STATE_SECTION, STATE_VERSION) {
                Ok(a) => restored.aggregate = a,
                Err(e) => section_problem(&health, e),
            }
            match loaded.section::<DetectState>(detect::STATE_SECTION, detect::STATE_VERSION) {
                Ok(d) => restored.detect = d,
                Err(e) => section_problem(&health, e),
            }
            let other: Vec<&str> = loaded.remaining().collect();
            if !other.is_empty() {
                tracing::info!(sections = ?other, "state sections this build does not use; ignored");
            }
            tracing::info!(
                path = %loaded.path.display(),
                written_at = %format_rfc3339_millis(micros(loaded.written_at)),
                file_positions = restored.tail.files.len(),
                lines = restored.aggregate.as_ref().map_or(0, |a| a.totals.lines),
                open_anomalies = restored.detect.as_ref().map_or(0, |d| d.table.open.len()),
                "restored state"
            );
        } else if outcome.problems.is_empty() {
            tracing::info!(dir = %dir.display(), "no saved state yet; starting fresh");
        }
        match Writer::spawn(store, health.clone()) {
            Ok(writer) => (
                Some(Persistence {
                    writer,
                    health,
                    specs: specs.to_vec(),
                    shown: u64::MAX,
                }),
                restored,
            ),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the state writer; state will not be saved");
                (None, restored)
            }
        }
    }

    fn sections(&self, cp: &TailCheckpoint, agg: &Aggregator) -> Vec<SectionOut> {
        vec![
            TailSection::new(cp, &self.specs).section(),
            SectionOut::new(STATE_SECTION, STATE_VERSION, agg.persist()),
            SectionOut::new(
                detect::STATE_SECTION,
                detect::STATE_VERSION,
                agg.persist_detect(),
            ),
        ]
    }

    /// A checkpoint marker reached the aggregator: save positions and counts together. Never
    /// blocks (the write happens on the writer thread).
    pub fn checkpoint(&self, cp: &TailCheckpoint, agg: &Aggregator) {
        if !self.writer.submit(self.sections(cp, agg)) {
            tracing::debug!("state writer busy; snapshot skipped (the next one follows)");
        }
    }

    /// The health to show, when it changed since last asked.
    pub fn health_changed(&mut self) -> Option<StateOut> {
        let v = self.health.version();
        if v == self.shown {
            return None;
        }
        self.shown = v;
        Some(state_out(&self.health.snapshot()))
    }

    /// Shutdown: the final positions with the final counts (when the tailer stopped cleanly),
    /// to be written by [`FinalSave::run`] on a blocking thread.
    pub fn finish(self, cp: Option<TailCheckpoint>, agg: &Aggregator) -> FinalSave {
        let sections = cp.map(|cp| self.sections(&cp, agg));
        if sections.is_none() {
            tracing::warn!("the tailer did not stop cleanly; keeping the last saved state");
        }
        FinalSave {
            writer: self.writer,
            sections,
        }
    }
}

/// The last write, to be run on a blocking thread (`FinalSave::run`).
pub struct FinalSave {
    writer: Writer,
    sections: Option<Vec<SectionOut>>,
}

impl FinalSave {
    pub fn run(self) {
        self.writer.finish(self.sections);
    }
}

fn section_problem(health: &Health, e: super::StateError) {
    tracing::warn!(error = %e, "state section not restored; that part starts fresh");
    health.update(|h| h.load_problems.push(e.to_string()));
}

fn micros(t: SystemTime) -> i64 {
    i64::try_from(super::unix_ms(t))
        .unwrap_or(i64::MAX)
        .saturating_mul(1000)
}

fn state_out(h: &HealthSnapshot) -> StateOut {
    let time = |t: SystemTime| format_rfc3339_millis(micros(t)).to_string();
    StateOut {
        saved_at: h.last_saved_at.map(time),
        saves: h.saves,
        failures: h.failures,
        skipped: h.skipped,
        error: h.error.as_ref().map(|(since, e)| StateErrorOut {
            since: time(*since),
            error: e.clone(),
        }),
        restored_from: h.restored_from.as_ref().map(|p| p.display().to_string()),
        load_problems: h.load_problems.clone(),
    }
}
