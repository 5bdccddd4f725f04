//! `volume_spike`: total or per-zone events/bytes per minute beyond baseline (EWMA + time-of-day profile).
//!
//! Skeleton: not implemented yet (reports nothing).

use super::{Context, Detector, Kind, KindsOf, Obs, Sink, TickView};
use crate::event::Micros;

/// Thresholds (defaults documented in docs/detections.md).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {}

#[allow(dead_code)]
pub struct VolumeSpike {
    s: Settings,
}

impl VolumeSpike {
    pub fn new(s: Settings, _now: Micros) -> Self {
        VolumeSpike { s }
    }
}

impl KindsOf for VolumeSpike {
    const KINDS: &'static [Kind] = &[Kind::VolumeSpike];
}

impl Detector for VolumeSpike {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    fn observe(&mut self, _o: &Obs<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn tick(&mut self, _now: Micros, _view: &TickView<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn memory(&self) -> usize {
        0
    }
}
