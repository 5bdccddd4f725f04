//! NetFlow v5, v9 and IPFIX export packets: templates per exporter and observation domain.
//!
//! Not implemented yet.

/// Decodes export packets; keeps the template cache.
#[derive(Debug, Default)]
pub struct Decoder {}
