//! The plugin host: finds plugin libraries in the configured directories, checks their ABI and
//! declaration, and keeps every loaded library alive for the life of the process.

mod model;
mod source;

use std::collections::BTreeMap;
use std::ffi::{c_char, CStr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use agora_plugin_api as api;
use libloading::Library;
use serde::Serialize;

pub use model::{LoadedModel, ModelPlugin};
pub use source::SourceInstance;

use crate::error::CoreError;

/// What a plugin declares about itself, plus where it was loaded from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    /// `source` or `model`.
    pub kind: String,
    pub capabilities: Vec<String>,
    pub description: String,
    pub file: PathBuf,
}

/// A loaded source plugin: its declaration and function table. Cheap to clone.
#[derive(Clone)]
pub struct SourcePlugin {
    pub info: PluginInfo,
    vtable: &'static api::SourceVTable,
    /// Keeps the library mapped while the table is in use.
    _library: Arc<Library>,
}

impl std::fmt::Debug for SourcePlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourcePlugin").field("info", &self.info).finish()
    }
}

/// Loads plugins from configured directories only; never unloads a library.
pub struct PluginHost {
    dirs: Vec<PathBuf>,
    /// Every library loaded so far, by canonical path: never dropped, so a reload maps a copy.
    loaded: Mutex<BTreeMap<PathBuf, (Arc<Library>, PluginInfo)>>,
    /// Libraries replaced by a reload: kept mapped, since code may still run from them.
    retired: Mutex<Vec<Arc<Library>>>,
}

/// The platform's file name ending for shared libraries.
pub const LIBRARY_EXTENSION: &str = std::env::consts::DLL_EXTENSION;

impl PluginHost {
    /// A host that loads from `dirs` (directories that do not exist are skipped when listing).
    pub fn new(dirs: Vec<PathBuf>) -> Self {
        Self { dirs, loaded: Mutex::new(BTreeMap::new()), retired: Mutex::new(Vec::new()) }
    }

