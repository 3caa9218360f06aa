//! The Recommend agent: keeps a trained model in service, retrains it on a schedule (Encode →
//! Fuse, both off the actor threads) and swaps the new one in atomically, and keeps each user's
//! interactions since the last training so their recommendations change within a second.
//!
//! Serving itself does not go through the agent's mailbox: the HTTP layer reads the current
//! model and live histories from a [`RecommenderHandle`], so a retrain never blocks a request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::{Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, ResponseActFuture, WrapFuture};
use agora_core::config::RecommendConfig;
use agora_core::record::{EventKind, Record};
use agora_recommend::FusedModel;

use crate::encoder::{Encode, Encoder};
use crate::error::AgentError;
use crate::fuser::{Fuse, Fuser, LoadLatest};
use crate::state::{AgentStatus, GetState};
use crate::worker::SharedState;

/// Name of the Recommend agent.
pub const RECOMMENDER_NAME: &str = "recommend";

/// How long to wait before trying again when there was nothing to train on yet.
const NO_DATA_RETRY: Duration = Duration::from_secs(5);

/// Interactions just committed by a Clean agent: `(user, item)` pairs in commit order.
#[derive(Message, Clone, Debug, Default)]
#[rtype(result = "()")]
pub struct NewInteractions(pub Vec<(String, String)>);

impl NewInteractions {
    /// The interactions among `records` that recommendations learn from.
    pub fn from_records<'a>(records: impl Iterator<Item = &'a Record>, event_kinds: &[EventKind]) -> Self {
        Self(
            records
                .filter_map(|record| match record {
                    Record::Event(event) if event_kinds.contains(&event.kind) => Some((event.user_id.clone(), event.item_id.clone())),
                    Record::Order(order) => Some((order.user_id.clone(), order.item_id.clone())),
                    Record::Review(review) => Some((review.user_id.clone(), review.item_id.clone())),
                    _ => None,
                })
                .collect(),
        )
    }
}

/// Retrains now (unless a training run is already going).
#[derive(Message)]
#[rtype(result = "Result<(), AgentError>")]
pub struct Retrain;

/// A user's interaction since the served model was trained.
#[derive(Clone, Debug)]
struct LiveTouch {
    item: String,
    /// When it arrived, UTC milliseconds.
    at: i64,
}

/// What the HTTP layer reads: the model in service and users' live histories. Cheap to clone.
#[derive(Clone, Default)]
pub struct RecommenderHandle {
    model: Arc<RwLock<Option<Arc<FusedModel>>>>,
    live: Arc<RwLock<HashMap<String, Vec<LiveTouch>>>>,
}

impl RecommenderHandle {
    /// The model in service, if one has been trained or loaded.
    pub fn model(&self) -> Option<Arc<FusedModel>> {
        self.model.read().expect("model lock poisoned").clone()
    }

    /// `user`'s dense id in `model` (if it knew the user) and full history: the training-time
    /// history followed by live interactions with items the model knows.
    pub fn history(&self, model: &FusedModel, user: &str) -> (Option<u32>, Vec<u32>) {
        let known = model.catalog.user(user);
        let live: Vec<u32> = self
            .live
            .read()
            .expect("live lock poisoned")
            .get(user)
            .map(|touches| touches.iter().filter_map(|touch| model.catalog.item(&touch.item)).collect())
            .unwrap_or_default();
        (known, model.history_with(known, &live))
    }

    fn add(&self, interactions: NewInteractions, at: i64) {
        let mut live = self.live.write().expect("live lock poisoned");
        for (user, item) in interactions.0 {
            live.entry(user).or_default().push(LiveTouch { item, at });
        }
    }

    /// Serves `model` and forgets live interactions that arrived before its data was read.
    fn swap(&self, model: Arc<FusedModel>, data_read_at: i64) {
        *self.model.write().expect("model lock poisoned") = Some(model);
        let mut live = self.live.write().expect("live lock poisoned");
        live.retain(|_, touches| {
            touches.retain(|touch| touch.at >= data_read_at);
            !touches.is_empty()
        });
    }
}

/// The Recommend agent.
pub struct Recommender {
    encoder: Addr<Encoder>,
    fuser: Addr<Fuser>,
    handle: RecommenderHandle,
    config: RecommendConfig,
    state: SharedState,
    training: bool,
}

