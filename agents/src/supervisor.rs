//! The Supervisor: starts the Clean agents, one Ingest agent per configured source and, in
//! long-running pipelines, the Analyst and the Encode → Fuse → Recommend agents; restarts a
//! failed Ingest agent alone after an exponential back-off (counting restarts), and answers for
//! the whole pipeline's state. (Encode, Fuse and Recommend contain their own failures: a failed
//! training run leaves the previous model serving and is retried at the next interval.)
//!
//! Threading: an ordinary actor on the actix arbiter; it only routes messages and never blocks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, ResponseActFuture, ResponseFuture, SyncArbiter, WrapFuture,
};
use agora_core::config::{AgoraConfig, PUSH_PLUGIN};
use agora_core::plugin::PluginHost;
use agora_core::quality::Replay;
use agora_core::store::{CommitReport, Store};
use futures::channel::oneshot;
use serde::{Deserialize, Serialize};

use crate::analyst::{segment_rules, Analyst, Refresh};
use crate::cleaner::{cleaner_name, Barrier, CleanBatch, Cleaner, CleanerHandle, FlagOutliers, ResolveEntities};
use crate::encoder::Encoder;
use crate::error::AgentError;
use crate::forecaster::{Forecaster, ForecasterHandle};
use crate::fuser::Fuser;
use crate::ingestor::{Ingestor, IngestorSetup, Pause, Resume, Stop};
use crate::recommender::{Recommender, RecommenderHandle};
use crate::resolution::ResolveSummary;
use crate::responder::{Responder, ResponderHandle};
use crate::state::{AgentState, AgentStatus, GetState};

/// How an Ingest agent's run ended, told to the supervisor.
#[derive(Message)]
#[rtype(result = "()")]
pub enum AgentEvent {
    /// Read everything (`--once`).
    Finished { source: String, state: AgentState },
    /// Failed; restart it.
    Failed { source: String, error: String, state: AgentState },
}

/// Asks for every agent's state.
#[derive(Message)]
#[rtype(result = "PipelineState")]
pub struct GetPipelineState;

/// The state of the whole pipeline.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PipelineState {
    pub agents: Vec<AgentState>,
}

/// Resolves when every source has finished or been given up on (`--once` runs).
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct WaitForCompletion;

/// Pauses or resumes a source's Ingest agent.
#[derive(Message)]
#[rtype(result = "Result<(), AgentError>")]
pub struct SetPaused {
    pub source: String,
    pub paused: bool,
}

/// Records pushed over HTTP for a `push` source, in the `agora-batch/1` encoding.
#[derive(Message)]
#[rtype(result = "Result<CommitReport, AgentError>")]
pub struct PushBatch {
    pub source: String,
    pub batch: Vec<u8>,
}

/// Replays one quarantined record through its source's current cleaning rules (after the
/// mapping was fixed): the record is stored or quarantined again, and the outcome is recorded
/// beside the original entry, which stays as an audit trail.
#[derive(Message)]
#[rtype(result = "Result<Replay, AgentError>")]
pub struct ReplayQuarantined {
    pub source: String,
    pub seq: u64,
}

/// Runs the integration step (entity resolution) now, on the first Clean agent's thread; `None`
/// when `[resolve]` is off.
#[derive(Message)]
#[rtype(result = "Result<Option<ResolveSummary>, AgentError>")]
pub struct ResolveNow;

/// Stops every Ingest agent, lets queued batches commit, recomputes outliers and flushes.
#[derive(Message)]
#[rtype(result = "Result<(), AgentError>")]
pub struct Shutdown;

/// What outlives an agent's restarts: how often it was restarted and how it failed.
#[derive(Clone, Default)]
struct Counters {
    restarts: u32,
    errors: u64,
    last_error: Option<String>,
}

impl Counters {
    /// An agent's own state with these counters laid over it.
    fn overlay(&self, mut state: AgentState) -> AgentState {
        state.restarts = self.restarts;
        state.errors = self.errors;
        if state.last_error.is_none() {
            state.last_error = self.last_error.clone();
        }
        state
    }
}

/// The supervisor's record of one Ingest agent, kept across its restarts.
struct Slot {
    addr: Option<Addr<Ingestor>>,
    counters: Counters,
    /// The last state the agent reported (or a placeholder before it ran).
    last: AgentState,
    paused: bool,
}

impl Slot {
    fn done(&self) -> bool {
        matches!(self.last.status, AgentStatus::Finished | AgentStatus::GaveUp)
    }
}

