//! The versioned C ABI between Agora and its plugins, and the macro plugin authors export with.
//!
//! # The contract (ABI version 3)
//!
//! A plugin is a `cdylib` that exports three symbols:
//!
//! | symbol | type | purpose |
//! |---|---|---|
//! | [`SYMBOL_ABI_VERSION`] | `extern "C" fn() -> u32` | the ABI the plugin was built against; this signature never changes |
//! | [`SYMBOL_DECLARATION`] | `extern "C" fn() -> *const PluginDeclaration` | name, version, kind, capabilities |
//! | [`SYMBOL_SOURCE_VTABLE`] | `extern "C" fn() -> *const SourceVTable` | the functions of a source plugin |
//! | [`model::SYMBOL_MODEL_VTABLE`] | `extern "C" fn() -> *const ModelVTable` | the functions of a model plugin, instead of the source table |
//!
//! Only `#[repr(C)]` structs, integers and byte buffers cross the boundary. A [`ByteSlice`] is
//! borrowed for the duration of one call; an [`OwnedBuffer`] is allocated by the plugin and must be
//! handed back to the plugin's `free_buffer`. Every exported function catches panics and returns a
//! status code ([`STATUS_OK`], [`STATUS_ERROR`], [`STATUS_PANIC`]); the message of the last failure
//! on the calling thread is fetched with `last_error`.
//!
//! Record batches cross as JSON Lines in the encoding named by [`BATCH_ENCODING`]: one JSON object
//! per line, either `{"offset": "<locator>", "fields": {...}}` for a parsed record or
//! `{"offset": "<locator>", "error": "<reason>", "raw": "<text as read>"}` for a record the plugin
//! could read but not parse. A plugin never drops a record silently: it reports it as an error line.
//! Checkpoints are opaque bytes owned by the plugin; the host stores them with the batch they end.
//!
//! This crate has no dependencies and does no I/O, so a plugin links nothing it does not choose.

use std::ffi::{c_char, c_void};

pub mod export;
pub mod model;
pub mod series;

/// The ABI version this crate describes. Bumped on any change to the structs or tables below.
/// Version 2 added the model table ([`model::ModelVTable`]); version 3 gave its `fit` a checkpoint
/// to resume from and a callback for the checkpoints it writes as it goes.
pub const ABI_VERSION: u32 = 3;

/// The encoding of record batches returned by `poll`.
pub const BATCH_ENCODING: &str = "agora-batch/1 (json lines)";

/// Exported symbol: `extern "C" fn() -> u32` returning [`ABI_VERSION`] of the plugin's build.
pub const SYMBOL_ABI_VERSION: &str = "agora_plugin_abi_version";
/// Exported symbol: `extern "C" fn() -> *const PluginDeclaration`.
pub const SYMBOL_DECLARATION: &str = "agora_plugin_declaration";
/// Exported symbol: `extern "C" fn() -> *const SourceVTable` (source plugins only).
pub const SYMBOL_SOURCE_VTABLE: &str = "agora_source_vtable";

/// The call succeeded.
pub const STATUS_OK: u32 = 0;
/// The call failed; `last_error` holds the message.
pub const STATUS_ERROR: u32 = 1;
/// The plugin panicked; the panic was caught at the boundary and `last_error` holds its message.
pub const STATUS_PANIC: u32 = 2;

/// `PluginDeclaration::kind` of a data-source plugin.
pub const KIND_SOURCE: u32 = 1;
/// `PluginDeclaration::kind` of a model plugin (see [`model`]).
pub const KIND_MODEL: u32 = 2;

/// A byte range borrowed from the caller for the duration of one call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ByteSlice {
    pub ptr: *const u8,
    pub len: usize,
}

impl ByteSlice {
    /// Borrows `bytes` for a call across the boundary.
    pub fn new(bytes: &[u8]) -> Self {
        Self { ptr: bytes.as_ptr(), len: bytes.len() }
    }

