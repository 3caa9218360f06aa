//! The Ingest agent of one source: polls its plugin on a worker thread, sends batches to the
//! Clean agent with at most `in_flight_batches` uncommitted (back-pressure), and reports to the
//! supervisor when it finishes or fails.
//!
//! Threading: the actor lives on the actix arbiter and never blocks; the plugin runs on a
//! dedicated worker thread. A watchdog on the actor fails the agent when a poll hangs; the hung
//! thread is abandoned (threads cannot be killed) and its results are discarded.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, AsyncContext, Context, Handler, Message, Recipient};
use agora_core::config::{IngestConfig, SourceConfig};
use agora_core::plugin::{SourceInstance, SourcePlugin};
use agora_core::store::{CommitReport, Store};

use crate::cleaner::{CleanBatch, CleanerHandle};
use crate::error::AgentError;
use crate::state::{AgentState, AgentStatus, GetState};
use crate::supervisor::AgentEvent;

/// Pauses polling (the worker finishes the batch in hand first).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Pause;

/// Resumes polling after [`Pause`].
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resume;

/// Stops the agent for good (shutdown); the worker lets what it sent commit, then exits.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// Sent by the worker thread when it exits.
#[derive(Message)]
#[rtype(result = "()")]
struct WorkerExited(Result<(), String>);

/// Everything an Ingest agent needs to run.
pub struct IngestorSetup {
    pub name: String,
    pub source: SourceConfig,
    pub ingest: IngestConfig,
    /// The loaded plugin, or why it could not be loaded (an agent error, not a crash).
    pub plugin: Result<SourcePlugin, String>,
    pub store: Arc<dyn Store>,
    pub cleaner: CleanerHandle,
    pub supervisor: Recipient<AgentEvent>,
    pub restarts: u32,
    /// Stop when caught up instead of following the source.
    pub once: bool,
    /// Start paused (an operator paused it before a restart).
    pub paused: bool,
}

/// State shared between the actor and its worker thread.
struct Shared {
    stop: AtomicBool,
    paused: AtomicBool,
    state: Mutex<AgentState>,
    /// When the current plugin call started, for the hang watchdog.
    call_started: Mutex<Option<Instant>>,
}

impl Shared {
    fn update(&self, change: impl FnOnce(&mut AgentState)) {
        if let Ok(mut state) = self.state.lock() {
            change(&mut state);
        }
    }
}

/// The Ingest agent of one source.
pub struct Ingestor {
    setup: Arc<IngestorSetup>,
    shared: Arc<Shared>,
    reported: bool,
}

impl Ingestor {
    /// The agent name of a source.
    pub fn agent_name(source: &str) -> String {
        format!("ingest:{source}")
    }

    /// Creates the agent; it starts polling when started.
    pub fn new(setup: IngestorSetup) -> Self {
        let state = AgentState::starting(&Self::agent_name(&setup.name), "ingest", setup.restarts);
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            paused: AtomicBool::new(setup.paused),
            state: Mutex::new(state),
            call_started: Mutex::new(None),
        });
        Self { setup: Arc::new(setup), shared, reported: false }
    }

    /// Tells the supervisor once how this run ended, then stops.
    fn finish(&mut self, ctx: &mut Context<Self>, outcome: Result<(), String>) {
        if self.reported {
            return;
        }
        self.reported = true;
        self.shared.stop.store(true, Ordering::SeqCst);
        let name = self.setup.name.clone();
        let event = match outcome {
            Ok(()) => {
                self.shared.update(|state| state.status = AgentStatus::Finished);
                AgentEvent::Finished { source: name, state: self.snapshot() }
            }
            Err(error) => {
                tracing::error!(source = %name, %error, "ingest agent failed");
                self.shared.update(|state| {
                    state.status = AgentStatus::Failed;
                    state.errors += 1;
                    state.last_error = Some(error.clone());
                });
                AgentEvent::Failed { source: name, error, state: self.snapshot() }
            }
        };
        self.setup.supervisor.do_send(event);
        ctx.stop();
    }

    fn snapshot(&self) -> AgentState {
        self.shared.state.lock().map(|state| state.clone()).unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }
}

impl Actor for Ingestor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let setup = self.setup.clone();
        let shared = self.shared.clone();
        let me = ctx.address();
        let spawned = std::thread::Builder::new().name(format!("ingest-{}", setup.name)).spawn(move || {
            let outcome = run_worker(&setup, &shared).map_err(|err| err.to_string());
            if !shared.stop.load(Ordering::SeqCst) {
                me.do_send(WorkerExited(outcome));
            }
        });
        if let Err(err) = spawned {
            self.finish(ctx, Err(format!("cannot start worker thread: {err}")));
            return;
        }
        // Watchdog: a plugin call that outlives the timeout fails the agent.
        let timeout = Duration::from_millis(self.setup.ingest.poll_timeout_ms);
        ctx.run_interval(Duration::from_millis(250).min(timeout), move |agent, ctx| {
            let started = agent.shared.call_started.lock().ok().and_then(|started| *started);
            if let Some(started) = started {
                if started.elapsed() > timeout {
                    let message = format!("plugin call hung for more than {} ms; abandoning it", timeout.as_millis());
                    agent.finish(ctx, Err(message));
                }
            }
        });
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

