//! Overview: every agent's state, throughput, backlog, restarts and last error, refreshed live
//! by console.js from `/console/api/agents`.

use actix_web::{web, HttpRequest, HttpResponse};
use agora_agents::AgentState;

use super::Flash;
use crate::app::Node;
use crate::console::layout::{esc, shell, table};
use crate::console::{sessions, Admin};

pub async fn page(Admin(session): Admin, node: web::Data<Node>, query: web::Query<Flash>) -> HttpResponse {
    let body = match node.pipeline_state().await {
        Ok(state) => {
            let rows: Vec<Vec<String>> = state.agents.iter().map(row).collect();
            let table = table(
                "Agents (refreshed every 2 s)",
                &["Agent", "Role", "State", "Processed", "Throughput /s", "Backlog", "Errors", "Restarts", "Last error"],
                &rows,
            );
            format!(r#"<div id="agents" data-live="/console/api/agents" aria-live="polite">{table}</div>"#)
        }
        Err(err) => super::error_box(&format!("the supervisor did not answer: {err:#}")),
    };
    shell("overview", "Overview", query.flash.as_deref(), &session.csrf, &body)
}

/// One agent as table cells; the throughput cell is filled in by console.js between refreshes.
fn row(agent: &AgentState) -> Vec<String> {
    vec![
        esc(&agent.name),
        esc(&agent.role),
        format!(r#"<span class="status {0}">{0}</span>"#, esc(&format!("{:?}", agent.status).to_lowercase())),
        agent.processed.to_string(),
        r#"<span class="muted">–</span>"#.to_string(),
        agent.backlog.to_string(),
        agent.errors.to_string(),
        agent.restarts.to_string(),
        agent.last_error.as_deref().map_or_else(String::new, esc),
    ]
}

/// `GET /console/api/agents`: the pipeline state as JSON (session cookie or admin token).
pub async fn agents_json(request: HttpRequest, node: web::Data<Node>) -> HttpResponse {
    if sessions(&request).session_or_token(&request).is_err() {
        return HttpResponse::Unauthorized().json(serde_json::json!({ "message": "log in to the console or send the admin token" }));
    }
    match node.pipeline_state().await {
        Ok(state) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({ "at": agora_core::now_ms(), "agents": state.agents })),
        Err(err) => HttpResponse::ServiceUnavailable().json(serde_json::json!({ "message": format!("{err:#}") })),
    }
}
