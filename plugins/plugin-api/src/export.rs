//! The `export_source!` and `export_model!` macros and the panic-catching shims they expand to.

use std::cell::RefCell;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::model::{CheckpointFn, ModelPlugin, ProgressFn, Training};
use crate::{ByteSlice, OwnedBuffer, PollOutput, SourcePlugin, STATUS_ERROR, STATUS_OK, STATUS_PANIC};

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(message: String) {
    LAST_ERROR.with(|slot| *slot.borrow_mut() = message);
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        format!("plugin panicked: {text}")
    } else if let Some(text) = payload.downcast_ref::<String>() {
        format!("plugin panicked: {text}")
    } else {
        "plugin panicked".to_string()
    }
}

/// Runs `body` and turns its result or panic into a status code, storing any message.
fn guarded(body: impl FnOnce() -> Result<(), String>) -> u32 {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => STATUS_OK,
        Ok(Err(message)) => {
            set_last_error(message);
            STATUS_ERROR
        }
        Err(payload) => {
            set_last_error(panic_message(payload.as_ref()));
            STATUS_PANIC
        }
    }
}

/// Shim behind the exported `open`.
///
/// # Safety
/// The host passes valid slices and a writable `out_handle`, as the ABI requires.
pub unsafe fn open<P: SourcePlugin>(config: ByteSlice, checkpoint: ByteSlice, out_handle: *mut *mut c_void) -> u32 {
    guarded(|| {
        if out_handle.is_null() {
            return Err("open called with a null out_handle".to_string());
        }
        // SAFETY: the host keeps both slices alive for this call.
        let (config, checkpoint) = unsafe { (config.as_slice(), checkpoint.as_slice()) };
        let plugin = P::open(config, checkpoint)?;
        let handle = Box::into_raw(Box::new(plugin)).cast::<c_void>();
        // SAFETY: checked non-null above; the host owns the slot.
        unsafe { *out_handle = handle };
        Ok(())
    })
}

/// Shim behind the exported `poll`.
///
/// # Safety
/// `handle` comes from this plugin's `open` and is not closed; `out` is writable.
pub unsafe fn poll<P: SourcePlugin>(handle: *mut c_void, max_records: u32, checkpoint: ByteSlice, out: *mut PollOutput) -> u32 {
    guarded(|| {
        if handle.is_null() || out.is_null() {
            return Err("poll called with a null handle or output".to_string());
        }
        // SAFETY: the handle is a live Box<P> from `open`, used by one thread at a time.
        let plugin = unsafe { &mut *handle.cast::<P>() };
        // SAFETY: the host keeps the checkpoint alive for this call.
        let result = plugin.poll(max_records, unsafe { checkpoint.as_slice() })?;
        let output = PollOutput {
            batch: OwnedBuffer::from_vec(result.batch),
            checkpoint: OwnedBuffer::from_vec(result.checkpoint),
            records: result.records,
            progress_done: result.progress.0,
            progress_total: result.progress.1,
            caught_up: u32::from(result.caught_up),
        };
        // SAFETY: `out` is non-null and writable per the ABI.
        unsafe { out.write(output) };
        Ok(())
    })
}

/// Shim behind the exported `close`.
///
/// # Safety
/// `handle` comes from this plugin's `open` and is closed once.
pub unsafe fn close<P: SourcePlugin>(handle: *mut c_void) {
    if handle.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the handle is the Box<P> leaked by `open`, released exactly once here.
        drop(unsafe { Box::from_raw(handle.cast::<P>()) });
    }));
}

fn utf8_arg<'a>(name: &str, bytes: &'a [u8]) -> Result<&'a str, String> {
    std::str::from_utf8(bytes).map_err(|_| format!("{name} is not UTF-8"))
}

