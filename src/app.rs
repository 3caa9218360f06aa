//! A running Agora node: config, store, plugin host and the supervised pipeline.
//! Must be started inside an actix system.

use std::sync::Arc;

use actix::Addr;
use agora_agents::supervisor::{Pipeline, RecommendAgents};
use agora_agents::{Analyst, Forecaster, ForecasterHandle, GetPipelineState, PipelineState, Responder, ResponderHandle, Supervisor};
use agora_core::config::AgoraConfig;
use agora_core::plugin::PluginHost;
use agora_core::quality::QualityReport;
use agora_core::store::{SledStore, Store};
use agora_core::CoreError;

/// Everything a node shares between its pipeline and its HTTP layer.
#[derive(Clone)]
pub struct Node {
    pub config: Arc<AgoraConfig>,
    pub store: Arc<dyn Store>,
    pub host: Arc<PluginHost>,
    pub supervisor: Addr<Supervisor>,
    /// The Analyst (not started by `--once` runs).
    pub analyst: Option<Addr<Analyst>>,
    /// The recommendation agents (not started by `--once` runs or with `recommend.enabled = false`).
    pub recommend: Option<RecommendAgents>,
    /// The Forecast agent and the forecasts it serves (not started by `--once` runs or with
    /// `forecast.enabled = false`).
    pub forecast: Option<(Addr<Forecaster>, ForecasterHandle)>,
    /// The Responder and the handle questions are answered with (not started by `--once` runs
    /// or with `qa.enabled = false`).
    pub qa: Option<(Addr<Responder>, ResponderHandle)>,
    /// The admin console's logged-in sessions, shared by every HTTP worker.
    pub console_sessions: Arc<crate::console::Sessions>,
}

impl Node {
    /// Opens the store and starts the pipeline. With `once`, sources stop when caught up.
    ///
    /// # Errors
    /// The store cannot be opened, or the cleaning rules do not compile.
    pub fn start(config: AgoraConfig, once: bool) -> anyhow::Result<Self> {
        let store: Arc<dyn Store> = Arc::new(open_store(&config)?);
        let host = Arc::new(PluginHost::new(config.plugins.dirs.clone()));
        let console_sessions = Arc::new(crate::console::Sessions::new(config.console.clone()));
        let config = Arc::new(config);
        let Pipeline { supervisor, analyst, recommend, forecast, qa } =
            Supervisor::start(config.clone(), store.clone(), host.clone(), once)?;
        Ok(Self { config, store, host, supervisor, analyst, recommend, forecast, qa, console_sessions })
    }

    /// Every agent's state.
    ///
    /// # Errors
    /// The supervisor is gone.
    pub async fn pipeline_state(&self) -> anyhow::Result<PipelineState> {
        Ok(self.supervisor.send(GetPipelineState).await?)
    }
}

/// Opens the configured sled store, naming the path when that fails.
///
/// # Errors
/// The store is locked by another process or unreadable.
pub fn open_store(config: &AgoraConfig) -> anyhow::Result<SledStore> {
    use anyhow::Context;
    SledStore::open(&config.store.path, config.store.cache_mb)
        .with_context(|| format!("cannot open the store at {} (is another agora process using it?)", config.store.path.display()))
}

/// The quality report of everything stored.
///
/// # Errors
/// A store read fails.
pub fn quality_report(store: &dyn Store) -> Result<QualityReport, CoreError> {
    Ok(QualityReport::build(&store.source_stats()?, &store.outlier_counts()?))
}
