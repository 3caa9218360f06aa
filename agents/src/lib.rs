//! agora-agents: the actors of Agora's pipeline and the supervisor that wires them.
//!
//! Agents only talk by messages. Each one answers [`GetState`]; the [`Supervisor`] restarts a
//! failed agent alone. Blocking work (plugin polls, cleaning, sled commits) runs off the async
//! arbiter: Ingest agents poll on their own worker threads, the Clean agent is a sync actor.

pub mod analyst;
pub mod cleaner;
pub mod error;
pub mod ingestor;
pub mod state;
pub mod supervisor;

pub use analyst::{Analyst, GetCohorts, GetFunnel, GetProfile, GetSummary, Refresh};
pub use cleaner::{Barrier, CleanBatch, Cleaner, CleanerHandle, FlagOutliers};
pub use error::AgentError;
pub use ingestor::Ingestor;
pub use state::{AgentState, AgentStatus, GetState};
pub use supervisor::{AgentEvent, GetPipelineState, PipelineState, PushBatch, SetPaused, Shutdown, Supervisor, WaitForCompletion};
