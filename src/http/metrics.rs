//! `GET /metrics`: agent and source counters in the Prometheus text format.

use std::fmt::Write;

use actix_web::{web, HttpResponse};
use agora_agents::GetPipelineState;

use super::ApiError;
use crate::app::{quality_report, Node};

/// Renders every agent's state and every source's quality counters.
pub async fn metrics(node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let pipeline = node.supervisor.send(GetPipelineState).await?;
    let store = node.store.clone();
    let quality = web::block(move || quality_report(store.as_ref())).await.map_err(|err| ApiError::Internal(err.to_string()))??;
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family("agora_agent_processed_total", "counter", "Records handled by the agent since the process started.");
    family("agora_agent_backlog", "gauge", "Batches waiting for the agent.");
    family("agora_agent_errors_total", "counter", "Failures of the agent.");
    family("agora_agent_restarts_total", "counter", "Restarts of the agent by the supervisor.");
    family("agora_agent_up", "gauge", "1 when the agent is running, idle or finished.");
    family("agora_source_records_total", "counter", "Records read per source by outcome.");
    family("agora_source_quarantined_total", "counter", "Quarantined records per source and reason.");
    for agent in &pipeline.agents {
        let name = escape(&agent.name);
        let up = u8::from(matches!(
            agent.status,
            agora_agents::AgentStatus::Running | agora_agents::AgentStatus::Idle | agora_agents::AgentStatus::Finished
        ));
        let _ = writeln!(out, "agora_agent_processed_total{{agent=\"{name}\"}} {}", agent.processed);
        let _ = writeln!(out, "agora_agent_backlog{{agent=\"{name}\"}} {}", agent.backlog);
        let _ = writeln!(out, "agora_agent_errors_total{{agent=\"{name}\"}} {}", agent.errors);
        let _ = writeln!(out, "agora_agent_restarts_total{{agent=\"{name}\"}} {}", agent.restarts);
        let _ = writeln!(out, "agora_agent_up{{agent=\"{name}\"}} {up}");
    }
    for (source, q) in &quality.sources {
        let source = escape(source);
        for (outcome, n) in [("accepted", q.accepted), ("duplicate", q.duplicates), ("quarantined", q.quarantined)] {
            let _ = writeln!(out, "agora_source_records_total{{source=\"{source}\",outcome=\"{outcome}\"}} {n}");
        }
        for (reason, n) in &q.quarantined_by_reason {
            let _ = writeln!(out, "agora_source_quarantined_total{{source=\"{source}\",reason=\"{}\"}} {n}", escape(reason));
        }
    }
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(out))
}

/// Escapes a Prometheus label value.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
