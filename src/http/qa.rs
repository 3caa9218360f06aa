//! `POST /api/v1/qa`: the chatbot API. Checks the client's API key and rate limit and the
//! request's size, then answers on a blocking thread through the Responder's handle.

use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};
use agora_agents::Answered;
use agora_qa::{Answer, Ask, Refusal};
use serde::Serialize;

use super::request::{api_key, read_body};
use super::ApiError;
use crate::app::Node;

/// Bytes a QA request may have beyond its question's (ids and JSON syntax).
const BODY_OVERHEAD: usize = 4096;

/// The answer as the API returns it.
#[derive(Serialize)]
struct Reply {
    conversation_id: String,
    #[serde(flatten)]
    answer: Answer,
}

/// Answers one question.
pub async fn ask(node: web::Data<Node>, request: HttpRequest, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let (_, handle) = node
        .qa
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("question answering is off (qa.enabled = false) or not served by this process".into()))?;
    let client = handle.clients.admit(api_key(&request), Instant::now()).map_err(refused)?.to_string();
    let max_chars = node.config.qa.max_question_chars;
    let limit = max_chars * 4 + BODY_OVERHEAD;
    let body = read_body(payload, limit, || format!("body exceeds {limit} bytes (4 × qa.max_question_chars + {BODY_OVERHEAD})")).await?;
    let ask: Ask = serde_json::from_slice(&body).map_err(|err| ApiError::BadRequest(format!("invalid QA request: {err}")))?;
    let chars = ask.question.chars().count();
    if chars > max_chars {
        return Err(ApiError::PayloadTooLarge(format!("the question has {chars} characters; qa.max_question_chars is {max_chars}")));
    }
    let handle = handle.clone();
    let now_ms = agora_core::now_ms();
    let Answered { conversation_id, answer } =
        web::block(move || handle.answer(&ask, now_ms)).await.map_err(|err| ApiError::Internal(err.to_string()))??;
    tracing::debug!(client, intent = %answer.intent, handoff = answer.handoff, "qa answered");
    Ok(HttpResponse::Ok().json(Reply { conversation_id, answer }))
}

fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::NoClients => ApiError::Forbidden("no chatbot clients are configured: add a [[qa.clients]] entry with a key".into()),
        Refusal::MissingKey => {
            ApiError::Unauthorized("send the client's API key as `Authorization: Bearer KEY` or `X-Api-Key: KEY`".into())
        }
        Refusal::UnknownKey => ApiError::Unauthorized("unknown API key".into()),
        Refusal::RateLimited { client, retry_after_s } => ApiError::RateLimited {
            message: format!("client {client:?} is over its qa.clients requests_per_minute; retry in {retry_after_s} s"),
            retry_after_s,
        },
    }
}
