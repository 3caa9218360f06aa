//! `GET /api/v1/health` (open, for load balancers), and the operator routes `/api/v1/pipeline`
//! and `/api/v1/quality`, which need the console's admin login (session or admin token).

use actix_web::{web, HttpRequest, HttpResponse};
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

/// Refuses a request without the console's admin session or `Authorization: Bearer` admin token.
///
/// # Errors
/// 403 when no admin login is configured at all, 401 when this request has none.
pub(super) fn require_admin(node: &Node, request: &HttpRequest) -> Result<(), ApiError> {
    let sessions = &node.console_sessions;
    if !node.config.console.enabled || !sessions.login_configured() {
        return Err(ApiError::Forbidden("the operator API needs an admin login: set console.admin_token or console.password_hash".into()));
    }
    sessions
        .session_or_token(request)
        .map_err(|_| ApiError::Unauthorized("send the console admin token as Authorization: Bearer, or log in to the console".into()))
}

/// Every agent's [`agora_agents::AgentState`].
pub async fn pipeline(node: web::Data<Node>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    require_admin(&node, &request)?;
    Ok(HttpResponse::Ok().json(node.supervisor.send(GetPipelineState).await?))
}

/// The data-quality report.
pub async fn quality(node: web::Data<Node>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    require_admin(&node, &request)?;
    let store = node.store.clone();
    let report = web::block(move || quality_report(store.as_ref())).await.map_err(|err| ApiError::Internal(err.to_string()))??;
    Ok(HttpResponse::Ok().json(report))
}
