//! Recommendation routes: `GET /api/v1/users/{id}/recommendations`, `GET /api/v1/items/{id}/similar`
//! and `GET /api/v1/models/recommender`, served from the Recommend agent's current model.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use agora_agents::RecommenderHandle;
use agora_recommend::{FusedModel, RecommendError, RecommendRequest};
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use crate::app::Node;

fn serving(node: &Node) -> Result<(&RecommenderHandle, Arc<FusedModel>), ApiError> {
    let handle = &node
        .recommend
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("recommendations are off (recommend.enabled = false) or not served by this process".into()))?
        .handle;
    let model =
        handle.model().ok_or_else(|| ApiError::Unavailable("the first recommendation model is still training; retry shortly".into()))?;
    Ok((handle, model))
}

/// Query of the recommendations route.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendQuery {
    pub k: Option<usize>,
    pub category: Option<String>,
    pub exclude_seen: Option<bool>,
}

fn check_k(k: Option<usize>, node: &Node) -> Result<usize, ApiError> {
    let config = &node.config.recommend;
    let k = k.unwrap_or(config.default_k);
    if k == 0 || k > config.max_k {
        return Err(ApiError::BadRequest(format!("k must be between 1 and {} (recommend.max_k), got {k}", config.max_k)));
    }
    Ok(k)
}

/// A user's top-k items with scores and reasons; an unknown user gets what is popular (in the
/// category, when one is given).
pub async fn recommendations(
    node: web::Data<Node>,
    user: web::Path<String>,
    query: web::Query<RecommendQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(recommendations_json(&node, &user.into_inner(), query.into_inner(), false)?))
}

/// The recommendations route's body; with `with_history` (for the console), also the user's
/// history (oldest first) and item titles.
///
/// # Errors
/// Recommendations are off or still training, or the request is invalid.
pub(crate) fn recommendations_json(
    node: &Node,
    user: &str,
    query: RecommendQuery,
    with_history: bool,
) -> Result<serde_json::Value, ApiError> {
    let request =
        RecommendRequest { k: check_k(query.k, node)?, category: query.category, exclude_seen: query.exclude_seen.unwrap_or(true) };
    let (handle, model) = serving(node)?;
    let (known, history) = handle.history(&model, user);
    let items = model.recommend(&history, &request)?;
    let mut body = json!({
        "user_id": user,
        "known_user": known.is_some(),
        "history_length": history.len(),
        "model": { "trained_at": model.info.trained_at, "data_version": model.info.data_version },
        "items": items,
    });
    if with_history {
        let title = |dense: u32| model.catalog.items.get(dense as usize).and_then(|meta| meta.title.clone());
        body["history"] =
            history.iter().map(|&dense| json!({ "item_id": model.catalog.item_ids[dense as usize], "title": title(dense) })).collect();
        if let Some(items) = body["items"].as_array_mut() {
            for item in items {
                let dense = item["item_id"].as_str().and_then(|id| model.catalog.item(id));
                item["title"] = json!(dense.and_then(title));
            }
        }
    }
    Ok(body)
}

/// Query of the similar-items route.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimilarQuery {
    k: Option<usize>,
}

/// The items most like one item; a new item is matched by its attributes.
pub async fn similar(node: web::Data<Node>, item: web::Path<String>, query: web::Query<SimilarQuery>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(similar_json(&node, &item.into_inner(), query.k)?))
}

/// The similar-items route's body.
///
/// # Errors
/// Recommendations are off or still training, the item is unknown, or `k` is out of range.
pub(crate) fn similar_json(node: &Node, item: &str, k: Option<usize>) -> Result<serde_json::Value, ApiError> {
    let k = check_k(k, node)?;
    let (_, model) = serving(node)?;
    let dense = model.catalog.item(item).ok_or_else(|| ApiError::NotFound(format!("unknown item {item:?}")))?;
    let items = model.similar(dense, k)?;
    Ok(json!({ "item_id": item, "items": items }))
}

/// How the served model was trained: when, on what data, blend weights, validation metrics.
pub async fn model_info(node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    let (_, model) = serving(&node)?;
    Ok(HttpResponse::Ok().json(&model.info))
}

impl From<RecommendError> for ApiError {
    fn from(err: RecommendError) -> Self {
        match err {
            RecommendError::Unknown { .. } => Self::NotFound(err.to_string()),
            RecommendError::InvalidRequest(_) => Self::BadRequest(err.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}