/// Shim behind the exported model `fit`.
///
/// # Safety
/// The host passes valid slices, a callback valid with its context, and a writable output.
#[allow(clippy::too_many_arguments)]
pub unsafe fn model_fit<M: ModelPlugin>(
    task: ByteSlice,
    data: ByteSlice,
    params: ByteSlice,
    resume: ByteSlice,
    progress: Option<ProgressFn>,
    progress_context: *mut c_void,
    checkpoint: Option<CheckpointFn>,
    checkpoint_context: *mut c_void,
    out_snapshot: *mut OwnedBuffer,
) -> u32 {
    guarded(|| {
        if out_snapshot.is_null() {
            return Err("fit called with a null output".to_string());
        }
        // SAFETY: the host keeps the slices alive for this call.
        let (task, data, params, resume) = unsafe { (task.as_slice(), data.as_slice(), params.as_slice(), resume.as_slice()) };
        let mut report = |done: u64, total: u64| {
            if let Some(callback) = progress {
                // SAFETY: the host guarantees the callback and its context are valid for this call.
                unsafe { callback(progress_context, done, total) };
            }
        };
        let mut keep = |bytes: &[u8]| {
            if let Some(callback) = checkpoint {
                // SAFETY: as for `progress`; the bytes outlive the call.
                unsafe { callback(checkpoint_context, ByteSlice::new(bytes)) };
            }
        };
        let training = Training { resume: (!resume.is_empty()).then_some(resume), progress: &mut report, checkpoint: &mut keep };
        let snapshot = M::fit_resuming(utf8_arg("task", task)?, data, params, training)?;
        // SAFETY: checked non-null; the host owns the slot.
        unsafe { out_snapshot.write(OwnedBuffer::from_vec(snapshot)) };
        Ok(())
    })
}

/// Shim behind the exported model `load`.
///
/// # Safety
/// The host passes valid slices and a writable `out_handle`.
pub unsafe fn model_load<M: ModelPlugin>(task: ByteSlice, snapshot: ByteSlice, out_handle: *mut *mut c_void) -> u32 {
    guarded(|| {
        if out_handle.is_null() {
            return Err("load called with a null out_handle".to_string());
        }
        // SAFETY: the host keeps the slices alive for this call.
        let (task, snapshot) = unsafe { (task.as_slice(), snapshot.as_slice()) };
        let model = M::load(utf8_arg("task", task)?, snapshot)?;
        // SAFETY: checked non-null; the host owns the slot.
        unsafe { *out_handle = Box::into_raw(Box::new(model)).cast::<c_void>() };
        Ok(())
    })
}

/// Shim behind the exported model `infer`.
///
/// # Safety
/// `handle` comes from this plugin's `load` and is not unloaded; `out_response` is writable.
pub unsafe fn model_infer<M: ModelPlugin>(handle: *const c_void, request: ByteSlice, out_response: *mut OwnedBuffer) -> u32 {
    guarded(|| {
        if handle.is_null() || out_response.is_null() {
            return Err("infer called with a null handle or output".to_string());
        }
        // SAFETY: a live Box<M> from `load`; M is Sync, so shared use from several threads is sound.
        let model = unsafe { &*handle.cast::<M>() };
        // SAFETY: the host keeps the request alive for this call.
        let response = model.infer(unsafe { request.as_slice() })?;
        // SAFETY: checked non-null; the host owns the slot.
        unsafe { out_response.write(OwnedBuffer::from_vec(response)) };
        Ok(())
    })
}

/// Shim behind the exported model `unload`.
///
/// # Safety
/// `handle` comes from this plugin's `load` and is released once.
pub unsafe fn model_unload<M: ModelPlugin>(handle: *mut c_void) {
    if handle.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the Box<M> leaked by `load`, released exactly once here.
        drop(unsafe { Box::from_raw(handle.cast::<M>()) });
    }));
}

/// Shim behind the exported `free_buffer`.
///
/// # Safety
/// The buffer was allocated by this plugin and is freed once.
pub unsafe fn free_buffer(buffer: OwnedBuffer) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: allocated by `OwnedBuffer::from_vec` in this same binary.
        drop(unsafe { buffer.into_vec() });
    }));
}

/// Shim behind the exported `last_error`.
pub fn last_error() -> OwnedBuffer {
    OwnedBuffer::from_vec(LAST_ERROR.with(|slot| slot.borrow().clone()).into_bytes())
}