    /// Every file in the plugin directories that looks like a shared library, sorted.
    pub fn candidate_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for dir in &self.dirs {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            files.extend(
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.path())
                    .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == LIBRARY_EXTENSION)),
            );
        }
        files.sort();
        files
    }

    /// Loads every plugin found; files that are not plugins are reported, not fatal.
    pub fn discover(&self) -> (Vec<PluginInfo>, Vec<CoreError>) {
        let mut infos = Vec::new();
        let mut errors = Vec::new();
        let mut seen = BTreeMap::new();
        for file in self.candidate_files() {
            match self.load_info(&file) {
                Ok(info) => {
                    // The same plugin may be built into several directories; the first wins.
                    if seen.insert(info.name.clone(), ()).is_none() {
                        infos.push(info);
                    }
                }
                Err(err) => errors.push(err),
            }
        }
        (infos, errors)
    }

    /// Finds and loads the source plugin called `name`.
    ///
    /// # Errors
    /// [`CoreError::PluginLoad`] listing the plugins that were found when none has that name.
    pub fn source(&self, name: &str) -> Result<SourcePlugin, CoreError> {
        let (infos, _) = self.discover();
        let Some(info) = infos.iter().find(|info| info.name == name) else {
            let found: Vec<String> = infos.iter().map(|info| format!("{} ({})", info.name, info.kind)).collect();
            return Err(CoreError::PluginLoad {
                path: name.to_string(),
                message: format!(
                    "no plugin named {name:?} in {:?}; found: {}",
                    self.dirs,
                    if found.is_empty() { "none".to_string() } else { found.join(", ") }
                ),
            });
        };
        self.load_source(&info.file)
    }

    /// Loads the source plugin in `file`, which must lie inside a plugin directory.
    ///
    /// # Errors
    /// [`CoreError::PluginLoad`]: outside the directories, not a plugin, ABI mismatch, not a source.
    pub fn load_source(&self, file: &Path) -> Result<SourcePlugin, CoreError> {
        let info = self.load_info(file)?;
        let library = self.library(file)?;
        if info.kind != "source" {
            return Err(load_error(file, format!("is a {} plugin, not a source plugin", info.kind)));
        }
        // SAFETY: the symbol's type is fixed by the ABI version which `load_info` verified.
        let vtable_fn = unsafe { library.get::<unsafe extern "C" fn() -> *const api::SourceVTable>(api::SYMBOL_SOURCE_VTABLE.as_bytes()) }
            .map_err(|err| load_error(file, format!("missing symbol {}: {err}", api::SYMBOL_SOURCE_VTABLE)))?;
        // SAFETY: the plugin returns a pointer to a static table that lives as long as the library,
        // which `_library` below keeps loaded forever (the host never unloads).
        let vtable: &'static api::SourceVTable = unsafe {
            let pointer = vtable_fn();
            if pointer.is_null() {
                return Err(load_error(file, "source vtable is null"));
            }
            &*pointer
        };
        if vtable.struct_size != std::mem::size_of::<api::SourceVTable>() {
            return Err(load_error(
                file,
                format!(
                    "source table has {} bytes, this host expects {}: rebuild the plugin against agora-plugin-api {}",
                    vtable.struct_size,
                    std::mem::size_of::<api::SourceVTable>(),
                    api::ABI_VERSION
                ),
            ));
        }
        Ok(SourcePlugin { info, vtable, _library: library })
    }

    /// Finds and loads the model plugin called `name`.
    ///
    /// # Errors
    /// As [`PluginHost::source`].
    pub fn model(&self, name: &str) -> Result<ModelPlugin, CoreError> {
        let (infos, _) = self.discover();
        let Some(info) = infos.iter().find(|info| info.name == name && info.kind == "model") else {
            let found: Vec<String> = infos.iter().filter(|info| info.kind == "model").map(|info| info.name.clone()).collect();
            return Err(CoreError::PluginLoad {
                path: name.to_string(),
                message: format!("no model plugin named {name:?} in {:?}; model plugins found: {}", self.dirs, found.join(", ")),
            });
        };
        self.load_model(&info.file)
    }

    /// Loads the model plugin in `file`, which must lie inside a plugin directory.
    ///
    /// # Errors
    /// [`CoreError::PluginLoad`]: outside the directories, not a plugin, ABI mismatch, not a model.
    pub fn load_model(&self, file: &Path) -> Result<ModelPlugin, CoreError> {
        let info = self.load_info(file)?;
        let library = self.library(file)?;
        if info.kind != "model" {
            return Err(load_error(file, format!("is a {} plugin, not a model plugin", info.kind)));
        }
        // SAFETY: the symbol's type is fixed by the ABI version which `load_info` verified.
        let vtable_fn =
            unsafe { library.get::<unsafe extern "C" fn() -> *const api::model::ModelVTable>(api::model::SYMBOL_MODEL_VTABLE.as_bytes()) }
                .map_err(|err| load_error(file, format!("missing symbol {}: {err}", api::model::SYMBOL_MODEL_VTABLE)))?;
        // SAFETY: a pointer to a static table in the library, which the host never unloads.
        let vtable: &'static api::model::ModelVTable = unsafe {
            let pointer = vtable_fn();
            if pointer.is_null() {
                return Err(load_error(file, "model vtable is null"));
            }
            &*pointer
        };
        if vtable.struct_size != std::mem::size_of::<api::model::ModelVTable>() {
            return Err(load_error(
                file,
                format!(
                    "model table has {} bytes, this host expects {}",
                    vtable.struct_size,
                    std::mem::size_of::<api::model::ModelVTable>()
                ),
            ));
        }
        Ok(ModelPlugin { info, vtable, _library: library })
    }

    /// Every plugin loaded so far, by file.
    pub fn loaded(&self) -> Vec<PluginInfo> {
        self.loaded.lock().expect("plugin registry lock poisoned").values().map(|(_, info)| info.clone()).collect()
    }

    /// Loads the plugin in `file` (once; later calls return what was loaded) and returns its
    /// declaration.
    ///
    /// # Errors
    /// [`CoreError::PluginLoad`]: outside the directories, not a plugin, ABI mismatch.
    pub fn load(&self, file: &Path) -> Result<PluginInfo, CoreError> {
        self.load_info(file)
    }

    /// Loads `file` afresh (after it was rebuilt): the library is copied to a new temporary
    /// file, because the dynamic loader hands back the mapped library for a path it has already
    /// loaded. Later `source`/`model` calls get the new code; running instances keep the old
    /// library, which is never unloaded.
    ///
    /// # Errors
    /// As [`PluginHost::load`], or the copy fails.
    pub fn reload(&self, file: &Path) -> Result<PluginInfo, CoreError> {
        let canonical = self.check_inside_dirs(file)?;
        let copies = std::env::temp_dir().join("agora-plugin-reloads");
        std::fs::create_dir_all(&copies).map_err(|err| load_error(file, format!("cannot create {}: {err}", copies.display())))?;
        let stem = canonical.file_stem().map_or_else(|| "plugin".into(), |stem| stem.to_string_lossy().into_owned());
        let copy = copies.join(format!("{stem}-{}.{LIBRARY_EXTENSION}", uuid::Uuid::new_v4().simple()));
        std::fs::copy(&canonical, &copy).map_err(|err| load_error(file, format!("cannot copy to {}: {err}", copy.display())))?;
        // SAFETY: as in `load_info`; the copy is of a file inside a configured directory.
        let library = unsafe { Library::new(&copy) };
        let _ = std::fs::remove_file(&copy); // the mapping outlives the file
        let library = library.map_err(|err| load_error(file, format!("not a loadable library: {err}")))?;
        let info = read_declaration(&library, file, &canonical)?;
        let mut loaded = self.loaded.lock().expect("plugin registry lock poisoned");
        if let Some((old, _)) = loaded.insert(canonical, (Arc::new(library), info.clone())) {
            self.retired.lock().expect("plugin registry lock poisoned").push(old);
        }
        Ok(info)
    }

    /// Loads the library at `file` (once) and reads its declaration.
    fn load_info(&self, file: &Path) -> Result<PluginInfo, CoreError> {
        let canonical = self.check_inside_dirs(file)?;
        if let Some((_, info)) = self.loaded.lock().expect("plugin registry lock poisoned").get(&canonical) {
            return Ok(info.clone());
        }
        // SAFETY: loading a library runs its initialisers. Only files inside the directories the
        // operator configured are loaded, which is the trust boundary Agora documents.
        let library = unsafe { Library::new(&canonical) }.map_err(|err| load_error(file, format!("not a loadable library: {err}")))?;
        let info = read_declaration(&library, file, &canonical)?;
        self.loaded.lock().expect("plugin registry lock poisoned").insert(canonical, (Arc::new(library), info.clone()));
        Ok(info)
    }

    fn library(&self, file: &Path) -> Result<Arc<Library>, CoreError> {
        let canonical = self.check_inside_dirs(file)?;
        self.loaded
            .lock()
            .expect("plugin registry lock poisoned")
            .get(&canonical)
            .map(|(library, _)| library.clone())
            .ok_or_else(|| load_error(file, "library is not loaded"))
    }

    /// Refuses any path that does not resolve to a file inside a configured directory.
    fn check_inside_dirs(&self, file: &Path) -> Result<PathBuf, CoreError> {
        let canonical = file.canonicalize().map_err(|err| load_error(file, format!("cannot open: {err}")))?;
        let inside = self.dirs.iter().filter_map(|dir| dir.canonicalize().ok()).any(|dir| canonical.parent() == Some(dir.as_path()));
        if inside {
            Ok(canonical)
        } else {
            Err(load_error(file, format!("is outside the plugin directories {:?}; refusing to load it", self.dirs)))
        }
    }
}

