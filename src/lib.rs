//! socwall: live SOC video-wall daemon — table of contents.
//!
//! Data flows through bounded channels, one stage per module:
//! [`tail`] (files → line batches, on its own thread) → [`parse`] (lines → compact records) →
//! [`aggregate`] (rolling windows, top-N, feed health; one owner, no locks, which also owns the
//! [`detect`] engine's anomalies) → [`hub`] (serialise
//! once per tick) → [`web`] (HTTP API, WebSocket fan-out, the embedded wall page).
//! [`daemon`] wires them; [`shutdown`] stops them in order; [`state`] saves and restores what
//! must survive a restart (file positions with the counts that go with them). [`replay`] drives
//! the same parse → aggregate → detect path on event time from old logs; [`scenario`] generates
//! labelled logs for it.

pub mod aggregate;
pub mod bench;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod dashboard;
pub mod demo;
pub mod detect;
pub mod event;
pub mod hub;
pub mod listen;
pub mod load;
pub mod parse;
pub mod replay;
pub mod scenario;
pub mod shutdown;
pub mod state;
pub mod tail;
pub mod time;
pub mod web;

pub use daemon::{RunError, run};
