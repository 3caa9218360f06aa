//! agora-core: Agora's domain types, configuration, cleaning rules, data-quality bookkeeping,
//! sled storage and plugin host. No actors, no HTTP, no libtorch: everything here is plain,
//! synchronous and usable from any thread.

pub mod clean;
pub mod config;
pub mod error;
pub mod eval;
pub mod plugin;
pub mod quality;
pub mod record;
pub mod store;

pub use error::CoreError;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|elapsed| elapsed.as_millis() as i64).unwrap_or_default()
}
