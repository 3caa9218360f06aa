//! Recommendations explorer: a user's history and recommendations with their reasons, and an
//! item's similar items, from the model the API serves.

use std::fmt::Write;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use crate::app::Node;
use crate::console::layout::{esc, num, shell, table};
use crate::console::Admin;
use crate::http::recommend::{recommendations_json, similar_json, RecommendQuery};

/// Query of the explorer.
#[derive(Deserialize)]
pub struct ExplorerQuery {
    flash: Option<String>,
    user: Option<String>,
    item: Option<String>,
}

pub async fn page(Admin(session): Admin, node: web::Data<Node>, query: web::Query<ExplorerQuery>) -> HttpResponse {
    let query = query.into_inner();
    let user = query.user.unwrap_or_default();
    let item = query.item.unwrap_or_default();
    let mut body = format!(
        r#"<div class="columns"><form method="get" action="/console/recommendations" class="card"><h2>For a user</h2><label for="user">User id</label><input id="user" name="user" value="{}" required><button type="submit">Recommend</button></form>
<form method="get" action="/console/recommendations" class="card"><h2>Like an item</h2><label for="item">Item id</label><input id="item" name="item" value="{}" required><button type="submit">Find similar</button></form></div>"#,
        esc(&user),
        esc(&item)
    );
    if !user.trim().is_empty() {
        let query = RecommendQuery { k: None, category: None, exclude_seen: None };
        match recommendations_json(&node, user.trim(), query, true) {
            Ok(found) => {
                let _ = write!(
                    body,
                    "<h2>{}</h2><p>{} user, {} interactions known; model data version <code>{}</code>.</p>",
                    esc(&format!("Recommendations for {}", user.trim())),
                    if found["known_user"] == true { "Known" } else { "Unknown (popular items shown)" },
                    found["history_length"],
                    esc(found["model"]["data_version"].as_str().unwrap_or(""))
                );
                let history: Vec<Vec<String>> = found["history"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .rev()
                    .take(20)
                    .map(|entry| vec![item_link(entry), esc(entry["title"].as_str().unwrap_or(""))])
                    .collect();
                body.push_str(r#"<div class="columns">"#);
                body.push_str(&table("History, newest first (20 at most)", &["Item", "Title"], &history));
                body.push_str(&table("Recommended", &["Item", "Title", "Score", "Signal", "Reason"], &item_rows(&found["items"])));
                body.push_str("</div>");
            }
            Err(err) => body.push_str(&super::error_box(&err.to_string())),
        }
    }
    if !item.trim().is_empty() {
        match similar_json(&node, item.trim(), None) {
            Ok(found) => {
                body.push_str(&table(
                    &format!("Items like {}", item.trim()),
                    &["Item", "Title", "Score", "Signal", "Reason"],
                    &item_rows(&found["items"]),
                ));
            }
            Err(err) => body.push_str(&super::error_box(&err.to_string())),
        }
    }
    shell("recommendations", "Recommendations explorer", query.flash.as_deref(), &session.csrf, &body)
}

fn item_link(entry: &Value) -> String {
    let id = entry["item_id"].as_str().unwrap_or("");
    format!(r#"<a href="/console/recommendations?item={}">{}</a>"#, crate::console::auth::url_encode(id), esc(id))
}

fn item_rows(items: &Value) -> Vec<Vec<String>> {
    items
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| {
            vec![
                item_link(entry),
                esc(entry["title"].as_str().unwrap_or("")),
                num(entry["score"].as_f64().unwrap_or(f64::NAN), 3),
                esc(entry["signal"].as_str().unwrap_or("")),
                esc(entry["reason"].as_str().unwrap_or("")),
            ]
        })
        .collect()
}