    /// Views the borrowed bytes.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that stay valid for the returned lifetime
    /// (or `len` must be 0).
    pub unsafe fn as_slice<'a>(&self) -> &'a [u8] {
        if self.len == 0 || self.ptr.is_null() {
            &[]
        } else {
            // SAFETY: the caller guarantees `ptr..ptr+len` is valid for reads.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }
}

/// A buffer allocated by the plugin. The host copies what it needs and hands it back to the
/// plugin's `free_buffer`; it never frees it itself.
#[repr(C)]
#[derive(Debug)]
pub struct OwnedBuffer {
    pub ptr: *mut u8,
    pub len: usize,
    pub cap: usize,
}

impl OwnedBuffer {
    /// An empty buffer that owns nothing.
    pub const fn empty() -> Self {
        Self { ptr: std::ptr::null_mut(), len: 0, cap: 0 }
    }

    /// Leaks `bytes` into a buffer; only the same build's `free_buffer` may release it.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        let mut bytes = std::mem::ManuallyDrop::new(bytes);
        Self { ptr: bytes.as_mut_ptr(), len: bytes.len(), cap: bytes.capacity() }
    }

    /// Views the buffer's bytes.
    ///
    /// # Safety
    /// The buffer must come from [`OwnedBuffer::from_vec`] (possibly across the boundary) and not
    /// have been freed yet.
    pub unsafe fn as_slice(&self) -> &[u8] {
        if self.ptr.is_null() {
            &[]
        } else {
            // SAFETY: a live buffer from `from_vec` holds `len` initialised bytes at `ptr`.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }

    /// Takes the allocation back as a `Vec`.
    ///
    /// # Safety
    /// Must be called by the side that allocated the buffer, once.
    pub unsafe fn into_vec(self) -> Vec<u8> {
        if self.ptr.is_null() {
            Vec::new()
        } else {
            // SAFETY: ptr/len/cap came from a Vec<u8> leaked by `from_vec` in this same binary.
            unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) }
        }
    }
}

/// What a plugin says about itself. All strings are static, NUL-terminated UTF-8.
#[repr(C)]
#[derive(Debug)]
pub struct PluginDeclaration {
    /// Must equal the value of the ABI-version symbol.
    pub abi_version: u32,
    /// [`KIND_SOURCE`] or [`KIND_MODEL`].
    pub kind: u32,
    /// Short unique name, used in config (`plugin = "csv"`).
    pub name: *const c_char,
    /// The plugin's own version (semver).
    pub version: *const c_char,
    /// Comma-separated capabilities, e.g. `"file,dir,glob,tail"`.
    pub capabilities: *const c_char,
    /// One line for humans.
    pub description: *const c_char,
}

// SAFETY: a declaration only holds pointers to static, immutable strings.
unsafe impl Sync for PluginDeclaration {}

/// What one `poll` returns.
#[repr(C)]
#[derive(Debug)]
pub struct PollOutput {
    /// Records in the [`BATCH_ENCODING`]; may be empty.
    pub batch: OwnedBuffer,
    /// The checkpoint that resumes right after this batch.
    pub checkpoint: OwnedBuffer,
    /// Number of lines in `batch`.
    pub records: u64,
    /// Progress through the currently known input, in a unit the plugin picks (bytes for files).
    pub progress_done: u64,
    /// Size of the currently known input, same unit; 0 when unknown.
    pub progress_total: u64,
    /// 1 when everything currently available has been read (a following source may grow later).
    pub caught_up: u32,
}

impl PollOutput {
    /// An output with nothing in it, for the plugin to fill.
    pub const fn empty() -> Self {
        Self {
            batch: OwnedBuffer::empty(),
            checkpoint: OwnedBuffer::empty(),
            records: 0,
            progress_done: 0,
            progress_total: 0,
            caught_up: 0,
        }
    }
}

/// The functions of a source plugin.
///
/// Lifecycle: `open(config, checkpoint)` → repeated `poll(handle, max_records, checkpoint)` where
/// each poll receives the checkpoint returned by the previous one (or the last committed one after
/// a restart) → `close(handle)`. A handle is used from one thread at a time.
#[repr(C)]
pub struct SourceVTable {
    /// `size_of::<SourceVTable>()` in the plugin's build, so a newer host can detect older tables.
    pub struct_size: usize,
    /// Opens the source. `config` is the plugin's `params` table as JSON; `checkpoint` is the last
    /// committed checkpoint or empty for a fresh start. Writes the handle to `out_handle`.
    pub open: unsafe extern "C" fn(config: ByteSlice, checkpoint: ByteSlice, out_handle: *mut *mut c_void) -> u32,
    /// Reads up to `max_records` records after `checkpoint` into `out`. A plugin may go past the
    /// limit only to finish the records of one source line, which share a checkpoint.
    pub poll: unsafe extern "C" fn(handle: *mut c_void, max_records: u32, checkpoint: ByteSlice, out: *mut PollOutput) -> u32,
    /// Releases the handle. Never fails.
    pub close: unsafe extern "C" fn(handle: *mut c_void),
    /// Frees a buffer this plugin allocated.
    pub free_buffer: unsafe extern "C" fn(buffer: OwnedBuffer),
    /// The message of the last failed call on this thread (UTF-8), to be freed with `free_buffer`.
    pub last_error: unsafe extern "C" fn() -> OwnedBuffer,
}

// SAFETY: the table only holds function pointers.
unsafe impl Sync for SourceVTable {}

/// What a plugin's `poll` hands back before it is encoded for the boundary.
#[derive(Debug, Default)]
pub struct PollResult {
    /// Records in the [`BATCH_ENCODING`].
    pub batch: Vec<u8>,
    /// Number of records in `batch`.
    pub records: u64,
    /// The checkpoint right after this batch.
    pub checkpoint: Vec<u8>,
    /// `(done, total)` progress through the known input.
    pub progress: (u64, u64),
    /// Everything currently available has been read.
    pub caught_up: bool,
}

/// The Rust-side trait a source plugin implements; [`export_source!`] turns it into the C ABI.
pub trait SourcePlugin: Sized + 'static {
    /// Opens the source from its JSON `params` and the last committed checkpoint (empty if none).
    ///
    /// # Errors
    /// A message naming the bad parameter or the unreadable path.
    fn open(config: &[u8], checkpoint: &[u8]) -> Result<Self, String>;

