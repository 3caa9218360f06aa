//! `GET /api/v1/health`, `/api/v1/pipeline` and `/api/v1/quality`.

use actix_web::{web, HttpResponse};
use agora_agents::{AgentStatus, GetPipelineState};
use serde_json::json;

use super::ApiError;
use crate::app::{quality_report, Node};

/// Liveness plus a one-word verdict: `ok`, or `degraded` when an agent is failing.
pub async fn health(node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let state = node.supervisor.send(GetPipelineState).await?;
    let failing: Vec<&str> = state
        .agents
        .iter()
        .filter(|agent| matches!(agent.status, AgentStatus::Failed | AgentStatus::GaveUp))
        .map(|agent| agent.name.as_str())
        .collect();
    let status = if failing.is_empty() { "ok" } else { "degraded" };
    Ok(HttpResponse::Ok().json(json!({ "status": status, "failing": failing, "version": env!("CARGO_PKG_VERSION") })))
}

/// Every agent's [`agora_agents::AgentState`].
pub async fn pipeline(node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(node.supervisor.send(GetPipelineState).await?))
}

/// The data-quality report.
pub async fn quality(node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let store = node.store.clone();
    let report = web::block(move || quality_report(store.as_ref())).await.map_err(|err| ApiError::Internal(err.to_string()))??;
    Ok(HttpResponse::Ok().json(report))
}
