//! Shared key=value / CEF / LEEF engine with per-vendor field tables (FortiGate, Check Point,
//! SonicWall, WatchGuard, Sophos, Stormshield, Clavister, Barracuda, Meraki, generic CEF and LEEF).
//!
//! Not implemented yet: every line is skipped with a reason naming the format.

use crate::parse::{Ctx, Format, Outcome};

pub fn parse<'a>(format: Format, line: &'a [u8], ctx: &Ctx) -> Outcome<'a> {
    let _ = (format, line, ctx);
    Outcome::Skipped("key=value formats: not implemented yet")
}
