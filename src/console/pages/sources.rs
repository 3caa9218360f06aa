//! Sources: each configured source with its plugin, state, checkpoint and lag; pause and resume.

use actix_web::{web, HttpRequest, HttpResponse};
use agora_agents::{AgentStatus, Ingestor, SetPaused};
use serde::Deserialize;

use super::Flash;
use crate::app::Node;
use crate::console::layout::{action_button, esc, redirect_with, shell, table};
use crate::console::{guard_form, Admin, Refused};

/// Longest checkpoint text shown.
const CHECKPOINT_CHARS: usize = 120;

pub async fn page(Admin(session): Admin, node: web::Data<Node>, query: web::Query<Flash>) -> HttpResponse {
    let agents = node.pipeline_state().await.map(|state| state.agents).unwrap_or_default();
    let mut rows = Vec::new();
    for (name, source) in &node.config.sources {
        let agent = agents.iter().find(|agent| agent.name == Ingestor::agent_name(name));
        let checkpoint = match node.store.checkpoint(name) {
            Ok(Some(bytes)) => esc(&describe_checkpoint(&bytes)),
            Ok(None) => r#"<span class="muted">none yet</span>"#.to_string(),
            Err(err) => esc(&format!("unreadable: {err}")),
        };
        let lag = agent
            .and_then(|agent| agent.progress)
            .map_or_else(|| "–".to_string(), |(done, total)| format!("{} of {total} left", total.saturating_sub(done)));
        let status = agent.map_or_else(
            || if source.enabled { "not started".into() } else { "disabled".into() },
            |agent| format!("{:?}", agent.status).to_lowercase(),
        );
        let action = match agent.map(|agent| agent.status) {
            Some(AgentStatus::Paused) => {
                action_button("/console/sources/pause", &format!("Resume {name}"), &session.csrf, &[("source", name), ("paused", "false")])
            }
            Some(AgentStatus::Running | AgentStatus::Idle | AgentStatus::Starting | AgentStatus::Failed) => {
                action_button("/console/sources/pause", &format!("Pause {name}"), &session.csrf, &[("source", name), ("paused", "true")])
            }
            _ => String::new(),
        };
        rows.push(vec![
            esc(name),
            esc(&source.plugin),
            esc(source.record.name()),
            format!(r#"<span class="status {0}">{0}</span>"#, esc(&status)),
            agent.map_or(0, |agent| agent.processed).to_string(),
            agent.map_or(0, |agent| agent.backlog).to_string(),
            lag,
            format!("<code>{checkpoint}</code>"),
            action,
        ]);
    }
    let body = table(
        "Configured sources",
        &["Source", "Plugin", "Record", "State", "Committed", "Backlog (batches)", "Lag (plugin units)", "Checkpoint", "Action"],
        &rows,
    );
    shell("sources", "Sources", query.flash.as_deref(), &session.csrf, &body)
}

/// A checkpoint as text when it is UTF-8 (plugins mostly write JSON), else hex; shortened.
fn describe_checkpoint(bytes: &[u8]) -> String {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => bytes.iter().map(|byte| format!("{byte:02x}")).collect(),
    };
    if text.chars().count() > CHECKPOINT_CHARS {
        format!("{}… ({} bytes)", text.chars().take(CHECKPOINT_CHARS).collect::<String>(), bytes.len())
    } else {
        text
    }
}

/// The pause/resume form.
#[derive(Deserialize)]
pub struct PauseForm {
    csrf: String,
    source: String,
    paused: bool,
}

pub async fn set_paused(request: HttpRequest, node: web::Data<Node>, form: web::Form<PauseForm>) -> Result<HttpResponse, Refused> {
    guard_form(&request, &form.csrf)?;
    let PauseForm { source, paused, .. } = form.into_inner();
    let message = match node.supervisor.send(SetPaused { source: source.clone(), paused }).await {
        Ok(Ok(())) => {
            tracing::info!(%source, paused, "source paused or resumed from the console");
            format!("{} {source}", if paused { "Paused" } else { "Resumed" })
        }
        Ok(Err(err)) => format!("could not change {source}: {err}"),
        Err(err) => format!("the supervisor did not answer: {err}"),
    };
    Ok(redirect_with("sources", &message))
}