/// The agents of the recommendation pipeline.
#[derive(Clone)]
pub struct RecommendAgents {
    pub encoder: Addr<Encoder>,
    pub fuser: Addr<Fuser>,
    pub recommender: Addr<Recommender>,
    /// What the HTTP layer serves from.
    pub handle: RecommenderHandle,
}

/// What [`Supervisor::start`] started.
pub struct Pipeline {
    pub supervisor: Addr<Supervisor>,
    /// The Analyst (long-running pipelines only).
    pub analyst: Option<Addr<Analyst>>,
    /// The recommendation agents (long-running pipelines with `recommend.enabled`).
    pub recommend: Option<RecommendAgents>,
    /// The Forecast agent and its handle (long-running pipelines with `forecast.enabled`).
    pub forecast: Option<(Addr<Forecaster>, ForecasterHandle)>,
    /// The Responder and its handle (long-running pipelines with `qa.enabled`).
    pub qa: Option<(Addr<Responder>, ResponderHandle)>,
}

/// The supervisor of one node's pipeline.
pub struct Supervisor {
    config: Arc<AgoraConfig>,
    /// The Analyst, in long-running (not `--once`) pipelines.
    analyst: Option<Addr<Analyst>>,
    recommend: Option<RecommendAgents>,
    forecaster: Option<Addr<Forecaster>>,
    responder: Option<Addr<Responder>>,
    refresh_in_flight: bool,
    store: Arc<dyn Store>,
    host: Arc<PluginHost>,
    cleaner: CleanerHandle,
    once: bool,
    slots: BTreeMap<String, Slot>,
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
}

impl Supervisor {
    /// Starts the Clean agent and the supervisor, which starts an Ingest agent per enabled
    /// source. With `once`, agents stop when caught up and failed ones are retried a bounded
    /// number of times.
    ///
    /// Without `once`, it also starts the Analyst (asked to refresh every
    /// `analytics.refresh_ms`) and, with `recommend.enabled`, the Encode, Fuse and Recommend
    /// agents, which train at start and every `recommend.retrain_every_s`, and with
    /// `forecast.enabled` the Forecast agent, and with `qa.enabled` the Responder.
    ///
    /// # Errors
    /// A config or store error found while preparing the Clean agents.
    pub fn start(config: Arc<AgoraConfig>, store: Arc<dyn Store>, host: Arc<PluginHost>, once: bool) -> Result<Pipeline, AgentError> {
        let recommend = (!once && config.recommend.enabled).then(|| {
            let encoder = Encoder::new(store.clone(), config.recommend.clone()).start();
            let fuser = Fuser::new(store.clone(), host.clone(), config.recommend.clone()).start();
            let recommender = Recommender::new(encoder.clone(), fuser.clone(), config.recommend.clone());
            let handle = recommender.handle();
            RecommendAgents { encoder, fuser, recommender: recommender.start(), handle }
        });
        let forecast = (!once && config.forecast.enabled).then(|| {
            let forecaster = Forecaster::new(store.clone(), host.clone(), config.forecast.clone());
            let handle = forecaster.handle();
            (forecaster.start(), handle)
        });
        let qa = (!once && config.qa.enabled).then(|| {
            let responder =
                Responder::new(store.clone(), host.clone(), config.qa.clone(), recommend.as_ref().map(|agents| agents.handle.clone()));
            let handle = responder.handle();
            (responder.start(), handle)
        });
        let interactions = recommend.as_ref().map(|agents| agents.recommender.clone().recipient());
        let sales = forecast.as_ref().map(|(forecaster, _)| forecaster.clone().recipient());
        let cleaner = Cleaner::start_all(&config, store.clone(), Some(host.clone()), interactions, sales)?;
        let analyst = if once {
            None
        } else {
            // Check the segment rules here, so a bad rule stops start-up with its key.
            segment_rules(&config.analytics)?;
            let (store, analytics) = (store.clone(), config.analytics.clone());
            Some(SyncArbiter::start(1, move || {
                Analyst::new(store.clone(), analytics.clone()).expect("segment rules were checked before start")
            }))
        };
        let supervisor = Supervisor {
            config,
            analyst: analyst.clone(),
            recommend: recommend.clone(),
            forecaster: forecast.as_ref().map(|(addr, _)| addr.clone()),
            responder: qa.as_ref().map(|(addr, _)| addr.clone()),
            refresh_in_flight: false,
            store,
            host,
            cleaner,
            once,
            slots: BTreeMap::new(),
            waiters: Vec::new(),
        };
        Ok(Pipeline { supervisor: supervisor.start(), analyst, recommend, forecast, qa })
    }

