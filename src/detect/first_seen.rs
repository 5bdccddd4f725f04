//! `first_seen_host` and `first_seen_service`: internal addresses and served ports never seen before in retained history.
//!
//! Skeleton: not implemented yet (reports nothing).

use super::{Context, Detector, Enabled, Kind, KindsOf, Obs, Sink, TickView};
use crate::event::Micros;

/// Thresholds (defaults documented in docs/detections.md).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {}

#[allow(dead_code)]
pub struct FirstSeen {
    s: Settings,
    enabled: Enabled,
}

impl FirstSeen {
    pub fn new(s: Settings, enabled: Enabled, _now: Micros) -> Self {
        FirstSeen { s, enabled }
    }
}

impl KindsOf for FirstSeen {
    const KINDS: &'static [Kind] = &[Kind::FirstSeenHost, Kind::FirstSeenService];
}

impl Detector for FirstSeen {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    fn observe(&mut self, _o: &Obs<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn tick(&mut self, _now: Micros, _view: &TickView<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn memory(&self) -> usize {
        0
    }
}
