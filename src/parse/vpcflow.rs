//! AWS VPC flow logs v2–v11: the default format, custom field lists (config or header line).
//!
//! Not implemented yet: every line is skipped with a reason naming the format.

use crate::parse::{Ctx, Outcome};

/// Field layout: the default v2 layout, a configured `fields = "..."`, or a file's header line.
#[derive(Debug, Clone, Default)]
pub struct State {}

pub fn parse<'a>(line: &'a [u8], ctx: &Ctx, state: &mut State) -> Outcome<'a> {
    let _ = (line, ctx, state);
    Outcome::Skipped("vpcflow: not implemented yet")
}
