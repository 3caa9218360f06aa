//! agora-agents: the actors of Agora's pipeline and the supervisor that wires them.
//!
//! Agents only talk by messages. Each one answers [`GetState`]; the [`Supervisor`] restarts a
//! failed agent alone. Blocking work (plugin polls, cleaning, sled commits, training) runs off
//! the async arbiter: Ingest agents poll on their own worker threads, Clean agents are sync
//! actors, and the Encode, Fuse, Forecast and Responder agents run each job on a worker thread.

pub mod analyst;
pub mod cleaner;
pub mod encoder;
pub mod error;
pub mod forecaster;
pub mod fuser;
pub mod ingestor;
pub mod recommender;
pub mod resolution;
pub mod responder;
pub mod state;
pub mod supervisor;
pub mod worker;

pub use analyst::{Analyst, GetCohorts, GetFunnel, GetProfile, GetSummary, Refresh};
pub use cleaner::{Barrier, CleanBatch, Cleaner, CleanerHandle, FlagOutliers, ResolveEntities};
pub use error::AgentError;
pub use forecaster::{Forecaster, ForecasterHandle, NewSales, RefreshForecasts};
pub use ingestor::Ingestor;
pub use recommender::{NewInteractions, Recommender, RecommenderHandle, Retrain};
pub use responder::{Answered, RefreshKnowledge, Responder, ResponderHandle};
pub use state::{AgentState, AgentStatus, GetState};
pub use supervisor::{
    AgentEvent, GetPipelineState, PipelineState, PushBatch, ReplayQuarantined, ResolveNow, SetPaused, Shutdown, Supervisor,
    WaitForCompletion,
};
