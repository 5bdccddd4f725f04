//! `port_scan`: one source reaching many hosts on one port (horizontal) or many ports on one host (vertical).
//!
//! Skeleton: not implemented yet (reports nothing).

use super::{Context, Detector, Kind, KindsOf, Obs, Sink, TickView};
use crate::event::Micros;

/// Thresholds (defaults documented in docs/detections.md).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {}

#[allow(dead_code)]
pub struct PortScan {
    s: Settings,
}

impl PortScan {
    pub fn new(s: Settings, _now: Micros) -> Self {
        PortScan { s }
    }
}

impl KindsOf for PortScan {
    const KINDS: &'static [Kind] = &[Kind::PortScan];
}

impl Detector for PortScan {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    fn observe(&mut self, _o: &Obs<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn tick(&mut self, _now: Micros, _view: &TickView<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn memory(&self) -> usize {
        0
    }
}
