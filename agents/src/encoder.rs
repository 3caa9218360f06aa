//! The Encode agent: turns the cleaned store into the recommendation engine's input — dense ids,
//! users' time-ordered histories and item attribute tokens — on a worker thread.

use std::sync::Arc;

use actix::{Actor, Context, Handler, Message, ResponseFuture};
use agora_core::config::RecommendConfig;
use agora_core::store::Store;
use agora_recommend::Dataset;

use crate::error::AgentError;
use crate::state::GetState;
use crate::worker::{run_blocking, SharedState};

/// Name of the Encode agent.
pub const ENCODER_NAME: &str = "encode";

/// Builds a dataset from everything stored now.
#[derive(Message)]
#[rtype(result = "Result<Arc<Dataset>, AgentError>")]
pub struct Encode;

/// The Encode agent.
pub struct Encoder {
    store: Arc<dyn Store>,
    config: RecommendConfig,
    state: SharedState,
}

impl Encoder {
    pub fn new(store: Arc<dyn Store>, config: RecommendConfig) -> Self {
        Self { store, config, state: SharedState::new(ENCODER_NAME, "encode") }
    }
}

impl Actor for Encoder {
    type Context = Context<Self>;
}

impl Handler<Encode> for Encoder {
    type Result = ResponseFuture<Result<Arc<Dataset>, AgentError>>;

    fn handle(&mut self, _msg: Encode, _ctx: &mut Context<Self>) -> Self::Result {
        let (store, config, state) = (self.store.clone(), self.config.clone(), self.state.clone());
        Box::pin(run_blocking(self.state.clone(), move || {
            let dataset = Dataset::from_store(store.as_ref(), &config)?;
            state.update(|state| state.processed = dataset.interactions() as u64);
            Ok(Arc::new(dataset))
        }))
    }
}

impl Handler<GetState> for Encoder {
    type Result = actix::MessageResult<GetState>;

    fn handle(&mut self, _msg: GetState, _ctx: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(self.state.get())
    }
}
