//! `socwall parse`: read files (or stdin), print one JSON object per input line.
//!
//! Lines are split on `\n` (a trailing `\r` is dropped) by a reader that never holds more than
//! [`MAX_LINE`] bytes of one line: longer lines are reported as an error and skipped over.
//!
//! With `--format auto`, `zeek` or `eve`, a pretty-printed JSON document (a line that opens an
//! object without closing it) is joined with the following lines until its braces balance, and
//! parsed as one record reported at its first line; each continuation line still gets an object
//! (see [`jsondoc`] and docs/PARSE.md).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::parse::jsondoc::{self, Braces, Doc, Push};
use crate::parse::{
    AutoDetector, Ctx, Format, FormatSpec, Outcome, State, json, netflow, parse_line_with,
};

/// Longest line we parse, in bytes (without the newline). Also the cap of a joined multi-line
/// JSON document (joining newlines included).
pub(crate) const MAX_LINE: usize = 65_536;

/// Most lines one multi-line JSON document may span.
const MAX_DOC_LINES: usize = 10_000;

#[derive(Debug, thiserror::Error)]
enum CmdError {
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("cannot write output: {0}")]
    Write(#[source] io::Error),
}

pub(crate) enum Line<'a> {
    Text(&'a [u8]),
    TooLong,
}

/// `\n`-separated lines, capped at [`MAX_LINE`] bytes each.
pub(crate) struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        LineReader {
            inner,
            buf: Vec::with_capacity(4096),
        }
    }

    pub(crate) fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.buf.clear();
        let (mut too_long, mut any) = (false, false);
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let (chunk, done, used) = match memchr::memchr(b'\n', avail) {
                Some(i) => (&avail[..i], true, i + 1),
                None => (avail, false, avail.len()),
            };
            // +1: room for a `\r` that is stripped below.
            if !too_long && self.buf.len() + chunk.len() > MAX_LINE + 1 {
                too_long = true;
                self.buf = Vec::with_capacity(4096); // release the oversized buffer
            }
            if !too_long {
                self.buf.extend_from_slice(chunk);
            }
            self.inner.consume(used);
            if done {
                break;
            }
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        if too_long || self.buf.len() > MAX_LINE {
            return Ok(Some(Line::TooLong));
        }
        Ok(Some(Line::Text(&self.buf)))
    }
}

/// Entry point of the subcommand; returns the process exit code.
pub fn main(format: &str, files: &[PathBuf]) -> ExitCode {
    let spec = match format {
        "auto" => FormatSpec::Auto,
        name => match Format::from_name(name) {
            Some(f) => FormatSpec::Fixed(f),
            None => {
                let valid: Vec<&str> = Format::names().collect();
                eprintln!(
                    "socwall parse: unknown format {name:?}; valid formats: auto, {}",
                    valid.join(", ")
                );
                return ExitCode::from(2);
            }
        },
    };
    let ctx = Ctx::now();
    let mut out = BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    let mut failed = false;
    // One NetFlow decoder for the whole run: packet files are fed in order, templates first.
    let mut flows = Flows::default();
    for path in files {
        let label = (files.len() > 1).then_some(path.as_path());
        let result = match spec {
            FormatSpec::Fixed(Format::Netflow) => flows.file(path, &mut out),
            FormatSpec::Auto if is_export_packet(path) => flows.file(path, &mut out),
            _ => run_file(path, label, spec, &ctx, &mut out),
        };
        match result {
            Ok(()) => {}
            Err(CmdError::Write(e)) => return write_failure(&e),
            Err(e) => {
                // Keep stdout and stderr in order for a reader watching both.
                if let Err(e) = out.flush() {
                    return write_failure(&e);
                }
                eprintln!("socwall parse: {e}");
                failed = true;
            }
        }
    }
    if let Err(e) = out.flush() {
        return write_failure(&e);
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// A closed pipe (`socwall parse big.log | head`) is a normal way to stop: exit quietly.
fn write_failure(e: &io::Error) -> ExitCode {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "socwall parse: {}",
        CmdError::Write(io::Error::new(e.kind(), e.to_string()))
    );
    ExitCode::from(1)
}

fn run_file(
    path: &Path,
    label: Option<&Path>,
    spec: FormatSpec,
    ctx: &Ctx,
    out: &mut impl Write,
) -> Result<(), CmdError> {
    let name = || path.display().to_string();
    if path.as_os_str() == "-" {
        let stdin = io::stdin().lock();
        return parse_stream(stdin, &name(), label, spec, ctx, out);
    }
    let file = File::open(path).map_err(|source| CmdError::Open {
        path: name(),
        source,
    })?;
    parse_stream(
        BufReader::with_capacity(64 * 1024, file),
        &name(),
        label,
        spec,
        ctx,
        out,
    )
}

/// Parses one record (a line, or a joined document) and appends its JSON object to `buf`.
struct Sink<'c> {
    spec: FormatSpec,
    ctx: &'c Ctx,
    file: Option<&'c [u8]>,
    detector: AutoDetector,
    state: State,
}

