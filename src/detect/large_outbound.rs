//! `large_outbound`: internal→external bytes for a source beyond its baseline + n·σ and a floor.
//!
//! Skeleton: not implemented yet (reports nothing).

use super::{Context, Detector, Kind, KindsOf, Obs, Sink, TickView};
use crate::event::Micros;

/// Thresholds (defaults documented in docs/detections.md).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {}

#[allow(dead_code)]
pub struct LargeOutbound {
    s: Settings,
}

impl LargeOutbound {
    pub fn new(s: Settings, _now: Micros) -> Self {
        LargeOutbound { s }
    }
}

impl KindsOf for LargeOutbound {
    const KINDS: &'static [Kind] = &[Kind::LargeOutbound];
}

impl Detector for LargeOutbound {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    fn observe(&mut self, _o: &Obs<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn tick(&mut self, _now: Micros, _view: &TickView<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn memory(&self) -> usize {
        0
    }
}