impl Handler<WorkerExited> for Ingestor {
    type Result = ();

    fn handle(&mut self, msg: WorkerExited, ctx: &mut Context<Self>) {
        self.finish(ctx, msg.0);
    }
}

impl Handler<Stop> for Ingestor {
    type Result = ();

    fn handle(&mut self, _msg: Stop, ctx: &mut Context<Self>) {
        self.reported = true;
        self.shared.stop.store(true, Ordering::SeqCst);
        ctx.stop();
    }
}

impl Handler<GetState> for Ingestor {
    type Result = actix::MessageResult<GetState>;

    fn handle(&mut self, _msg: GetState, _ctx: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(self.snapshot())
    }
}

impl Handler<Pause> for Ingestor {
    type Result = ();

    fn handle(&mut self, _msg: Pause, _ctx: &mut Context<Self>) {
        self.shared.paused.store(true, Ordering::SeqCst);
        self.shared.update(|state| state.status = AgentStatus::Paused);
    }
}

impl Handler<Resume> for Ingestor {
    type Result = ();

    fn handle(&mut self, _msg: Resume, _ctx: &mut Context<Self>) {
        self.shared.paused.store(false, Ordering::SeqCst);
        self.shared.update(|state| state.status = AgentStatus::Running);
    }
}

/// Times one plugin call for the watchdog.
fn timed<T>(shared: &Shared, call: impl FnOnce() -> T) -> T {
    if let Ok(mut started) = shared.call_started.lock() {
        *started = Some(Instant::now());
    }
    let result = call();
    if let Ok(mut started) = shared.call_started.lock() {
        *started = None;
    }
    result
}

type Pending = futures::future::BoxFuture<'static, Result<CommitReport, AgentError>>;

/// Waits for the oldest uncommitted batch and counts what it committed.
fn settle_oldest(in_flight: &mut VecDeque<Pending>, shared: &Shared) -> Result<(), AgentError> {
    if let Some(pending) = in_flight.pop_front() {
        let report = futures::executor::block_on(pending)?;
        shared.update(|state| {
            state.processed += report.accepted + report.duplicates + report.quarantined;
            state.backlog = in_flight.len() as u64;
        });
    }
    Ok(())
}

/// The worker loop: open, poll, send, and keep at most `in_flight_batches` uncommitted.
fn run_worker(setup: &IngestorSetup, shared: &Shared) -> Result<(), AgentError> {
    let plugin = setup
        .plugin
        .clone()
        .map_err(|message| AgentError::Core(agora_core::CoreError::PluginLoad { path: setup.source.plugin.clone(), message }))?;
    // Batches of a previous run of this agent may still sit in the Clean agent's mailbox:
    // wait for them before reading the committed checkpoint.
    futures::executor::block_on(setup.cleaner.barrier(&setup.name))?;
    let mut checkpoint = setup.store.checkpoint(&setup.name)?.unwrap_or_default();
    let params = serde_json::to_vec(&setup.source.params)
        .map_err(|err| AgentError::Core(agora_core::CoreError::Config(format!("sources.{}.params: {err}", setup.name))))?;
    let mut instance = timed(shared, || SourceInstance::open(&plugin, &params, &checkpoint))?;
    shared.update(|state| state.status = AgentStatus::Running);
    let mut in_flight: VecDeque<Pending> = VecDeque::new();
    let result = (|| -> Result<(), AgentError> {
        loop {
            if shared.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            if shared.paused.load(Ordering::SeqCst) {
                while !in_flight.is_empty() {
                    settle_oldest(&mut in_flight, shared)?;
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            let polled = timed(shared, || instance.poll(setup.ingest.batch_size, &checkpoint))?;
            if shared.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            shared.update(|state| state.progress = Some((polled.progress_done, polled.progress_total)));
            if polled.records > 0 || polled.checkpoint != checkpoint {
                checkpoint = polled.checkpoint.clone();
                let batch = CleanBatch { source: setup.name.clone(), batch: polled.batch, checkpoint: Some(polled.checkpoint) };
                in_flight.push_back(Box::pin(setup.cleaner.submit(batch)));
                shared.update(|state| state.backlog = in_flight.len() as u64);
                while in_flight.len() >= setup.ingest.in_flight_batches {
                    settle_oldest(&mut in_flight, shared)?;
                }
            }
            if polled.caught_up {
                while !in_flight.is_empty() {
                    settle_oldest(&mut in_flight, shared)?;
                }
                if setup.once {
                    return Ok(());
                }
                shared.update(|state| {
                    if state.status == AgentStatus::Running {
                        state.status = AgentStatus::Idle;
                    }
                });
                std::thread::sleep(Duration::from_millis(setup.ingest.poll_interval_ms));
                shared.update(|state| {
                    if state.status == AgentStatus::Idle {
                        state.status = AgentStatus::Running;
                    }
                });
            }
        }
    })();
    // Whatever happened, let sent batches commit before this run ends, so a restart that reads
    // the checkpoint sees them.
    while let Some(pending) = in_flight.pop_front() {
        let _ = futures::executor::block_on(pending);
    }
    result
}
