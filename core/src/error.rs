//! The one error type of agora-core.

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The configuration is invalid; the message names each bad key.
    #[error("invalid config:\n{0}")]
    Config(String),
    /// The storage engine failed.
    #[error("store error: {0}")]
    Store(#[from] sled::Error),
    /// A stored value could not be decoded (corrupt, or written by a newer version).
    #[error("decode error: {0}")]
    Decode(String),
    /// A plugin could not be loaded (not a plugin, wrong ABI, outside the plugin directories).
    #[error("plugin {path}: {message}")]
    PluginLoad { path: String, message: String },
    /// A loaded plugin returned an error or panicked during a call.
    #[error("plugin {plugin} failed in {call}: {message}")]
    PluginCall { plugin: String, call: &'static str, message: String },
    /// An I/O error outside the store.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