/// Checks a loaded library's ABI version and reads its declaration.
fn read_declaration(library: &Library, file: &Path, canonical: &Path) -> Result<PluginInfo, CoreError> {
    // SAFETY: this symbol's signature is `extern "C" fn() -> u32` in every ABI version.
    let abi_version = unsafe { library.get::<unsafe extern "C" fn() -> u32>(api::SYMBOL_ABI_VERSION.as_bytes()) }
        .map_err(|_| load_error(file, format!("not an agora plugin: missing symbol {}", api::SYMBOL_ABI_VERSION)))?;
    // SAFETY: calling the fixed-signature version function.
    let abi_version = unsafe { abi_version() };
    if abi_version != api::ABI_VERSION {
        return Err(load_error(file, format!("plugin ABI version {abi_version} does not match host ABI version {}", api::ABI_VERSION)));
    }
    // SAFETY: the ABI version fixes this symbol's signature.
    let declaration = unsafe { library.get::<unsafe extern "C" fn() -> *const api::PluginDeclaration>(api::SYMBOL_DECLARATION.as_bytes()) }
        .map_err(|err| load_error(file, format!("missing symbol {}: {err}", api::SYMBOL_DECLARATION)))?;
    // SAFETY: the declaration is a static in the library, alive while the library is loaded.
    let declaration = unsafe {
        let pointer = declaration();
        if pointer.is_null() {
            return Err(load_error(file, "declaration is null"));
        }
        &*pointer
    };
    if declaration.abi_version != abi_version {
        return Err(load_error(
            file,
            format!("declaration says ABI version {} but the plugin exports {abi_version}", declaration.abi_version),
        ));
    }
    let kind = match declaration.kind {
        api::KIND_SOURCE => "source",
        api::KIND_MODEL => "model",
        other => return Err(load_error(file, format!("unknown plugin kind {other}; valid: 1 (source), 2 (model)"))),
    };
    let text = |pointer: *const c_char, field: &str| -> Result<String, CoreError> {
        if pointer.is_null() {
            return Err(load_error(file, format!("declaration field {field} is null")));
        }
        // SAFETY: non-null pointer to a static NUL-terminated string in the library.
        let text = unsafe { CStr::from_ptr(pointer) };
        text.to_str().map(str::to_string).map_err(|_| load_error(file, format!("declaration field {field} is not UTF-8")))
    };
    let info = PluginInfo {
        name: text(declaration.name, "name")?,
        version: text(declaration.version, "version")?,
        kind: kind.to_string(),
        capabilities: text(declaration.capabilities, "capabilities")?
            .split(',')
            .map(str::trim)
            .filter(|cap| !cap.is_empty())
            .map(str::to_string)
            .collect(),
        description: text(declaration.description, "description")?,
        file: canonical.to_path_buf(),
    };
    Ok(info)
}