impl Sink<'_> {
    /// Parses one record (a line, or a joined document) and appends its object to `buf`. With
    /// `join`, a line that no parser reads as an event and that opens a JSON object without
    /// closing it is not reported: its brace state is returned, to start a document with it.
    /// Parsing first keeps the extra brace scan off the lines that are events (nearly all).
    fn record(&mut self, buf: &mut Vec<u8>, n: u64, text: &[u8], join: bool) -> Option<Braces> {
        let (format, outcome) = match self.spec {
            FormatSpec::Fixed(f) => (Some(f), parse_line_with(f, text, self.ctx, &mut self.state)),
            FormatSpec::Auto => self.detector.feed(text, self.ctx),
        };
        if join && !matches!(outcome, Outcome::Event(_)) {
            if let Some(braces) = jsondoc::opens(text) {
                return Some(braces);
            }
        }
        let file = self.file;
        match (outcome, format) {
            (Outcome::Event(e), Some(f)) => json::event(buf, n, file, f, &e),
            (Outcome::Event(_), None) => {
                json::note(buf, n, file, "error", "event without a format")
            }
            (Outcome::Skipped(why), _) => json::note(buf, n, file, "skipped", why),
            (Outcome::Error(why), _) => json::note(buf, n, file, "error", why),
        }
        None
    }

    fn note(&self, buf: &mut Vec<u8>, n: u64, kind: &str, why: &str) {
        json::note(buf, n, self.file, kind, why);
    }

    /// A document that cannot be completed: an error at its first line, then its other lines
    /// parsed one by one, so nothing is lost (a truncated line followed by whole records gets
    /// those records back).
    fn abandon(&mut self, buf: &mut Vec<u8>, doc: &mut Doc, why: &str) {
        let first = doc.first();
        self.note(buf, first, "error", why);
        for (k, line) in (first + 1..).zip(doc.rest()) {
            self.record(buf, k, line, false);
        }
        doc.clear();
    }
}

fn parse_stream(
    input: impl BufRead,
    name: &str,
    label: Option<&Path>,
    spec: FormatSpec,
    ctx: &Ctx,
    out: &mut impl Write,
) -> Result<(), CmdError> {
    let mut sink = Sink {
        spec,
        ctx,
        file: label.map(|p| p.as_os_str().as_encoded_bytes()),
        detector: AutoDetector::new(),
        state: State::default(),
    };
    // Multi-line JSON documents: only where a JSON format can read them.
    let joins = matches!(
        spec,
        FormatSpec::Auto | FormatSpec::Fixed(Format::Zeek | Format::Eve)
    );
    let mut doc = Doc::new(
        MAX_LINE,
        MAX_DOC_LINES,
        "JSON document longer than 65536 bytes",
        "JSON document longer than 10000 lines",
    );
    let mut lines = LineReader::new(input);
    let mut buf = Vec::with_capacity(1024);
    let mut why = String::new();
    let mut n: u64 = 0;
    loop {
        let line = lines.next_line().map_err(|source| CmdError::Read {
            path: name.to_owned(),
            source,
        })?;
        let Some(line) = line else { break };
        n += 1;
        buf.clear();
        if doc.is_open() {
            let over = match line {
                Line::Text(text) => match doc.push(text) {
                    Push::Open => continue,
                    Push::Closed => {
                        let first = doc.first();
                        sink.record(&mut buf, first, doc.text(), false);
                        why.clear();
                        let _ = write!(why, "continuation of the JSON document at line {first}");
                        for k in first + 1..=n {
                            sink.note(&mut buf, k, "skipped", &why);
                        }
                        doc.clear();
                        out.write_all(&buf).map_err(CmdError::Write)?;
                        continue;
                    }
                    Push::Over(over) => over,
                },
                Line::TooLong => "JSON document longer than 65536 bytes",
            };
            // Over a cap: give up on the document; this line is then read on its own.
            sink.abandon(&mut buf, &mut doc, over);
        }
        match line {
            Line::TooLong => sink.note(&mut buf, n, "error", "line longer than 65536 bytes"),
            Line::Text(text) => {
                if let Some(braces) = sink.record(&mut buf, n, text, joins) {
                    doc.start(n, text, braces);
                }
            }
        }
        out.write_all(&buf).map_err(CmdError::Write)?;
    }
    if doc.is_open() {
        buf.clear();
        sink.abandon(
            &mut buf,
            &mut doc,
            "JSON document not closed at end of input",
        );
        out.write_all(&buf).map_err(CmdError::Write)?;
    }
    Ok(())
}