    /// Reads up to `max_records` records after `checkpoint` (more only to finish one line's records).
    ///
    /// # Errors
    /// A message saying what could not be read; malformed records are not errors but error lines.
    fn poll(&mut self, max_records: u32, checkpoint: &[u8]) -> Result<PollResult, String>;
}

/// Appends one parsed record line of the batch encoding. `fields_json` must be a JSON object.
pub fn push_record_line(batch: &mut Vec<u8>, offset: &str, fields_json: &str) {
    batch.extend_from_slice(b"{\"offset\":");
    push_json_string(batch, offset);
    batch.extend_from_slice(b",\"fields\":");
    batch.extend_from_slice(fields_json.as_bytes());
    batch.extend_from_slice(b"}\n");
}

/// Appends one error line of the batch encoding: a record that was read but could not be parsed.
pub fn push_error_line(batch: &mut Vec<u8>, offset: &str, reason: &str, raw: &str) {
    batch.extend_from_slice(b"{\"offset\":");
    push_json_string(batch, offset);
    batch.extend_from_slice(b",\"error\":");
    push_json_string(batch, reason);
    batch.extend_from_slice(b",\"raw\":");
    push_json_string(batch, raw);
    batch.extend_from_slice(b"}\n");
}

/// Appends `text` as a quoted, escaped JSON string, copying unescaped runs whole (this is on
/// every plugin's hot path).
pub fn push_json_string(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run_start = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        // Multi-byte UTF-8 sequences only hold bytes >= 0x80, which never need escaping.
        let escaped: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => &[b'\\', b'u', b'0', b'0', HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]],
            _ => continue,
        };
        out.extend_from_slice(&bytes[run_start..at]);
        out.extend_from_slice(escaped);
        run_start = at + 1;
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_escape_control_characters_and_quotes() {
        let mut batch = Vec::new();
        push_error_line(&mut batch, "a.csv@3", "invalid_utf8", "x\"y\n\u{1}");
        assert_eq!(String::from_utf8(batch).unwrap(), "{\"offset\":\"a.csv@3\",\"error\":\"invalid_utf8\",\"raw\":\"x\\\"y\\n\\u0001\"}\n");
    }

    #[test]
    fn json_strings_round_trip_through_serde_json() {
        let mut samples: Vec<String> = (0u32..0x80).map(|c| format!("a{}b", char::from_u32(c).unwrap())).collect();
        samples.extend(["", "plain", "é日本\u{1f600}\u{2028}", "\"quoted\"\\path\\", "\u{7f}\u{1f}\u{0}x"].map(String::from));
        for sample in samples {
            let mut out = Vec::new();
            push_json_string(&mut out, &sample);
            let text = String::from_utf8(out).unwrap();
            assert!(text.starts_with('"') && text.ends_with('"'));
            let inner = &text[1..text.len() - 1];
            // Decode by hand: the crate has no dependencies.
            let mut decoded = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    decoded.push(c);
                    continue;
                }
                match chars.next().unwrap() {
                    'n' => decoded.push('\n'),
                    'r' => decoded.push('\r'),
                    't' => decoded.push('\t'),
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        decoded.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                    }
                    other => decoded.push(other),
                }
            }
            assert_eq!(decoded, sample);
        }
    }

    #[test]
    fn owned_buffer_round_trips_a_vec() {
        let buffer = OwnedBuffer::from_vec(b"hello".to_vec());
        // SAFETY: the buffer was made just above by from_vec in this binary.
        assert_eq!(unsafe { buffer.as_slice() }, b"hello");
        // SAFETY: same binary, freed once.
        assert_eq!(unsafe { buffer.into_vec() }, b"hello".to_vec());
    }
}
