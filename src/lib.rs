//! socwall: live SOC video-wall daemon — table of contents.
//!
//! Data flows through bounded channels, one stage per module:
//! `tail` (files → line batches) → `parse` (lines → compact records) → `aggregate` (rolling
//! windows, top-N, feed health; one owner, no locks) → `hub` (serialise once per tick) → `web`
//! (HTTP API, WebSocket fan-out, embedded wall page).

pub mod aggregate;
pub mod cli;
pub mod event;
pub mod parse;
