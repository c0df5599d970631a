//! Shared inputs for rill's benchmarks.
//!
//! Payloads are realistic JSON sensor readings, not constant bytes: constant
//! bytes flatter compressors and make every codec look fast.

pub mod paired;
pub mod payload;
pub mod peers;
pub mod record_batch;
pub mod report;
