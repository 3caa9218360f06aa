//! Reading requests safely: a body up to a limit, and the caller's API key.

use actix_web::{web, HttpRequest};
use futures::StreamExt;

use super::ApiError;

/// The whole body, or 413 with `too_large()`'s message once it passes `limit` bytes.
///
/// # Errors
/// The body is too large or the connection failed while reading it.
pub async fn read_body(mut payload: web::Payload, limit: usize, too_large: impl Fn() -> String) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| ApiError::BadRequest(format!("cannot read body: {err}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(too_large()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The token of an `Authorization: Bearer TOKEN` header.
pub fn bearer_token(request: &HttpRequest) -> Option<&str> {
    request.headers().get("authorization")?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// The API key sent as a bearer token or as `X-Api-Key`.
pub fn api_key(request: &HttpRequest) -> Option<&str> {
    bearer_token(request).or_else(|| request.headers().get("x-api-key")?.to_str().ok().map(str::trim))
}
