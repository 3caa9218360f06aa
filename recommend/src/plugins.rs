//! The model plugins a blend's components come from: component `name` is task `rec.name` of the
//! configured `recommend.plugin`; `plugin:name` is task `rec.name` of the model plugin `plugin`
//! (e.g. `torch:sasrec` beside the classic components). With a store, a component's fit keeps
//! the checkpoints its plugin writes in it and resumes from the last one after a kill.

use std::collections::BTreeMap;
use std::sync::Arc;

use agora_core::config::RecommendConfig;
use agora_core::plugin::{ModelPlugin, PluginHost};
use agora_core::store::Store;

use crate::error::RecommendError;

/// Every model plugin the configured components name, loaded.
pub struct ModelPlugins {
    default: String,
    plugins: BTreeMap<String, ModelPlugin>,
    checkpoints: Option<Arc<dyn Store>>,
}

/// The store name of a component's checkpoint.
fn checkpoint_name(component: &str) -> String {
    format!("checkpoint/{component}")
}

/// What a checkpoint belongs to: the task, params and data of the fit that wrote it.
fn fit_fingerprint(task: &str, params: &[u8], data: &[u8]) -> [u8; 8] {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for part in [task.as_bytes(), params, data] {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.digest().to_le_bytes()
}

impl ModelPlugins {
    /// Loads `config.plugin` and every plugin a `plugin:name` component names.
    ///
    /// # Errors
    /// A plugin the host cannot find or load.
    pub fn open(host: &PluginHost, config: &RecommendConfig) -> Result<Self, RecommendError> {
        let mut plugins = BTreeMap::new();
        let named = config.components.iter().filter_map(|component| component.split_once(':').map(|(plugin, _)| plugin));
        for name in std::iter::once(config.plugin.as_str()).chain(named) {
            if !plugins.contains_key(name) {
                plugins.insert(name.to_string(), host.model(name)?);
            }
        }
        Ok(Self { default: config.plugin.clone(), plugins, checkpoints: None })
    }

    /// Keeps fit checkpoints in `store` (under `checkpoint/<component>`), so that a fit killed
    /// part-way resumes from its last checkpoint when it runs again on the same data and params.
    pub fn with_checkpoints(mut self, store: Arc<dyn Store>) -> Self {
        self.checkpoints = Some(store);
        self
    }

    /// One plugin serving every component (tests, tools that loaded it already).
    pub fn single(name: &str, plugin: ModelPlugin) -> Self {
        Self { default: name.to_string(), plugins: BTreeMap::from([(name.to_string(), plugin)]), checkpoints: None }
    }

    /// The plugin and task of component `component`.
    ///
    /// # Errors
    /// A component naming a plugin that was not loaded, or a plugin without the task.
    pub fn task(&self, component: &str) -> Result<(&ModelPlugin, String), RecommendError> {
        let (plugin_name, model) = component.split_once(':').unwrap_or((self.default.as_str(), component));
        let plugin = self.plugins.get(plugin_name).ok_or_else(|| {
            RecommendError::InvalidRequest(format!(
                "recommend.components: {component:?} names model plugin {plugin_name:?}, which is not loaded"
            ))
        })?;
        let task = format!("rec.{model}");
        if !plugin.can(&task) {
            return Err(RecommendError::InvalidRequest(format!(
                "recommend.components: model plugin {:?} cannot do {task} (for {component:?}); it offers {}",
                plugin.info.name,
                plugin.info.capabilities.join(", ")
            )));
        }
        Ok((plugin, task))
    }

    /// Fits component `component` on encoded `data` with JSON `params`. With a checkpoint store,
    /// it resumes from the checkpoint an interrupted fit of the same task, params and data left,
    /// stores each new checkpoint before the plugin goes on, and removes it once the fit is done.
    ///
    /// # Errors
    /// As [`task`](Self::task), a failed fit, or a store failure.
    pub fn fit(&self, component: &str, data: &[u8], params: &[u8], progress: impl FnMut(u64, u64)) -> Result<Vec<u8>, RecommendError> {
        let (plugin, task) = self.task(component)?;
        let Some(store) = &self.checkpoints else {
            return Ok(plugin.fit(&task, data, params, progress)?);
        };
        let name = checkpoint_name(component);
        let fingerprint = fit_fingerprint(&task, params, data);
        let stored = store.load_model(&name)?;
        let resume = stored.as_deref().and_then(|bytes| bytes.strip_prefix(fingerprint.as_slice()));
        if resume.is_some() {
            tracing::info!(component, "resuming the fit from its last checkpoint");
        }
        let mut failed = None;
        let snapshot = plugin.fit_resuming(&task, data, params, resume, progress, |checkpoint| {
            if failed.is_none() {
                match store.save_model(&name, &[fingerprint.as_slice(), checkpoint].concat()) {
                    Ok(()) => tracing::info!(component, bytes = checkpoint.len(), "fit checkpoint stored"),
                    Err(error) => failed = Some(error),
                }
            }
        })?;
        if let Some(error) = failed {
            return Err(error.into());
        }
        store.remove_model(&name)?;
        Ok(snapshot)
    }
}
