//! Running blocking work off the actor threads: a worker thread per job, its result delivered
//! back as a future, its panic turned into an error naming the agent.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use futures::channel::oneshot;

use crate::error::AgentError;
use crate::state::{AgentState, AgentStatus};

/// An agent's state, shared with its worker threads so `GetState` answers while they run.
#[derive(Clone)]
pub struct SharedState(Arc<Mutex<AgentState>>);

impl SharedState {
    pub fn new(name: &str, role: &str) -> Self {
        let mut state = AgentState::starting(name, role, 0);
        state.status = AgentStatus::Idle;
        Self(Arc::new(Mutex::new(state)))
    }

    /// A copy of the state now.
    pub fn get(&self) -> AgentState {
        self.0.lock().expect("agent state lock poisoned").clone()
    }

    /// Changes the state.
    pub fn update(&self, change: impl FnOnce(&mut AgentState)) {
        change(&mut self.0.lock().expect("agent state lock poisoned"));
    }

    /// Records the end of a job: idle on success (or when there was no data yet), failed with
    /// the error counted otherwise.
    pub fn finish<T>(&self, result: &Result<T, AgentError>) {
        self.update(|state| {
            state.backlog = state.backlog.saturating_sub(1);
            state.progress = None;
            match result {
                Ok(_) => state.status = AgentStatus::Idle,
                Err(err) if err.is_waiting_for_data() => {
                    state.status = AgentStatus::Idle;
                    state.last_error = Some(err.to_string());
                }
                Err(err) => {
                    state.status = AgentStatus::Failed;
                    state.errors += 1;
                    state.last_error = Some(err.to_string());
                }
            }
        });
    }
}

/// Runs `job` on a new worker thread, marking `state` running meanwhile; a panic becomes
/// [`AgentError::Panicked`].
pub fn run_blocking<T: Send + 'static>(
    state: SharedState,
    job: impl FnOnce() -> Result<T, AgentError> + Send + 'static,
) -> impl Future<Output = Result<T, AgentError>> {
    state.update(|state| {
        state.status = AgentStatus::Running;
        state.backlog += 1;
    });
    let (sender, receiver) = oneshot::channel();
    let name = state.get().name;
    let spawned = std::thread::Builder::new().name(name.clone()).spawn(move || {
        let result = catch_unwind(AssertUnwindSafe(job)).unwrap_or_else(|payload| {
            let message = payload
                .downcast_ref::<&str>()
                .map(|text| text.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(AgentError::Panicked { agent: name, message })
        });
        state.finish(&result);
        let _ = sender.send(result);
    });
    async move {
        spawned.map_err(|err| AgentError::Unreachable { agent: "worker".into(), reason: err.to_string() })?;
        receiver.await.map_err(|_| AgentError::Unreachable { agent: "worker".into(), reason: "worker thread vanished".into() })?
    }
}