/// The ABI-version and declaration symbols every plugin exports (used by the export macros).
#[doc(hidden)]
#[macro_export]
macro_rules! __export_declaration {
    ($kind:expr, $name:expr, $version:expr, $capabilities:expr, $description:expr) => {
        #[no_mangle]
        pub extern "C" fn agora_plugin_abi_version() -> u32 {
            $crate::ABI_VERSION
        }

        #[no_mangle]
        pub extern "C" fn agora_plugin_declaration() -> *const $crate::PluginDeclaration {
            static DECLARATION: $crate::PluginDeclaration = $crate::PluginDeclaration {
                abi_version: $crate::ABI_VERSION,
                kind: $kind,
                name: concat!($name, "\0").as_ptr().cast(),
                version: concat!($version, "\0").as_ptr().cast(),
                capabilities: concat!($capabilities, "\0").as_ptr().cast(),
                description: concat!($description, "\0").as_ptr().cast(),
            };
            &DECLARATION
        }
    };
}

/// Exports a [`SourcePlugin`] implementation as an Agora source plugin.
///
/// ```ignore
/// agora_plugin_api::export_source! {
///     plugin: MySource,
///     name: "my-source",
///     version: env!("CARGO_PKG_VERSION"),
///     capabilities: "file,tail",
///     description: "reads my format",
/// }
/// ```
#[macro_export]
macro_rules! export_source {
    (
        plugin: $plugin:ty,
        name: $name:expr,
        version: $version:expr,
        capabilities: $capabilities:expr,
        description: $description:expr $(,)?
    ) => {
        $crate::__export_declaration!($crate::KIND_SOURCE, $name, $version, $capabilities, $description);

        #[no_mangle]
        pub extern "C" fn agora_source_vtable() -> *const $crate::SourceVTable {
            unsafe extern "C" fn open(
                config: $crate::ByteSlice,
                checkpoint: $crate::ByteSlice,
                out_handle: *mut *mut ::std::ffi::c_void,
            ) -> u32 {
                // SAFETY: forwarded unchanged from the host, which upholds the ABI.
                unsafe { $crate::export::open::<$plugin>(config, checkpoint, out_handle) }
            }
            unsafe extern "C" fn poll(
                handle: *mut ::std::ffi::c_void,
                max_records: u32,
                checkpoint: $crate::ByteSlice,
                out: *mut $crate::PollOutput,
            ) -> u32 {
                // SAFETY: forwarded unchanged from the host, which upholds the ABI.
                unsafe { $crate::export::poll::<$plugin>(handle, max_records, checkpoint, out) }
            }
            unsafe extern "C" fn close(handle: *mut ::std::ffi::c_void) {
                // SAFETY: forwarded unchanged from the host, which upholds the ABI.
                unsafe { $crate::export::close::<$plugin>(handle) }
            }
            unsafe extern "C" fn free_buffer(buffer: $crate::OwnedBuffer) {
                // SAFETY: forwarded unchanged from the host, which upholds the ABI.
                unsafe { $crate::export::free_buffer(buffer) }
            }
            unsafe extern "C" fn last_error() -> $crate::OwnedBuffer {
                $crate::export::last_error()
            }
            static VTABLE: $crate::SourceVTable = $crate::SourceVTable {
                struct_size: ::std::mem::size_of::<$crate::SourceVTable>(),
                open,
                poll,
                close,
                free_buffer,
                last_error,
            };
            &VTABLE
        }
    };
}

