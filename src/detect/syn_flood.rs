//! `syn_flood`: SYNs to a destination far above its baseline with few established.
//!
//! Skeleton: not implemented yet (reports nothing).

use super::{Context, Detector, Kind, KindsOf, Obs, Sink, TickView};
use crate::event::Micros;

/// Thresholds (defaults documented in docs/detections.md).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {}

#[allow(dead_code)]
pub struct SynFlood {
    s: Settings,
}

impl SynFlood {
    pub fn new(s: Settings, _now: Micros) -> Self {
        SynFlood { s }
    }
}

impl KindsOf for SynFlood {
    const KINDS: &'static [Kind] = &[Kind::SynFlood];
}

impl Detector for SynFlood {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    fn observe(&mut self, _o: &Obs<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn tick(&mut self, _now: Micros, _view: &TickView<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn memory(&self) -> usize {
        0
    }
}