    fn refresh_analysis(&mut self, ctx: &mut Context<Self>) {
        let Some(analyst) = self.analyst.clone() else { return };
        if self.refresh_in_flight {
            return;
        }
        self.refresh_in_flight = true;
        ctx.spawn(analyst.send(Refresh).into_actor(self).map(|result, supervisor, _ctx| {
            supervisor.refresh_in_flight = false;
            if let Ok(Err(err)) | Err(err) =
                result.map_err(|err| AgentError::Unreachable { agent: "analyst".into(), reason: err.to_string() })
            {
                tracing::warn!(error = %err, "analysis refresh failed");
            }
        }));
    }

    /// The Clean agent's handle (for push ingestion and tests).
    pub fn cleaner(&self) -> &CleanerHandle {
        &self.cleaner
    }

    fn spawn_ingestor(&mut self, source: &str, ctx: &mut Context<Self>) {
        let Some(config) = self.config.sources.get(source) else { return };
        let slot = self.slots.get_mut(source).expect("slot exists for every configured source");
        let plugin = self.host.source(&config.plugin).map_err(|err| err.to_string());
        let setup = IngestorSetup {
            name: source.to_string(),
            source: config.clone(),
            ingest: self.config.ingest.clone(),
            plugin,
            store: self.store.clone(),
            cleaner: self.cleaner.clone(),
            supervisor: ctx.address().recipient(),
            restarts: slot.counters.restarts,
            once: self.once,
            paused: slot.paused,
        };
        slot.last.status = AgentStatus::Starting;
        slot.addr = Some(Ingestor::new(setup).start());
    }

    fn notify_if_complete(&mut self) {
        if !self.once || !self.slots.values().all(Slot::done) {
            return;
        }
        let failed: Vec<String> = self
            .slots
            .iter()
            .filter(|(_, slot)| slot.last.status == AgentStatus::GaveUp)
            .map(|(name, slot)| format!("{name}: {}", slot.last.last_error.clone().unwrap_or_default()))
            .collect();
        let outcome = if failed.is_empty() { Ok(()) } else { Err(format!("sources gave up: {}", failed.join("; "))) };
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(outcome.clone());
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let sources: Vec<String> = self
            .config
            .sources
            .iter()
            .filter(|(_, source)| source.enabled && source.plugin != PUSH_PLUGIN)
            .map(|(name, _)| name.clone())
            .collect();
        for name in sources {
            let last = AgentState::starting(&Ingestor::agent_name(&name), "ingest", 0);
            self.slots.insert(name.clone(), Slot { addr: None, counters: Counters::default(), last, paused: false });
            self.spawn_ingestor(&name, ctx);
        }
        if self.analyst.is_some() {
            self.refresh_analysis(ctx);
            ctx.run_interval(Duration::from_millis(self.config.analytics.refresh_ms), |supervisor, ctx| supervisor.refresh_analysis(ctx));
        }
        self.notify_if_complete();
    }
}

impl Handler<AgentEvent> for Supervisor {
    type Result = ();

    fn handle(&mut self, event: AgentEvent, ctx: &mut Context<Self>) {
        match event {
            AgentEvent::Finished { source, state } => {
                if let Some(slot) = self.slots.get_mut(&source) {
                    slot.addr = None;
                    slot.last = slot.counters.overlay(state);
                    slot.last.status = AgentStatus::Finished;
                }
                tracing::info!(%source, "source finished");
            }
            AgentEvent::Failed { source, error, state } => {
                let ingest = &self.config.ingest;
                let Some(slot) = self.slots.get_mut(&source) else { return };
                slot.addr = None;
                slot.counters.errors += 1;
                slot.counters.last_error = Some(error.clone());
                slot.last = slot.counters.overlay(state);
                if self.once && slot.counters.restarts >= ingest.once_max_restarts {
                    slot.last.status = AgentStatus::GaveUp;
                    tracing::error!(%source, %error, restarts = slot.counters.restarts, "giving up on source");
                } else {
                    slot.counters.restarts += 1;
                    slot.last = slot.counters.overlay(slot.last.clone());
                    slot.last.status = AgentStatus::Failed;
                    let backoff = ingest
                        .restart_backoff_ms
                        .saturating_mul(1u64 << (slot.counters.restarts - 1).min(16))
                        .min(ingest.max_restart_backoff_ms);
                    tracing::warn!(%source, %error, restart = slot.counters.restarts, backoff_ms = backoff, "restarting ingest agent");
                    ctx.run_later(Duration::from_millis(backoff), move |supervisor, ctx| supervisor.spawn_ingestor(&source, ctx));
                }
            }
        }
        self.notify_if_complete();
    }
}

