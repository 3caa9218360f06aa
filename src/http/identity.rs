//! Identity stitching, for operators: `GET /api/v1/identity/users/{id}` (the sessions linked to a
//! user and every link change that concerns them) and `PUT /api/v1/identity/sessions/{session}`
//! with `{"user": "u7"}` or `{"user": null}` (link the session to that user, or keep it
//! anonymous, whatever its logins say). Both need the console's admin login. A change applies
//! to behaviour analysis at once and to recommendations at their next training.

use actix_web::{web, HttpRequest, HttpResponse};
use agora_core::identity::{IdentityLinks, LinkChange, Override};
use serde::Deserialize;
use serde_json::{json, Value};

use super::health::require_admin;
use super::ApiError;
use crate::app::Node;

/// The links of the stored events and overrides, computed off the async threads.
async fn links(node: &Node) -> Result<IdentityLinks, ApiError> {
    let store = node.store.clone();
    web::block(move || store.identity_links()).await.map_err(|err| ApiError::Internal(err.to_string()))?.map_err(Into::into)
}

/// A user's linked sessions and the link history that concerns them.
fn user_view(links: &IdentityLinks, user: &str) -> Value {
    let sessions: Vec<Value> = links
        .sessions_of(user)
        .map(|(session, link)| json!({ "session": session, "linked_at": link.at, "by_operator": link.by_operator }))
        .collect();
    let history: Vec<&LinkChange> = links
        .history()
        .iter()
        .filter(|change| matches!(change, LinkChange::Linked { user: who, .. } | LinkChange::Unlinked { user: who, .. } if who == user))
        .collect();
    json!({ "user": user, "sessions": sessions, "history": history })
}

pub async fn user(node: web::Data<Node>, request: HttpRequest, user: web::Path<String>) -> Result<HttpResponse, ApiError> {
    require_admin(&node, &request)?;
    Ok(HttpResponse::Ok().json(user_view(&links(&node).await?, &user)))
}

/// Body of the session route.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionOverride {
    /// The user the session belongs to; `null`: anonymous.
    user: Option<String>,
}

pub async fn set_session(
    node: web::Data<Node>,
    request: HttpRequest,
    session: web::Path<String>,
    body: web::Json<SessionOverride>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&node, &request)?;
    let session = session.into_inner();
    let user = body.into_inner().user.map(|user| user.trim().to_string());
    if session.trim().is_empty() || user.as_deref() == Some("") {
        return Err(ApiError::BadRequest("the session and the user must not be empty (send \"user\": null to unlink)".into()));
    }
    let decision = Override { user, at: agora_core::now_ms() };
    let store = node.store.clone();
    let stored = session.clone();
    web::block(move || store.set_identity_override(&stored, &decision)).await.map_err(|err| ApiError::Internal(err.to_string()))??;
    if let Some(analyst) = &node.analyst {
        analyst.do_send(agora_agents::Refresh);
    }
    let links = links(&node).await?;
    let link = links.link_of(&session).map(|link| json!({ "user": link.user, "linked_at": link.at, "by_operator": link.by_operator }));
    Ok(HttpResponse::Ok().json(json!({ "session": session, "link": link })))
}