/// The exporter address the packet files are attributed to (one exporter per run).
const FILE_EXPORTER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Largest packet file: a UDP payload is at most 65535 bytes.
const MAX_PACKET: usize = 65_535;

/// `--format netflow`: each file is one export packet (a UDP payload), decoded in order by one
/// [`netflow::Decoder`], one JSON object per flow record: `{"file":F,"record":I,...}` with `I`
/// 0-based within the file; a packet that fails prints its records decoded so far, then
/// `{"file":F,"error":"why"}`; data sets for unknown templates give `{"file":F,"skipped":..}`.
#[derive(Default)]
struct Flows {
    decoder: netflow::Decoder,
    records: Vec<netflow::FlowRecord>,
    packet: Vec<u8>,
    buf: Vec<u8>,
}

impl Flows {
    fn file(&mut self, path: &Path, out: &mut impl Write) -> Result<(), CmdError> {
        let name = path.display().to_string();
        self.packet.clear();
        let read = if path.as_os_str() == "-" {
            io::stdin()
                .lock()
                .take(MAX_PACKET as u64 + 1)
                .read_to_end(&mut self.packet)
        } else {
            let file = File::open(path).map_err(|source| CmdError::Open {
                path: name.clone(),
                source,
            })?;
            file.take(MAX_PACKET as u64 + 1)
                .read_to_end(&mut self.packet)
        };
        read.map_err(|source| CmdError::Read {
            path: name.clone(),
            source,
        })?;
        let label = name.as_bytes();
        self.buf.clear();
        if self.packet.len() > MAX_PACKET {
            json::file_note(
                &mut self.buf,
                label,
                "error",
                "file larger than a UDP datagram (65535 bytes)",
            );
        } else {
            self.records.clear();
            let res = self
                .decoder
                .decode(FILE_EXPORTER, &self.packet, &mut self.records);
            for (i, r) in self.records.iter().enumerate() {
                json::flow(&mut self.buf, label, i as u64, &r.event());
            }
            match res {
                Err(e) => json::file_note(&mut self.buf, label, "error", &e.to_string()),
                Ok(s) if s.unknown_template_sets > 0 => json::file_note(
                    &mut self.buf,
                    label,
                    "skipped",
                    &format!(
                        "{} data set(s) for unknown templates dropped",
                        s.unknown_template_sets
                    ),
                ),
                Ok(_) => {}
            }
        }
        out.write_all(&self.buf).map_err(CmdError::Write)
    }
}

/// `--format auto`: a file whose first bytes are a NetFlow v5/v9/IPFIX version number
/// (`00 05`, `00 09`, `00 0a`) is an export packet; text logs never start with a NUL byte.
fn is_export_packet(path: &Path) -> bool {
    if path.as_os_str() == "-" {
        return false;
    }
    let mut head = [0u8; 2];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| matches!(head, [0, 5 | 9 | 10]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<Option<Vec<u8>>> {
        let mut r = LineReader::new(BufReader::with_capacity(7, input));
        let mut v = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            v.push(match l {
                Line::Text(t) => Some(t.to_vec()),
                Line::TooLong => None,
            });
        }
        v
    }

    #[test]
    fn splits_crlf_and_last_line_without_newline() {
        assert_eq!(
            lines(b"a\r\nbb\n\nccc"),
            vec![
                Some(b"a".to_vec()),
                Some(b"bb".to_vec()),
                Some(vec![]),
                Some(b"ccc".to_vec())
            ]
        );
        assert!(lines(b"").is_empty());
    }

    #[test]
    fn long_lines_are_capped() {
        let mut input = vec![b'x'; MAX_LINE];
        input.push(b'\n');
        input.extend(vec![b'y'; MAX_LINE + 1]);
        input.extend_from_slice(b"\nz\n");
        let got = lines(&input);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].as_ref().map(Vec::len), Some(MAX_LINE));
        assert_eq!(got[1], None);
        assert_eq!(got[2], Some(b"z".to_vec()));
    }
}
