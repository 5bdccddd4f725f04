//! `watchlist_hit`: traffic to or from a watchlisted address.
//!
//! Skeleton: not implemented yet (reports nothing).

use super::{Context, Detector, Kind, KindsOf, Obs, Sink, TickView};
use crate::event::Micros;

/// Thresholds (defaults documented in docs/detections.md).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {}

#[allow(dead_code)]
pub struct Watchlist {
    s: Settings,
}

impl Watchlist {
    pub fn new(s: Settings, _now: Micros) -> Self {
        Watchlist { s }
    }
}

impl KindsOf for Watchlist {
    const KINDS: &'static [Kind] = &[Kind::WatchlistHit];
}

impl Detector for Watchlist {
    fn kind(&self) -> Kind {
        Self::KINDS[0]
    }

    fn observe(&mut self, _o: &Obs<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn tick(&mut self, _now: Micros, _view: &TickView<'_>, _ctx: &Context, _sink: &mut Sink) {}

    fn memory(&self) -> usize {
        0
    }
}
