//! The parse stage: line batches from the tailer in, compact event batches out, with one format
//! detector per source. Runs as a tokio task between two bounded channels.

use tokio::sync::mpsc;

use crate::aggregate::{ErrorSample, EventBatch};
use crate::parse::detect::AutoDetector;
use crate::parse::{Ctx, FormatSpec, Outcome, State, VerdictWords, parse_line_with};
use crate::tail::LineBatch;

/// How much of a bad line the wall shows as the feed's last error.
const SAMPLE_CHARS: usize = 200;

/// One source's parser: a fixed format, or a detector that settles (and re-settles) on one.
enum SourceParser {
    Fixed(crate::parse::Format, State),
    Auto(AutoDetector),
}

/// Converts batches until the tailer side closes its channel or the aggregator side goes away.
pub async fn run(
    mut rx: mpsc::Receiver<LineBatch>,
    tx: mpsc::Sender<EventBatch>,
    formats: Vec<(FormatSpec, State)>,
    verdicts: &'static VerdictWords,
) {
    let mut parsers: Vec<SourceParser> = formats
        .into_iter()
        .map(|(f, state)| match f {
            FormatSpec::Fixed(f) => SourceParser::Fixed(f, state),
            FormatSpec::Auto => SourceParser::Auto(AutoDetector::new()),
        })
        .collect();
    while let Some(mut lines) = rx.recv().await {
        if let Some(cp) = lines.checkpoint.take() {
            // A tailer checkpoint marker: pass it on in order, right after the events of every
            // line that came before it, so the aggregator sees the same cut.
            let marker = EventBatch {
                source: lines.source,
                checkpoint: Some(cp),
                ..EventBatch::default()
            };
            if tx.send(marker).await.is_err() {
                break;
            }
            if lines.is_empty() {
                continue;
            }
        }
        let Some(parser) = parsers.get_mut(usize::from(lines.source)) else {
            tracing::error!(source = lines.source, "line batch for an unknown source");
            continue;
        };
        tracing::trace!(
            source = lines.source,
            lines = lines.len(),
            "parsing a batch"
        );
        let ctx = Ctx {
            verdicts,
            ..Ctx::now()
        };
        let batch = parse_batch(parser, &lines, &ctx);
        if tx.send(batch).await.is_err() {
            break;
        }
    }
}

fn parse_batch(parser: &mut SourceParser, lines: &LineBatch, ctx: &Ctx) -> EventBatch {
    let mut batch = EventBatch {
        source: lines.source,
        lines: lines.len() as u64,
        records: Vec::with_capacity(lines.len()),
        overlong: lines.overlong,
        ..EventBatch::default()
    };
    // Remember only where the last error was; its sample string is built once per batch, not per
    // bad line (a feed of garbage must not cost an allocation per line).
    let mut last_error: Option<(&'static str, &[u8])> = None;
    for line in lines.lines() {
        let outcome = match parser {
            SourceParser::Fixed(f, state) => parse_line_with(*f, line, ctx, state),
            SourceParser::Auto(d) => d.feed(line, ctx).1,
        };
        match outcome {
            Outcome::Event(e) => batch.records.push(e.record()),
            Outcome::Skipped(_) => batch.skipped += 1,
            Outcome::Error(reason) => {
                batch.parse_errors += 1;
                last_error = Some((reason, line));
            }
        }
    }
    batch.format = match parser {
        SourceParser::Fixed(f, _) => Some(*f),
        SourceParser::Auto(d) => d.current(),
    };
    batch.last_error = last_error.map(|(reason, line)| ErrorSample {
        reason,
        line: String::from_utf8_lossy(line)
            .chars()
            .take(SAMPLE_CHARS)
            .collect(),
    });
    batch
}
