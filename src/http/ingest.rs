//! `POST /api/v1/ingest/{source}`: the push source. The body is JSON Lines; each line becomes a
//! record of the named `push` source, and lines that do not parse are quarantined, not refused.

use actix_web::{web, HttpRequest, HttpResponse};
use agora_agents::PushBatch;
use agora_core::constant_time_eq;

use super::request::{bearer_token, read_body};
use super::ApiError;
use crate::app::Node;

/// Accepts a JSON Lines body for a configured push source, after checking the bearer token.
pub async fn push(
    node: web::Data<Node>,
    source: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    check_token(&node, &request)?;
    let limit = node.config.server.max_body_bytes;
    let body =
        read_body(payload, limit, || format!("body exceeds server.max_body_bytes = {limit} bytes; split it into smaller requests")).await?;
    let request_id = uuid::Uuid::new_v4();
    let batch = to_batch(&body, &request_id.to_string());
    let report = node.supervisor.send(PushBatch { source: source.into_inner(), batch }).await??;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "request_id": request_id,
        "accepted": report.accepted,
        "duplicates": report.duplicates,
        "quarantined": report.quarantined,
    })))
}

fn check_token(node: &Node, request: &HttpRequest) -> Result<(), ApiError> {
    let Some(expected) = node.config.server.ingest_token.as_deref() else {
        return Err(ApiError::Forbidden("push ingestion is disabled: set server.ingest_token in the config".to_string()));
    };
    let given =
        bearer_token(request).ok_or_else(|| ApiError::Unauthorized("send `Authorization: Bearer <server.ingest_token>`".to_string()))?;
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("invalid ingest token".to_string()))
    }
}

/// Wraps each body line in the `agora-batch/1` encoding, as a source plugin would.
fn to_batch(body: &[u8], request_id: &str) -> Vec<u8> {
    let mut batch = Vec::with_capacity(body.len() + body.len() / 4);
    for (number, line) in body.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let offset = format!("push:{request_id}:{}", number + 1);
        match std::str::from_utf8(line) {
            Err(_) => agora_plugin_api::push_error_line(&mut batch, &offset, "invalid_utf8", &String::from_utf8_lossy(line)),
            Ok(text) => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Object(_)) => agora_plugin_api::push_record_line(&mut batch, &offset, text.trim()),
                Ok(_) => agora_plugin_api::push_error_line(&mut batch, &offset, "not_an_object", text),
                Err(_) => agora_plugin_api::push_error_line(&mut batch, &offset, "malformed_json", text),
            },
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_lines_become_record_and_error_lines() {
        let batch = to_batch(b"{\"a\":1}\n\nnot json\n[1]\n\xff\n", "r");
        let text = String::from_utf8(batch).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], r#"{"offset":"push:r:1","fields":{"a":1}}"#);
        assert!(lines[1].contains("malformed_json") && lines[1].contains("push:r:3"));
        assert!(lines[2].contains("not_an_object"));
        assert!(lines[3].contains("invalid_utf8"));
    }
}
