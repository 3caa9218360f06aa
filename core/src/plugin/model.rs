//! Model plugins: safe wrappers around fit, load, infer and unload.

use std::ffi::c_void;
use std::sync::Arc;

use agora_plugin_api as api;
use libloading::Library;

use super::{call_status, take_buffer, PluginInfo};
use crate::error::CoreError;

/// A loaded model plugin: its declaration and function table. Cheap to clone.
#[derive(Clone)]
pub struct ModelPlugin {
    pub info: PluginInfo,
    pub(super) vtable: &'static api::model::ModelVTable,
    /// Keeps the library mapped while the table is in use.
    pub(super) _library: Arc<Library>,
}

impl std::fmt::Debug for ModelPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelPlugin").field("info", &self.info).finish()
    }
}

/// Where `fit` reports progress; passed through the C callback's context pointer.
type ProgressSink<'a> = &'a mut dyn FnMut(u64, u64);

unsafe extern "C" fn forward_progress(context: *mut c_void, done: u64, total: u64) {
    // SAFETY: `fit` passes a pointer to a live `ProgressSink` for the duration of the call.
    let sink = unsafe { &mut *context.cast::<ProgressSink<'_>>() };
    sink(done, total);
}

/// Where `fit` hands checkpoints; passed through the C callback's context pointer.
type CheckpointSink<'a> = &'a mut dyn FnMut(&[u8]);

unsafe extern "C" fn forward_checkpoint(context: *mut c_void, checkpoint: api::ByteSlice) {
    // SAFETY: `fit` passes a pointer to a live `CheckpointSink`; the plugin keeps the bytes alive
    // for the call.
    let sink = unsafe { &mut *context.cast::<CheckpointSink<'_>>() };
    sink(unsafe { checkpoint.as_slice() });
}

impl ModelPlugin {
    /// Whether the plugin lists `task` among its capabilities.
    pub fn can(&self, task: &str) -> bool {
        self.info.capabilities.iter().any(|capability| capability == task)
    }

    /// Trains `task` on `data` with JSON `params`; `progress(done, total)` is called as it goes.
    ///
    /// # Errors
    /// [`CoreError::PluginCall`] with the plugin's message.
    pub fn fit(&self, task: &str, data: &[u8], params: &[u8], progress: impl FnMut(u64, u64)) -> Result<Vec<u8>, CoreError> {
        self.fit_resuming(task, data, params, None, progress, |_| {})
    }

    /// As [`fit`](Self::fit), carrying on from `resume` (the last checkpoint an interrupted fit of
    /// the same task, data and params wrote) and handing each checkpoint the plugin writes to
    /// `checkpoint`, which must store it durably before it returns.
    ///
    /// # Errors
    /// [`CoreError::PluginCall`] with the plugin's message.
    pub fn fit_resuming(
        &self,
        task: &str,
        data: &[u8],
        params: &[u8],
        resume: Option<&[u8]>,
        mut progress: impl FnMut(u64, u64),
        mut checkpoint: impl FnMut(&[u8]),
    ) -> Result<Vec<u8>, CoreError> {
        let mut progress_sink: ProgressSink<'_> = &mut progress;
        let mut checkpoint_sink: CheckpointSink<'_> = &mut checkpoint;
        let mut out = api::OwnedBuffer::empty();
        // SAFETY: every slice outlives the call; the callback contexts point at the sinks, which
        // live until the call returns; `out` is writable.
        let status = unsafe {
            (self.vtable.fit)(
                api::ByteSlice::new(task.as_bytes()),
                api::ByteSlice::new(data),
                api::ByteSlice::new(params),
                api::ByteSlice::new(resume.unwrap_or_default()),
                Some(forward_progress),
                (&mut progress_sink as *mut ProgressSink<'_>).cast::<c_void>(),
                Some(forward_checkpoint),
                (&mut checkpoint_sink as *mut CheckpointSink<'_>).cast::<c_void>(),
                &mut out,
            )
        };
        self.check(status, "fit")?;
        Ok(self.take(out))
    }

    /// Loads a snapshot made by `fit` for `task`.
    ///
    /// # Errors
    /// [`CoreError::PluginCall`] when the plugin refuses the snapshot.
    pub fn load(&self, task: &str, snapshot: &[u8]) -> Result<LoadedModel, CoreError> {
        let mut handle = std::ptr::null_mut();
        // SAFETY: both slices outlive the call and `handle` is a valid out slot.
        let status = unsafe { (self.vtable.load)(api::ByteSlice::new(task.as_bytes()), api::ByteSlice::new(snapshot), &mut handle) };
        self.check(status, "load")?;
        if handle.is_null() {
            return Err(CoreError::PluginCall { plugin: self.info.name.clone(), call: "load", message: "returned no handle".into() });
        }
        Ok(LoadedModel { plugin: self.clone(), task: task.to_string(), handle })
    }

    fn take(&self, buffer: api::OwnedBuffer) -> Vec<u8> {
        take_buffer(self.vtable.free_buffer, buffer)
    }

    fn check(&self, status: u32, call: &'static str) -> Result<(), CoreError> {
        call_status(&self.info.name, status, call, self.vtable.last_error, self.vtable.free_buffer)
    }
}

/// A snapshot loaded into a model plugin; shareable between threads; unloaded on drop.
pub struct LoadedModel {
    plugin: ModelPlugin,
    task: String,
    handle: *mut c_void,
}

// SAFETY: the ABI requires `infer` to be callable from several threads at once on one handle,
// and the handle itself is only released in `drop`.
unsafe impl Send for LoadedModel {}
// SAFETY: as above; `infer` takes the handle as `*const`.
unsafe impl Sync for LoadedModel {}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel").field("plugin", &self.plugin.info.name).field("task", &self.task).finish()
    }
}

impl LoadedModel {
    /// The task this snapshot serves.
    pub fn task(&self) -> &str {
        &self.task
    }

    /// Answers one request.
    ///
    /// # Errors
    /// [`CoreError::PluginCall`] with the plugin's message.
    pub fn infer(&self, request: &[u8]) -> Result<Vec<u8>, CoreError> {
        let mut out = api::OwnedBuffer::empty();
        // SAFETY: the handle is live until drop; the request outlives the call; `out` is writable.
        let status = unsafe { (self.plugin.vtable.infer)(self.handle.cast_const(), api::ByteSlice::new(request), &mut out) };
        self.plugin.check(status, "infer")?;
        Ok(self.plugin.take(out))
    }
}

impl Drop for LoadedModel {
    fn drop(&mut self) {
        // SAFETY: the handle came from `load` and is released exactly once.
        unsafe { (self.plugin.vtable.unload)(self.handle) };
    }
}
