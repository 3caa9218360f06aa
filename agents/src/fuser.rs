//! The Fuse agent: fits every recommendation component through the model plugin, chooses their
//! blend weights on the validation split, refits on all data, stores the snapshot in sled and
//! loads it for serving — all on a worker thread.

use std::sync::Arc;

use actix::{Actor, Context, Handler, Message, ResponseFuture};
use agora_core::config::RecommendConfig;
use agora_core::plugin::PluginHost;
use agora_core::store::{decode, encode, Store};
use agora_recommend::fused::FusedSnapshot;
use agora_recommend::train::train;
use agora_recommend::{Dataset, FusedModel, ModelPlugins};

use crate::error::AgentError;
use crate::state::GetState;
use crate::worker::{run_blocking, SharedState};

/// Name of the Fuse agent.
pub const FUSER_NAME: &str = "fuse";
/// The store key of the recommender's snapshot.
pub const RECOMMENDER_MODEL: &str = "recommender";

/// Trains a fused model on a dataset and stores it.
#[derive(Message)]
#[rtype(result = "Result<Arc<FusedModel>, AgentError>")]
pub struct Fuse {
    pub dataset: Arc<Dataset>,
}

/// Loads the last stored snapshot, if any (at start-up, so serving resumes without retraining).
#[derive(Message)]
#[rtype(result = "Result<Option<Arc<FusedModel>>, AgentError>")]
pub struct LoadLatest;

/// The Fuse agent.
pub struct Fuser {
    store: Arc<dyn Store>,
    host: Arc<PluginHost>,
    config: RecommendConfig,
    state: SharedState,
}

impl Fuser {
    pub fn new(store: Arc<dyn Store>, host: Arc<PluginHost>, config: RecommendConfig) -> Self {
        Self { store, host, config, state: SharedState::new(FUSER_NAME, "fuse") }
    }
}

impl Actor for Fuser {
    type Context = Context<Self>;
}

impl Handler<Fuse> for Fuser {
    type Result = ResponseFuture<Result<Arc<FusedModel>, AgentError>>;

    fn handle(&mut self, msg: Fuse, _ctx: &mut Context<Self>) -> Self::Result {
        let (store, host, config, state) = (self.store.clone(), self.host.clone(), self.config.clone(), self.state.clone());
        Box::pin(run_blocking(self.state.clone(), move || {
            let plugins = ModelPlugins::open(&host, &config)?.with_checkpoints(store.clone());
            let mut progress = |stage: &str, done: u64, total: u64| {
                state.update(|state| state.progress = Some((done, total)));
                tracing::debug!(stage, done, total, "training");
            };
            let snapshot = train(&plugins, &config, &msg.dataset, &mut progress)?;
            store.save_model(RECOMMENDER_MODEL, &encode(&snapshot)?)?;
            tracing::info!(weights = ?snapshot.info.weights, data = %snapshot.info.data_version, "recommender trained");
            state.update(|state| state.processed += 1);
            Ok(Arc::new(FusedModel::load(&plugins, snapshot, &config)?))
        }))
    }
}

impl Handler<LoadLatest> for Fuser {
    type Result = ResponseFuture<Result<Option<Arc<FusedModel>>, AgentError>>;

    fn handle(&mut self, _msg: LoadLatest, _ctx: &mut Context<Self>) -> Self::Result {
        let (store, host, config) = (self.store.clone(), self.host.clone(), self.config.clone());
        Box::pin(run_blocking(self.state.clone(), move || {
            let Some(bytes) = store.load_model(RECOMMENDER_MODEL)? else { return Ok(None) };
            let snapshot: FusedSnapshot = decode(&bytes)?;
            Ok(Some(Arc::new(FusedModel::load(&ModelPlugins::open(&host, &config)?, snapshot, &config)?)))
        }))
    }
}

impl Handler<GetState> for Fuser {
    type Result = actix::MessageResult<GetState>;

    fn handle(&mut self, _msg: GetState, _ctx: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(self.state.get())
    }
}
