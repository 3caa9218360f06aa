//! Data quality: the quality report per source, and the quarantine browser (raw record and
//! reason) with replay through the source's current cleaning rules.

use std::fmt::Write;

use actix_web::{web, HttpRequest, HttpResponse};
use agora_agents::ReplayQuarantined;
use serde::Deserialize;

use crate::app::{quality_report, Node};
use crate::console::layout::{action_button, esc, num, redirect_with, shell, table, time};
use crate::console::{guard_form, Admin, Refused};

/// Quarantine entries per browser page.
const PAGE_SIZE: usize = 25;

/// Query of the quality page.
#[derive(Deserialize)]
pub struct QualityQuery {
    flash: Option<String>,
    /// Only this source's quarantine (empty: all).
    source: Option<String>,
    /// Entries to skip.
    skip: Option<usize>,
}

pub async fn page(Admin(session): Admin, node: web::Data<Node>, query: web::Query<QualityQuery>) -> HttpResponse {
    let query = query.into_inner();
    let source = query.source.filter(|name| !name.is_empty());
    let skip = query.skip.unwrap_or(0);
    let mut body = String::new();
    match quality_report(node.store.as_ref()) {
        Ok(report) => {
            let rows: Vec<Vec<String>> = report
                .sources
                .iter()
                .map(|(name, quality)| {
                    let reasons = quality
                        .quarantined_by_reason
                        .iter()
                        .map(|(reason, n)| format!("{} {n}", esc(reason)))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let missing = quality
                        .missing_rate
                        .iter()
                        .filter(|(_, rate)| **rate > 0.0)
                        .map(|(field, rate)| format!("{} {}%", esc(field), num(rate * 100.0, 1)))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let outliers = serde_json::to_value(&quality.outliers)
                        .ok()
                        .and_then(|value| value.as_object().cloned())
                        .map(|fields| {
                            fields
                                .iter()
                                .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
                                .map(|(field, n)| format!("{} {n}", esc(field)))
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default();
                    vec![
                        esc(name),
                        quality.read.to_string(),
                        quality.accepted.to_string(),
                        quality.duplicates.to_string(),
                        quality.quarantined.to_string(),
                        reasons,
                        missing,
                        outliers,
                    ]
                })
                .collect();
            body.push_str(&table(
                "Quality report",
                &["Source", "Read", "Accepted", "Duplicates", "Quarantined", "By reason", "Missing (share of mapped)", "Outliers flagged"],
                &rows,
            ));
        }
        Err(err) => body.push_str(&super::error_box(&format!("the quality report could not be read: {err}"))),
    }
    let options: String = std::iter::once(String::new())
        .chain(node.config.sources.keys().cloned())
        .map(|name| {
            let selected = if source.as_deref() == Some(name.as_str()) || (source.is_none() && name.is_empty()) { " selected" } else { "" };
            format!(
                r#"<option value="{0}"{selected}>{1}</option>"#,
                esc(&name),
                if name.is_empty() { "all sources".to_string() } else { esc(&name) }
            )
        })
        .collect();
    let _ = write!(
        body,
        r#"<h2 id="quarantine">Quarantine</h2><form method="get" action="/console/quality" class="filters"><label for="source">Source</label><select id="source" name="source">{options}</select><button type="submit">Show</button></form>"#
    );
    match node.store.quarantine(source.as_deref(), skip, PAGE_SIZE + 1) {
        Ok(mut entries) => {
            let more = entries.len() > PAGE_SIZE;
            entries.truncate(PAGE_SIZE);
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|found| {
                    let entry = &found.entry;
                    let replay = match &found.replay {
                        Some(replay) => format!(
                            r#"<span class="status {}">{}</span> {}"#,
                            if replay.accepted { "idle" } else { "failed" },
                            esc(&replay.outcome),
                            esc(&time(replay.at))
                        ),
                        None => action_button(
                            "/console/quality/replay",
                            &format!("Replay {} #{}", entry.source, found.seq),
                            &session.csrf,
                            &[("source", &entry.source), ("seq", &found.seq.to_string())],
                        ),
                    };
                    vec![
                        format!("{} #{}", esc(&entry.source), found.seq),
                        format!("<code>{}</code>", esc(&entry.offset)),
                        format!("<strong>{}</strong><br>{}", esc(entry.reason.as_str()), esc(&entry.detail)),
                        format!(r#"<pre class="raw">{}</pre>"#, esc(&entry.raw)),
                        esc(&time(entry.at)),
                        replay,
                    ]
                })
                .collect();
            body.push_str(&table(
                "Quarantined records, oldest first",
                &["Entry", "Where", "Reason", "Raw record", "When", "Replay"],
                &rows,
            ));
            let filter = source.as_deref().map_or(String::new(), |name| format!("&source={}", crate::console::auth::url_encode(name)));
            let mut pager = Vec::new();
            if skip > 0 {
                pager.push(format!(
                    r#"<a href="/console/quality?skip={}{filter}#quarantine">Newer page</a>"#,
                    skip.saturating_sub(PAGE_SIZE)
                ));
            }
            if more {
                pager.push(format!(r#"<a href="/console/quality?skip={}{filter}#quarantine">Older page</a>"#, skip + PAGE_SIZE));
            }
            let _ = write!(body, r#"<nav class="pager" aria-label="Quarantine pages">{}</nav>"#, pager.join(" "));
        }
        Err(err) => body.push_str(&super::error_box(&format!("the quarantine could not be read: {err}"))),
    }
    shell("quality", "Data quality", query.flash.as_deref(), &session.csrf, &body)
}

/// The replay form.
#[derive(Deserialize)]
pub struct ReplayForm {
    csrf: String,
    source: String,
    seq: u64,
}

pub async fn replay(request: HttpRequest, node: web::Data<Node>, form: web::Form<ReplayForm>) -> Result<HttpResponse, Refused> {
    guard_form(&request, &form.csrf)?;
    let ReplayForm { source, seq, .. } = form.into_inner();
    let message = match node.supervisor.send(ReplayQuarantined { source: source.clone(), seq }).await {
        Ok(Ok(replay)) => format!("Replayed {source} #{seq}: {}", replay.outcome),
        Ok(Err(err)) => format!("Replay of {source} #{seq} failed: {err}"),
        Err(err) => format!("the supervisor did not answer: {err}"),
    };
    Ok(redirect_with(&format!("quality?source={}", crate::console::auth::url_encode(&source)), &message))
}
