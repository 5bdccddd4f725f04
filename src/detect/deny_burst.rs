//! `deny_burst`: a source's denied events per minute far above its own baseline and a floor.
//!
//! Skeleton: not implemented yet (reports nothing).

use super::{Context, Detector, Kind, KindsOf, Obs, Sink, TickView};
use crate::event::Micros;

/// Thresholds (defaults documented in docs/detections.md).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {}

#[allow(dead_code)]
pub struct DenyBurst {
    s: Settings,
}

impl DenyBurst {
    pub fn new(s: Settings, _now: Micros) -> Self {
        DenyBurst { s }
    }
}

impl KindsOf for DenyBurst {
    const KINDS: &'static [Kind] = &[Kind::DenyBurst];
}

impl Detector for DenyBurst {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    fn observe(&mut self, _o: &Obs<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn tick(&mut self, _now: Micros, _view: &TickView<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn memory(&self) -> usize {
        0
    }
}
