//! A running instance of a source plugin: safe wrappers around open, poll and close.

use std::ffi::c_void;

use agora_plugin_api as api;

use super::{call_status, take_buffer, SourcePlugin};
use crate::error::CoreError;

/// What one poll returned, copied into host memory.
#[derive(Debug, Default)]
pub struct Polled {
    /// Records in the `agora-batch/1` encoding.
    pub batch: Vec<u8>,
    pub records: u64,
    pub checkpoint: Vec<u8>,
    pub progress_done: u64,
    pub progress_total: u64,
    pub caught_up: bool,
}

/// An open source. Used by one thread at a time; closed on drop.
pub struct SourceInstance {
    plugin: SourcePlugin,
    handle: *mut c_void,
}

// SAFETY: the ABI allows a handle to move between threads as long as one thread uses it at a
// time, which `&mut self` on `poll` guarantees.
unsafe impl Send for SourceInstance {}

impl SourceInstance {
    /// Opens the source with its JSON params and the last committed checkpoint (empty if none).
    ///
    /// # Errors
    /// [`CoreError::PluginCall`] with the plugin's message.
    pub fn open(plugin: &SourcePlugin, params_json: &[u8], checkpoint: &[u8]) -> Result<Self, CoreError> {
        let mut handle = std::ptr::null_mut();
        // SAFETY: both slices outlive the call and `handle` is a valid out slot.
        let status = unsafe { (plugin.vtable.open)(api::ByteSlice::new(params_json), api::ByteSlice::new(checkpoint), &mut handle) };
        plugin.check(status, "open")?;
        if handle.is_null() {
            return Err(plugin.call_error("open", "returned no handle".to_string()));
        }
        Ok(Self { plugin: plugin.clone(), handle })
    }

    /// Reads up to `max_records` after `checkpoint`.
    ///
    /// # Errors
    /// [`CoreError::PluginCall`] when the plugin fails or panics.
    pub fn poll(&mut self, max_records: u32, checkpoint: &[u8]) -> Result<Polled, CoreError> {
        let mut out = api::PollOutput::empty();
        // SAFETY: the handle is open and used by this thread only; `out` is writable.
        let status = unsafe { (self.plugin.vtable.poll)(self.handle, max_records, api::ByteSlice::new(checkpoint), &mut out) };
        self.plugin.check(status, "poll")?;
        let polled = Polled {
            batch: self.plugin.take_buffer(out.batch),
            checkpoint: self.plugin.take_buffer(out.checkpoint),
            records: out.records,
            progress_done: out.progress_done,
            progress_total: out.progress_total,
            caught_up: out.caught_up != 0,
        };
        Ok(polled)
    }

    /// The plugin this instance runs.
    pub fn plugin(&self) -> &SourcePlugin {
        &self.plugin
    }
}

impl Drop for SourceInstance {
    fn drop(&mut self) {
        // SAFETY: the handle came from `open` and is closed exactly once.
        unsafe { (self.plugin.vtable.close)(self.handle) };
    }
}

impl SourcePlugin {
    fn take_buffer(&self, buffer: api::OwnedBuffer) -> Vec<u8> {
        take_buffer(self.vtable.free_buffer, buffer)
    }

    fn check(&self, status: u32, call: &'static str) -> Result<(), CoreError> {
        call_status(&self.info.name, status, call, self.vtable.last_error, self.vtable.free_buffer)
    }

    fn call_error(&self, call: &'static str, message: String) -> CoreError {
        CoreError::PluginCall { plugin: self.info.name.clone(), call, message }
    }
}