impl Handler<GetPipelineState> for Supervisor {
    type Result = ResponseFuture<PipelineState>;

    fn handle(&mut self, _msg: GetPipelineState, _ctx: &mut Context<Self>) -> Self::Result {
        let cleaners: Vec<(String, Addr<Cleaner>)> = self.cleaner.agents().map(|(source, addr)| (source.clone(), addr.clone())).collect();
        let analyst = self.analyst.clone();
        let recommend = self.recommend.clone();
        let forecaster = self.forecaster.clone();
        let responder = self.responder.clone();
        let ingestors: Vec<(Option<Addr<Ingestor>>, AgentState, Counters)> =
            self.slots.values().map(|slot| (slot.addr.clone(), slot.last.clone(), slot.counters.clone())).collect();
        Box::pin(async move {
            let mut agents = Vec::with_capacity(ingestors.len() + cleaners.len());
            let timeout = Duration::from_secs(2);
            for (source, addr) in cleaners {
                agents.push(match actix::clock::timeout(timeout, addr.send(GetState)).await {
                    Ok(Ok(state)) => state,
                    _ => {
                        let mut state = AgentState::starting(&cleaner_name(&source), "clean", 0);
                        state.status = AgentStatus::Running;
                        state.last_error = Some("busy: did not answer within 2 s".to_string());
                        state
                    }
                });
            }
            if let Some(analyst) = analyst {
                if let Ok(Ok(state)) = actix::clock::timeout(timeout, analyst.send(GetState)).await {
                    agents.push(state);
                }
            }
            if let Some(recommend) = recommend {
                let states = futures::future::join3(
                    recommend.encoder.send(GetState),
                    recommend.fuser.send(GetState),
                    recommend.recommender.send(GetState),
                );
                if let Ok((encoder, fuser, recommender)) = actix::clock::timeout(timeout, states).await {
                    agents.extend([encoder, fuser, recommender].into_iter().filter_map(Result::ok));
                }
            }
            if let Some(forecaster) = forecaster {
                if let Ok(Ok(state)) = actix::clock::timeout(timeout, forecaster.send(GetState)).await {
                    agents.push(state);
                }
            }
            if let Some(responder) = responder {
                if let Ok(Ok(state)) = actix::clock::timeout(timeout, responder.send(GetState)).await {
                    agents.push(state);
                }
            }
            for (addr, last, counters) in ingestors {
                let live = match addr {
                    Some(addr) => actix::clock::timeout(timeout, addr.send(GetState)).await.ok().and_then(Result::ok),
                    None => None,
                };
                agents.push(counters.overlay(live.unwrap_or(last)));
            }
            PipelineState { agents }
        })
    }
}

impl Handler<WaitForCompletion> for Supervisor {
    type Result = ResponseFuture<Result<(), String>>;

    fn handle(&mut self, _msg: WaitForCompletion, _ctx: &mut Context<Self>) -> Self::Result {
        let (sender, receiver) = oneshot::channel();
        self.waiters.push(sender);
        self.notify_if_complete();
        Box::pin(async move { receiver.await.unwrap_or_else(|_| Err("supervisor stopped".to_string())) })
    }
}

impl Handler<SetPaused> for Supervisor {
    type Result = Result<(), AgentError>;

    fn handle(&mut self, msg: SetPaused, _ctx: &mut Context<Self>) -> Self::Result {
        let known = self.slots.keys().cloned().collect::<Vec<_>>().join(", ");
        let slot = self.slots.get_mut(&msg.source).ok_or(AgentError::UnknownSource { source_name: msg.source.clone(), known })?;
        slot.paused = msg.paused;
        if let Some(addr) = &slot.addr {
            if msg.paused {
                addr.do_send(Pause);
            } else {
                addr.do_send(Resume);
            }
        }
        Ok(())
    }
}

impl Handler<PushBatch> for Supervisor {
    type Result = ResponseFuture<Result<CommitReport, AgentError>>;

    fn handle(&mut self, msg: PushBatch, _ctx: &mut Context<Self>) -> Self::Result {
        let is_push = self.config.sources.get(&msg.source).is_some_and(|source| source.plugin == PUSH_PLUGIN && source.enabled);
        if !is_push {
            let known = self
                .config
                .sources
                .iter()
                .filter(|(_, source)| source.plugin == PUSH_PLUGIN && source.enabled)
                .map(|(name, _)| name.clone())
                .collect::<Vec<_>>()
                .join(", ");
            let error = AgentError::UnknownSource { source_name: msg.source, known: if known.is_empty() { "none".into() } else { known } };
            return Box::pin(async move { Err(error) });
        }
        Box::pin(self.cleaner.submit(CleanBatch { source: msg.source, batch: msg.batch, checkpoint: None }))
    }
}

