//! The model plugins a blend's components come from: component `name` is task `rec.name` of the
//! configured `recommend.plugin`; `plugin:name` is task `rec.name` of the model plugin `plugin`
//! (e.g. `torch:sasrec` beside the classic components).

use std::collections::BTreeMap;

use agora_core::config::RecommendConfig;
use agora_core::plugin::{ModelPlugin, PluginHost};

use crate::error::RecommendError;

/// Every model plugin the configured components name, loaded.
pub struct ModelPlugins {
    default: String,
    plugins: BTreeMap<String, ModelPlugin>,
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
        Ok(Self { default: config.plugin.clone(), plugins })
    }

    /// One plugin serving every component (tests, tools that loaded it already).
    pub fn single(name: &str, plugin: ModelPlugin) -> Self {
        Self { default: name.to_string(), plugins: BTreeMap::from([(name.to_string(), plugin)]) }
    }

    /// The plugin and task of component `component`.
    ///
    /// # Errors
    /// A component naming a plugin that was not loaded, or a plugin without the task.
    pub fn task(&self, component: &str) -> Result<(&ModelPlugin, String), RecommendError> {
        let (plugin_name, model) = component.split_once(':').unwrap_or((self.default.as_str(), component));
        let plugin = self.plugins.get(plugin_name).ok_or_else(|| {
            RecommendError::InvalidRequest(format!("recommend.components: {component:?} names model plugin {plugin_name:?}, which is not loaded"))
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
}