impl Recommender {
    pub fn new(encoder: Addr<Encoder>, fuser: Addr<Fuser>, config: RecommendConfig) -> Self {
        Self {
            encoder,
            fuser,
            handle: RecommenderHandle::default(),
            config,
            state: SharedState::new(RECOMMENDER_NAME, "recommend"),
            training: false,
        }
    }

    /// The handle the HTTP layer serves from.
    pub fn handle(&self) -> RecommenderHandle {
        self.handle.clone()
    }

    fn retrain(&mut self, ctx: &mut Context<Self>) {
        if self.training {
            return;
        }
        self.training = true;
        self.state.update(|state| state.status = AgentStatus::Running);
        let (encoder, fuser) = (self.encoder.clone(), self.fuser.clone());
        let data_read_at = agora_core::now_ms();
        let unreachable = |agent: &str| {
            let agent = agent.to_string();
            move |err: actix::MailboxError| AgentError::Unreachable { agent, reason: err.to_string() }
        };
        let run = async move {
            let dataset = encoder.send(Encode).await.map_err(unreachable("encode"))??;
            fuser.send(Fuse { dataset }).await.map_err(unreachable("fuse"))?
        };
        ctx.spawn(run.into_actor(self).map(move |result, recommender, ctx| {
            recommender.training = false;
            match result {
                Ok(model) => {
                    recommender.handle.swap(model, data_read_at);
                    recommender.state.update(|state| {
                        state.status = AgentStatus::Idle;
                        state.processed += 1;
                    });
                }
                Err(err) => {
                    let no_data = err.is_waiting_for_data();
                    recommender.state.update(|state| {
                        state.status = if no_data { AgentStatus::Idle } else { AgentStatus::Failed };
                        state.errors += u64::from(!no_data);
                        state.last_error = Some(err.to_string());
                    });
                    if no_data && recommender.handle.model().is_none() {
                        tracing::info!(reason = %err, "nothing to train the recommender on yet; retrying");
                        ctx.run_later(NO_DATA_RETRY, |recommender, ctx| recommender.retrain(ctx));
                    } else {
                        tracing::error!(error = %err, "recommender training failed; the previous model keeps serving");
                    }
                }
            }
        }));
    }
}

impl Actor for Recommender {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Serve the stored model at once if there is one (and retrain on schedule); with none,
        // train on what the store holds now.
        ctx.spawn(self.fuser.send(LoadLatest).into_actor(self).map(|result, recommender, ctx| {
            match result {
                Ok(Ok(Some(model))) => {
                    tracing::info!(data = %model.info.data_version, "serving the stored recommender snapshot");
                    recommender.handle.swap(model, 0);
                    recommender.state.update(|state| state.processed += 1);
                    return;
                }
                Ok(Ok(None)) => {}
                Ok(Err(err)) => tracing::warn!(error = %err, "the stored recommender snapshot could not be loaded; retraining"),
                Err(err) => tracing::warn!(error = %err, "fuse agent unreachable"),
            }
            recommender.retrain(ctx);
        }));
        if self.config.retrain_every_s > 0 {
            ctx.run_interval(Duration::from_secs(self.config.retrain_every_s), |recommender, ctx| recommender.retrain(ctx));
        }
    }
}

impl Handler<NewInteractions> for Recommender {
    type Result = ();

    fn handle(&mut self, msg: NewInteractions, _ctx: &mut Context<Self>) {
        self.handle.add(msg, agora_core::now_ms());
    }
}

impl Handler<Retrain> for Recommender {
    type Result = ResponseActFuture<Self, Result<(), AgentError>>;

    fn handle(&mut self, _msg: Retrain, ctx: &mut Context<Self>) -> Self::Result {
        let already = self.training;
        self.retrain(ctx);
        Box::pin(
            async move {
                if already {
                    Err(AgentError::NotReady("a training run is already in progress".into()))
                } else {
                    Ok(())
                }
            }
            .into_actor(self),
        )
    }
}

impl Handler<GetState> for Recommender {
    type Result = actix::MessageResult<GetState>;

    fn handle(&mut self, _msg: GetState, _ctx: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(self.state.get())
    }
}
