//! `feed_silence` and `parse_errors`: sources that went quiet, or whose parse-error share jumped.
//!
//! Skeleton: not implemented yet (reports nothing).

use super::{Context, Detector, Enabled, Kind, KindsOf, Obs, Sink, TickView};
use crate::event::Micros;

/// Thresholds (defaults documented in docs/detections.md).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {}

#[allow(dead_code)]
pub struct Feeds {
    s: Settings,
    enabled: Enabled,
}

impl Feeds {
    pub fn new(s: Settings, enabled: Enabled, _now: Micros) -> Self {
        Feeds { s, enabled }
    }
}

impl KindsOf for Feeds {
    const KINDS: &'static [Kind] = &[Kind::FeedSilence, Kind::ParseErrors];
}

impl Detector for Feeds {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    fn observe(&mut self, _o: &Obs<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn tick(&mut self, _now: Micros, _view: &TickView<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn memory(&self) -> usize {
        0
    }
}
