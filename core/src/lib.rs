//! agora-core: Agora's domain types, configuration, cleaning rules, data-quality bookkeeping,
//! sled storage and plugin host. No actors, no HTTP, no libtorch: everything here is plain,
//! synchronous and usable from any thread.

pub mod clean;
pub mod config;
pub mod error;
pub mod eval;
pub mod identity;
pub mod plugin;
pub mod quality;
pub mod record;
pub mod store;

pub use error::CoreError;

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|elapsed| elapsed.as_millis() as i64).unwrap_or_default()
}
