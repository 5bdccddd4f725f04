//! `fixed_dns_source_port` and `unapproved_resolver`: DNS behaviour of internal hosts.
//!
//! Skeleton: not implemented yet (reports nothing).

use super::{Context, Detector, Enabled, Kind, KindsOf, Obs, Sink, TickView};
use crate::event::Micros;

/// Thresholds (defaults documented in docs/detections.md).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {}

#[allow(dead_code)]
pub struct Dns {
    s: Settings,
    enabled: Enabled,
}

impl Dns {
    pub fn new(s: Settings, enabled: Enabled, _now: Micros) -> Self {
        Dns { s, enabled }
    }
}

impl KindsOf for Dns {
    const KINDS: &'static [Kind] = &[Kind::FixedDnsSourcePort, Kind::UnapprovedResolver];
}

impl Detector for Dns {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    fn observe(&mut self, _o: &Obs<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn tick(&mut self, _now: Micros, _view: &TickView<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn memory(&self) -> usize {
        0
    }
}
