//! User-behaviour routes: `GET /api/v1/users/{id}/profile`, `/api/v1/analytics/funnel`,
//! `/api/v1/analytics/cohorts` and `/api/v1/analytics/summary`, answered by the Analyst agent.

use actix::Addr;
use actix_web::{web, HttpResponse};
use agora_agents::{Analyst, GetCohorts, GetFunnel, GetProfile, GetSummary};
use agora_analytics::behaviour::Period;
use agora_core::clean::{parse_timezone, TimestampRules};
use serde::Deserialize;

use super::ApiError;
use crate::app::Node;

fn analyst(node: &Node) -> Result<&Addr<Analyst>, ApiError> {
    node.analyst.as_ref().ok_or_else(|| ApiError::Unavailable("behaviour analysis runs only under `agora serve`".to_string()))
}

/// Segment, RFM scores, expected purchases, probability alive and CLV of one customer.
pub async fn profile(node: web::Data<Node>, user: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let user = user.into_inner();
    match analyst(&node)?.send(GetProfile { user_id: user.clone() }).await?? {
        Some(profile) => Ok(HttpResponse::Ok().json(profile)),
        None => Err(ApiError::NotFound(format!("no purchases are known for user {user:?}"))),
    }
}

/// Query of the funnel route.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunnelQuery {
    category: Option<String>,
    /// Sessions starting at or after this time (ISO-8601 or epoch seconds/milliseconds).
    from: Option<String>,
    /// Sessions starting before this time.
    to: Option<String>,
    /// day | week | month | all (default all).
    period: Option<String>,
}

/// View → cart → purchase counts and conversion rates per category.
pub async fn funnel(node: web::Data<Node>, query: web::Query<FunnelQuery>) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let period = match query.period.as_deref().unwrap_or("all") {
        "day" => Period::Day,
        "week" => Period::Week,
        "month" => Period::Month,
        "all" => Period::All,
        other => return Err(ApiError::BadRequest(format!("period {other:?} is not one of day, week, month, all"))),
    };
    let rows = analyst(&node)?
        .send(GetFunnel { category: query.category, from: parse_time("from", query.from)?, to: parse_time("to", query.to)?, period })
        .await??;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "rows": rows })))
}

/// Retention cohorts by first-purchase month and purchase-frequency figures.
pub async fn cohorts(node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(analyst(&node)?.send(GetCohorts).await??))
}

/// Segment sizes and the fitted lifetime-value models.
pub async fn summary(node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(analyst(&node)?.send(GetSummary).await??))
}

fn parse_time(name: &str, text: Option<String>) -> Result<Option<i64>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    let rules = TimestampRules { zone: parse_timezone("UTC").expect("UTC is a zone"), formats: Vec::new() };
    rules.parse(&text).map(Some).map_err(|err| ApiError::BadRequest(format!("{name}: {err}")))
}