/// Exports a [`ModelPlugin`] implementation as an Agora model plugin; `tasks` become the
/// declaration's capabilities.
///
/// ```ignore
/// agora_plugin_api::export_model! {
///     plugin: MyModels,
///     name: "my-models",
///     version: env!("CARGO_PKG_VERSION"),
///     tasks: "rec.ease,rec.itemknn",
///     description: "linear recommenders",
/// }
/// ```
#[macro_export]
macro_rules! export_model {
    (
        plugin: $plugin:ty,
        name: $name:expr,
        version: $version:expr,
        tasks: $tasks:expr,
        description: $description:expr $(,)?
    ) => {
        $crate::__export_declaration!($crate::KIND_MODEL, $name, $version, $tasks, $description);

        #[no_mangle]
        pub extern "C" fn agora_model_vtable() -> *const $crate::model::ModelVTable {
            #[allow(clippy::too_many_arguments)]
            unsafe extern "C" fn fit(
                task: $crate::ByteSlice,
                data: $crate::ByteSlice,
                params: $crate::ByteSlice,
                resume: $crate::ByteSlice,
                progress: ::std::option::Option<$crate::model::ProgressFn>,
                progress_context: *mut ::std::ffi::c_void,
                checkpoint: ::std::option::Option<$crate::model::CheckpointFn>,
                checkpoint_context: *mut ::std::ffi::c_void,
                out_snapshot: *mut $crate::OwnedBuffer,
            ) -> u32 {
                // SAFETY: forwarded unchanged from the host, which upholds the ABI.
                unsafe {
                    $crate::export::model_fit::<$plugin>(
                        task,
                        data,
                        params,
                        resume,
                        progress,
                        progress_context,
                        checkpoint,
                        checkpoint_context,
                        out_snapshot,
                    )
                }
            }
            unsafe extern "C" fn load(
                task: $crate::ByteSlice,
                snapshot: $crate::ByteSlice,
                out_handle: *mut *mut ::std::ffi::c_void,
            ) -> u32 {
                // SAFETY: forwarded unchanged from the host, which upholds the ABI.
                unsafe { $crate::export::model_load::<$plugin>(task, snapshot, out_handle) }
            }
            unsafe extern "C" fn infer(
                handle: *const ::std::ffi::c_void,
                request: $crate::ByteSlice,
                out_response: *mut $crate::OwnedBuffer,
            ) -> u32 {
                // SAFETY: forwarded unchanged from the host, which upholds the ABI.
                unsafe { $crate::export::model_infer::<$plugin>(handle, request, out_response) }
            }
            unsafe extern "C" fn unload(handle: *mut ::std::ffi::c_void) {
                // SAFETY: forwarded unchanged from the host, which upholds the ABI.
                unsafe { $crate::export::model_unload::<$plugin>(handle) }
            }
            unsafe extern "C" fn free_buffer(buffer: $crate::OwnedBuffer) {
                // SAFETY: forwarded unchanged from the host, which upholds the ABI.
                unsafe { $crate::export::free_buffer(buffer) }
            }
            unsafe extern "C" fn last_error() -> $crate::OwnedBuffer {
                $crate::export::last_error()
            }
            static VTABLE: $crate::model::ModelVTable = $crate::model::ModelVTable {
                struct_size: ::std::mem::size_of::<$crate::model::ModelVTable>(),
                fit,
                load,
                infer,
                unload,
                free_buffer,
                last_error,
            };
            &VTABLE
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PollResult;

    struct Panicky;

    impl SourcePlugin for Panicky {
        fn open(config: &[u8], _checkpoint: &[u8]) -> Result<Self, String> {
            if config == b"bad" {
                return Err("bad config".into());
            }
            Ok(Panicky)
        }
        fn poll(&mut self, _max: u32, _checkpoint: &[u8]) -> Result<PollResult, String> {
            panic!("boom")
        }
    }

    fn last_error_text() -> String {
        // SAFETY: allocated by this binary's last_error.
        String::from_utf8(unsafe { last_error().into_vec() }).unwrap()
    }

    #[test]
    fn errors_and_panics_become_status_codes_with_messages() {
        let mut handle = std::ptr::null_mut();
        // SAFETY: valid slices and out pointer.
        let status = unsafe { open::<Panicky>(ByteSlice::new(b"bad"), ByteSlice::new(b""), &mut handle) };
        assert_eq!(status, STATUS_ERROR);
        assert_eq!(last_error_text(), "bad config");

        // SAFETY: valid slices and out pointer.
        let status = unsafe { open::<Panicky>(ByteSlice::new(b"{}"), ByteSlice::new(b""), &mut handle) };
        assert_eq!(status, STATUS_OK);
        let mut out = PollOutput::empty();
        // SAFETY: handle from open above; out is writable.
        let status = unsafe { poll::<Panicky>(handle, 10, ByteSlice::new(b""), &mut out) };
        assert_eq!(status, STATUS_PANIC);
        assert_eq!(last_error_text(), "plugin panicked: boom");
        // SAFETY: handle from open, closed once.
        unsafe { close::<Panicky>(handle) };
    }
}
