//! One JSON error body `{message, code, type}` and one table from error to HTTP status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use agora_agents::AgentError;
use serde::Serialize;

/// Every error the API returns.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{message}")]
    RateLimited { message: String, retry_after_s: u64 },
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: String,
    code: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
}

impl ApiError {
    /// (status, stable code, error type) for each error.
    fn table(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", "invalid_request"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "missing_or_invalid_token", "auth"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "auth"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", "invalid_request"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "invalid_request"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", "invalid_request"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "not_ready", "internal"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal"),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.table().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, kind) = self.table();
        let mut response = HttpResponse::build(status);
        if let Self::RateLimited { retry_after_s, .. } = self {
            response.insert_header(("Retry-After", retry_after_s.to_string()));
        }
        response.json(ErrorBody { message: self.to_string(), code, kind })
    }
}

impl From<AgentError> for ApiError {
    fn from(err: AgentError) -> Self {
        match err {
            AgentError::UnknownSource { .. } => Self::NotFound(err.to_string()),
            AgentError::NotReady(_) => Self::Unavailable(err.to_string()),
            AgentError::Qa(agora_qa::QaError::InvalidQuestion(_)) => Self::BadRequest(err.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(err: actix::MailboxError) -> Self {
        Self::Internal(format!("pipeline unavailable: {err}"))
    }
}

impl From<agora_core::CoreError> for ApiError {
    fn from(err: agora_core::CoreError) -> Self {
        Self::Internal(err.to_string())
    }
}