/// Copies a plugin buffer into host memory and hands it back to the plugin's `free` to release.
fn take_buffer(free: unsafe extern "C" fn(api::OwnedBuffer), buffer: api::OwnedBuffer) -> Vec<u8> {
    // SAFETY: the buffer was just returned by the plugin and is not freed yet.
    let bytes = unsafe { buffer.as_slice() }.to_vec();
    // SAFETY: freed once, by the plugin that allocated it.
    unsafe { free(buffer) };
    bytes
}

/// Turns a call's status code into a result, fetching the plugin's message on failure.
fn call_status(
    plugin: &str,
    status: u32,
    call: &'static str,
    last_error: unsafe extern "C" fn() -> api::OwnedBuffer,
    free: unsafe extern "C" fn(api::OwnedBuffer),
) -> Result<(), CoreError> {
    let message = match status {
        api::STATUS_OK => return Ok(()),
        // SAFETY: `last_error` returns a buffer the plugin allocated.
        api::STATUS_PANIC | api::STATUS_ERROR => String::from_utf8_lossy(&take_buffer(free, unsafe { last_error() })).into_owned(),
        other => format!("unknown status code {other}"),
    };
    Err(CoreError::PluginCall { plugin: plugin.to_string(), call, message })
}

fn load_error(file: &Path, message: impl Into<String>) -> CoreError {
    CoreError::PluginLoad { path: file.display().to_string(), message: message.into() }
}
