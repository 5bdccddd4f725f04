//! `beaconing`: src→dst pairs with regular intervals and small steady sizes.
//!
//! Skeleton: not implemented yet (reports nothing).

use super::{Context, Detector, Kind, KindsOf, Obs, Sink, TickView};
use crate::event::Micros;

/// Thresholds (defaults documented in docs/detections.md).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {}

#[allow(dead_code)]
pub struct Beaconing {
    s: Settings,
}

impl Beaconing {
    pub fn new(s: Settings, _now: Micros) -> Self {
        Beaconing { s }
    }
}

impl KindsOf for Beaconing {
    const KINDS: &'static [Kind] = &[Kind::Beaconing];
}

impl Detector for Beaconing {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    fn observe(&mut self, _o: &Obs<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn tick(&mut self, _now: Micros, _view: &TickView<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn memory(&self) -> usize {
        0
    }
}