impl Handler<ReplayQuarantined> for Supervisor {
    type Result = ResponseFuture<Result<Replay, AgentError>>;

    fn handle(&mut self, msg: ReplayQuarantined, _ctx: &mut Context<Self>) -> Self::Result {
        let (store, cleaner) = (self.store.clone(), self.cleaner.clone());
        Box::pin(async move {
            let ReplayQuarantined { source, seq } = msg;
            let found = store
                .quarantined(&source, seq)?
                .ok_or_else(|| AgentError::Replay(format!("source {source:?} has no quarantine entry {seq}")))?;
            if let Some(replay) = found.replay {
                return Err(AgentError::Replay(format!("entry {seq} of {source:?} was already replayed: {}", replay.outcome)));
            }
            let entry = found.entry;
            if !matches!(serde_json::from_str::<serde_json::Value>(&entry.raw), Ok(serde_json::Value::Object(_))) {
                return Err(AgentError::Replay(format!(
                    "entry {seq} of {source:?} ({}) holds text the source plugin could not parse, not fields; fix the source and ingest it again",
                    entry.reason.as_str()
                )));
            }
            let offset = serde_json::to_string(&entry.offset).expect("a string serialises");
            let batch = format!("{{\"offset\":{offset},\"fields\":{}}}\n", entry.raw).into_bytes();
            let report = cleaner.submit(CleanBatch { source: source.clone(), batch, checkpoint: None }).await?;
            let outcome = if report.accepted == 1 {
                "stored".to_string()
            } else if report.duplicates == 1 {
                "already stored (duplicate)".to_string()
            } else {
                // The new entry is the source's newest: sequence numbers count quarantined records.
                let newest = store.source_stats()?.get(&source).map_or(0, |stats| stats.quarantined_total()).saturating_sub(1);
                let again = store.quarantined(&source, newest)?;
                format!("quarantined again: {}", again.map_or_else(|| "see the newest entry".into(), |last| last.entry.detail))
            };
            let replay = Replay { at: agora_core::now_ms(), accepted: report.quarantined == 0, outcome };
            store.record_replay(&source, seq, &replay)?;
            Ok(replay)
        })
    }
}

impl Handler<ResolveNow> for Supervisor {
    type Result = ResponseFuture<Result<Option<ResolveSummary>, AgentError>>;

    fn handle(&mut self, _msg: ResolveNow, _ctx: &mut Context<Self>) -> Self::Result {
        let cleaner = self.cleaner.agents().next().map(|(_, addr)| addr.clone());
        Box::pin(async move {
            let cleaner = cleaner.ok_or_else(|| AgentError::Config("no source is configured, so there is nothing to resolve".into()))?;
            cleaner.send(ResolveEntities).await.map_err(|err| AgentError::Unreachable { agent: "clean".into(), reason: err.to_string() })?
        })
    }
}

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseActFuture<Self, Result<(), AgentError>>;

    fn handle(&mut self, _msg: Shutdown, _ctx: &mut Context<Self>) -> Self::Result {
        for slot in self.slots.values_mut() {
            if let Some(addr) = slot.addr.take() {
                addr.do_send(Stop);
            }
        }
        let cleaners: Vec<Addr<Cleaner>> = self.cleaner.agents().map(|(_, addr)| addr.clone()).collect();
        let store = self.store.clone();
        Box::pin(
            async move {
                // Give workers a moment to see the stop flag and drain, then wait for the queues.
                actix::clock::sleep(Duration::from_millis(100)).await;
                let unreachable = |err: actix::MailboxError| AgentError::Unreachable { agent: "clean".into(), reason: err.to_string() };
                for cleaner in &cleaners {
                    cleaner.send(Barrier).await.map_err(unreachable)?;
                }
                if let Some(cleaner) = cleaners.first() {
                    cleaner.send(FlagOutliers).await.map_err(unreachable)??;
                    // The integration step (a no-op unless `[resolve]` is enabled).
                    cleaner.send(ResolveEntities).await.map_err(unreachable)??;
                }
                store.flush()?;
                Ok(())
            }
            .into_actor(self)
            .map(|result, _supervisor, _ctx| result),
        )
    }
}
