//! `--format auto`: cheap one-line classification and a per-file detector that settles on a
//! format, keeps checking, and switches when the file changes hands.

use memchr::memmem;

use crate::parse::{Ctx, Format, Outcome, State, parse_line_with};

/// A cheap guess from marker substrings (no parsing). Only a hint: the parsers decide.
pub fn detect(line: &[u8]) -> Option<Format> {
    if let Some(i) = memmem::find(line, b"filterlog") {
        if matches!(line.get(i + 9), Some(b':' | b'[' | b' ')) {
            return Some(Format::Filterlog);
        }
    }
    if memmem::find(line, b"SRC=").is_some()
        && (memmem::find(line, b"IN=").is_some() || memmem::find(line, b"OUT=").is_some())
    {
        return Some(Format::Iptables);
    }
    if memmem::find(line, b"rule ").is_some() && memmem::find(line, b" on ").is_some() {
        return Some(Format::Pf);
    }
    None
}

/// Consecutive lines another format must claim (while the settled one does not) before the
/// detector switches to it.
const SWITCH_AFTER: u32 = 3;

/// Per-source format detector. Each line is parsed with the settled format first; if that does
/// not give an event, the other formats are tried, so no line a parser can read is lost even
/// before a switch. The decision itself only moves after [`SWITCH_AFTER`] such lines in a row.
#[derive(Debug, Clone, Default)]
pub struct AutoDetector {
    /// Carried line-to-line state (headers), shared by all candidate formats.
    state: State,
    current: Option<Format>,
    candidate: Option<Format>,
    run: u32,
}

impl AutoDetector {
    pub fn new() -> AutoDetector {
        AutoDetector::default()
    }

    /// The format the detector has settled on, if any yet.
    pub fn current(&self) -> Option<Format> {
        self.current
    }

    /// Parses one line; returns the format whose parser produced the outcome (for events, the
    /// one that read it), or `None` when no parser recognised the line and none is settled.
    pub fn feed<'a>(&mut self, line: &'a [u8], ctx: &Ctx) -> (Option<Format>, Outcome<'a>) {
        let mut first_error = None;
        if let Some(cur) = self.current {
            let o = parse_line_with(cur, line, ctx, &mut self.state);
            if matches!(o, Outcome::Event(_)) {
                self.run = 0;
                self.candidate = None;
                return (Some(cur), o);
            }
            if let Some((f, ev)) = self.try_others(line, ctx, Some(cur), &mut first_error) {
                if self.candidate == Some(f) {
                    self.run += 1;
                } else {
                    self.candidate = Some(f);
                    self.run = 1;
                }
                if self.run >= SWITCH_AFTER {
                    self.current = Some(f);
                    self.candidate = None;
                    self.run = 0;
                }
                return (Some(f), ev);
            }
            // Nobody claims it: the settled parser's own reason is the most useful one.
            return (Some(cur), o);
        }
        if let Some((f, ev)) = self.try_others(line, ctx, None, &mut first_error) {
            self.current = Some(f);
            return (Some(f), ev);
        }
        match first_error {
            Some((f, e)) => (Some(f), e),
            None => (None, Outcome::Skipped("no parser recognised the line")),
        }
    }

    /// Tries the hinted format, then the rest, skipping `except`; the first event wins.
    fn try_others<'a>(
        &mut self,
        line: &'a [u8],
        ctx: &Ctx,
        except: Option<Format>,
        first_error: &mut Option<(Format, Outcome<'a>)>,
    ) -> Option<(Format, Outcome<'a>)> {
        let hint = detect(line);
        let order = hint.into_iter().chain(
            Format::ALL
                .iter()
                .copied()
                .filter(move |&f| Some(f) != hint),
        );
        for f in order.filter(|&f| Some(f) != except) {
            match parse_line_with(f, line, ctx, &mut self.state) {
                o @ Outcome::Event(_) => return Some((f, o)),
                o @ Outcome::Error(_) if first_error.is_none() => *first_error = Some((f, o)),
                _ => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PF: &[u8] = b"Oct 21 06:06:58.096785 rule 57/0(match): pass in on xl1: 10.0.0.1.1030 > 10.0.0.2.53: 2520 [1au][|domain] (DF)";
    const IPT: &[u8] = b"Jun  8 14:34:33 h kernel: [5.1] IN=eth0 OUT= MAC= SRC=10.0.0.1 DST=10.0.0.2 LEN=40 PROTO=TCP SPT=1 DPT=2";
    const FL: &[u8] = b"Sep 28 10:38:09 fw filterlog: 53,,,100,em0,match,block,in,4,0x0,,64,1,0,none,6,tcp,44,10.0.0.2,10.0.0.15,1,22,0,S,1,,65535,,mss";
    const OTHER: &[u8] = b"Jun 27 09:02:22 h sshd[4]: Failed password for x";

    #[test]
    fn one_line_hints() {
        assert_eq!(detect(PF), Some(Format::Pf));
        assert_eq!(detect(IPT), Some(Format::Iptables));
        assert_eq!(detect(FL), Some(Format::Filterlog));
        assert_eq!(detect(OTHER), None);
        assert_eq!(detect(b""), None);
    }

    #[test]
    fn settles_then_switches_after_a_run() {
        let ctx = Ctx::new(1_700_000_000_000_000);
        let mut d = AutoDetector::new();
        assert_eq!(d.current(), None);
        assert_eq!(
            d.feed(OTHER, &ctx),
            (None, Outcome::Skipped("no parser recognised the line"))
        );
        assert_eq!(d.current(), None);
        assert!(matches!(
            d.feed(PF, &ctx),
            (Some(Format::Pf), Outcome::Event(_))
        ));
        assert_eq!(d.current(), Some(Format::Pf));
        // Unclaimed lines report the settled parser's reason.
        assert_eq!(
            d.feed(OTHER, &ctx),
            (Some(Format::Pf), Outcome::Skipped("pf: no rule label"))
        );
        // Two iptables lines are read as iptables, but the decision holds...
        for _ in 0..2 {
            assert!(matches!(
                d.feed(IPT, &ctx),
                (Some(Format::Iptables), Outcome::Event(_))
            ));
            assert_eq!(d.current(), Some(Format::Pf));
        }
        // ...until the third in a row.
        assert!(matches!(
            d.feed(IPT, &ctx),
            (Some(Format::Iptables), Outcome::Event(_))
        ));
        assert_eq!(d.current(), Some(Format::Iptables));
        // An interleaved pf line resets nothing permanent.
        assert!(matches!(
            d.feed(PF, &ctx),
            (Some(Format::Pf), Outcome::Event(_))
        ));
        assert!(matches!(
            d.feed(IPT, &ctx),
            (Some(Format::Iptables), Outcome::Event(_))
        ));
        assert!(matches!(
            d.feed(FL, &ctx),
            (Some(Format::Filterlog), Outcome::Event(_))
        ));
        assert_eq!(d.current(), Some(Format::Iptables));
    }

    #[test]
    fn unsettled_errors_are_reported() {
        let ctx = Ctx::new(1_700_000_000_000_000);
        let mut d = AutoDetector::new();
        assert_eq!(
            d.feed(b"h kernel: IN=eth0 OUT= SRC=1.2.3 DST=1.2.3.4", &ctx),
            (Some(Format::Iptables), Outcome::Error("iptables: bad SRC="))
        );
        assert_eq!(d.current(), None);
    }
}
