//! Evaluation metrics shared by `agora eval` and the agents that choose weights on validation data.

pub mod ranking;
