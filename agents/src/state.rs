//! What every agent reports when asked `GetState`: the console, `/metrics` and tests read this.

use actix::Message;
use serde::{Deserialize, Serialize};

/// Where an agent is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Opening its source or loading its rules.
    Starting,
    /// Working through data.
    Running,
    /// Caught up, waiting for more data.
    Idle,
    /// Paused by an operator.
    Paused,
    /// Failed; the supervisor will restart it after a back-off.
    Failed,
    /// Given up on after too many restarts (only with `--once`).
    GaveUp,
    /// Read everything (only with `--once`).
    Finished,
}

/// A serialisable snapshot of one agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    /// Unique agent name, e.g. `ingest:orders` or `clean`.
    pub name: String,
    /// The agent's role: `ingest`, `clean`.
    pub role: String,
    pub status: AgentStatus,
    /// Records handled so far in this process (committed, for ingest agents).
    pub processed: u64,
    /// Work waiting: batches sent but not committed (ingest), batches queued (clean).
    pub backlog: u64,
    /// Failures since the process started (plugin errors, panics, hangs, failed commits).
    pub errors: u64,
    pub last_error: Option<String>,
    /// Times the supervisor restarted this agent.
    pub restarts: u32,
    /// Progress through the source's known input `(done, total)`, in the plugin's unit.
    pub progress: Option<(u64, u64)>,
}

impl AgentState {
    /// A fresh state for an agent that is starting.
    pub fn starting(name: &str, role: &str, restarts: u32) -> Self {
        Self {
            name: name.to_string(),
            role: role.to_string(),
            status: AgentStatus::Starting,
            processed: 0,
            backlog: 0,
            errors: 0,
            last_error: None,
            restarts,
            progress: None,
        }
    }
}

/// Asks an agent for its [`AgentState`].
#[derive(Message)]
#[rtype(result = "AgentState")]
pub struct GetState;
