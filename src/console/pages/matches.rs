//! Matches: the entity-resolution decisions (pairs of catalogue items from different sources),
//! with the matcher's confidence and evidence; an operator accepts or rejects a pair (the verdict
//! overrides the matcher at the next run and joins its training data) and can run resolution now.

use std::collections::HashMap;
use std::fmt::Write;

use actix_web::{web, HttpRequest, HttpResponse};
use agora_agents::resolution::{items_as_entities, load_feedback, record_feedback, StoredDecision};
use agora_agents::ResolveNow;
use agora_resolve::feedback::Verdict;
use serde::Deserialize;

use crate::app::Node;
use crate::console::layout::{action_button, esc, num, redirect_with, shell, table};
use crate::console::{guard_form, Admin, Refused};

/// Decisions per page.
const PAGE_SIZE: usize = 25;

/// The features shown beside each pair (all of them are under "all evidence").
const KEY_EVIDENCE: [&str; 6] =
    ["title_tfidf_cosine", "code_exact", "code_conflict", "brand_similarity", "price_ratio", "description_cosine"];

/// Query of the matches page.
#[derive(Deserialize)]
pub struct MatchesQuery {
    flash: Option<String>,
    /// `accepted`, `rejected` or empty for all.
    show: Option<String>,
    skip: Option<usize>,
}

pub async fn page(Admin(session): Admin, node: web::Data<Node>, query: web::Query<MatchesQuery>) -> HttpResponse {
    let query = query.into_inner();
    let show = query.show.unwrap_or_default();
    let skip = query.skip.unwrap_or(0);
    let store = node.store.clone();
    // Decoding every decision and reading the catalogue titles is blocking work.
    let loaded = web::block(move || -> Result<_, String> {
        let mut decisions: Vec<StoredDecision> = store
            .match_decisions()
            .map_err(|err| err.to_string())?
            .iter()
            .filter_map(|(_, json)| serde_json::from_slice(json).ok())
            .collect();
        decisions.sort_by(|a, b| b.score.total_cmp(&a.score));
        let titles: HashMap<String, String> = items_as_entities(store.as_ref())
            .map_err(|err| err.to_string())?
            .iter()
            .map(|entity| (entity.key(), entity.title().to_string()))
            .collect();
        let feedback = load_feedback(store.as_ref()).map_err(|err| err.to_string())?;
        Ok((decisions, titles, feedback))
    })
    .await;
    let (decisions, titles, feedback) = match loaded.map_err(|err| err.to_string()).and_then(|loaded| loaded) {
        Ok(loaded) => loaded,
        Err(err) => {
            return shell(
                "matches",
                "Matches",
                None,
                &session.csrf,
                &super::error_box(&format!("the match decisions could not be read: {err}")),
            )
        }
    };
    let mut body = String::new();
    let resolve = &node.config.resolve;
    let accepted = decisions.iter().filter(|decision| decision.accepted).count();
    let _ = write!(
        body,
        "<p>Entity resolution is <strong>{}</strong> (<code>resolve.enabled</code>), matcher <code>{:?}</code>. {} scored pairs, {accepted} accepted; {} operator verdicts recorded.</p>",
        if resolve.enabled { "on" } else { "off" },
        resolve.matcher,
        decisions.len(),
        feedback.len()
    );
    body.push_str(&action_button("/console/matches/run", "Run resolution now", &session.csrf, &[]));
    let options: String = [("", "all pairs"), ("accepted", "matched"), ("rejected", "not matched")]
        .iter()
        .map(|(value, text)| format!(r#"<option value="{value}"{}>{text}</option>"#, if *value == show { " selected" } else { "" }))
        .collect();
    let _ = write!(
        body,
        r#"<form method="get" action="/console/matches" class="filters"><label for="show">Show</label><select id="show" name="show">{options}</select><button type="submit">Filter</button></form>"#
    );
    let shown: Vec<&StoredDecision> = decisions
        .iter()
        .filter(|decision| match show.as_str() {
            "accepted" => decision.accepted,
            "rejected" => !decision.accepted,
            _ => true,
        })
        .collect();
    let describe = |key: &str| match titles.get(key) {
        Some(title) => format!("<code>{}</code><br>{}", esc(key), esc(title)),
        None => format!("<code>{}</code>", esc(key)),
    };
    let rows: Vec<Vec<String>> = shown
        .iter()
        .skip(skip)
        .take(PAGE_SIZE)
        .map(|decision| {
            let key_evidence: Vec<String> = KEY_EVIDENCE
                .iter()
                .filter_map(|name| decision.evidence.get(*name).map(|value| format!("{} {}", esc(name), num(*value, 2))))
                .collect();
            let all: String =
                decision.evidence.iter().map(|(name, value)| format!("{} {}", esc(name), num(*value, 3))).collect::<Vec<_>>().join("<br>");
            let verdict = match feedback.verdict(&decision.a, &decision.b) {
                Some(Verdict::Accept) => r#"<span class="status idle">accepted by an operator</span>"#.to_string(),
                Some(Verdict::Reject) => r#"<span class="status failed">rejected by an operator</span>"#.to_string(),
                None => String::new(),
            };
            let label = |verb: &str| format!("{verb} {} = {}", decision.a, decision.b);
            let buttons = [("accept", "Accept"), ("reject", "Reject")]
                .iter()
                .map(|(verdict, verb)| {
                    action_button(
                        "/console/matches/verdict",
                        &label(verb),
                        &session.csrf,
                        &[("a", &decision.a), ("b", &decision.b), ("verdict", verdict)],
                    )
                })
                .collect::<String>();
            vec![
                describe(&decision.a),
                describe(&decision.b),
                format!(r#"<meter min="0" max="1" value="{0}" aria-label="match confidence">{0}</meter> {0}"#, num(decision.score, 3)),
                if decision.accepted { "matched".to_string() } else { "not matched".to_string() },
                format!(r#"{}<details><summary>all evidence</summary>{all}</details>"#, key_evidence.join("<br>")),
                format!("{verdict}{buttons}"),
            ]
        })
        .collect();
    body.push_str(&table(
        "Scored candidate pairs, most confident first",
        &["Item", "Other item", "Confidence", "Matcher", "Evidence", "Operator"],
        &rows,
    ));
    let mut pager = Vec::new();
    if skip > 0 {
        pager.push(format!(r#"<a href="/console/matches?show={show}&skip={}">Previous page</a>"#, skip.saturating_sub(PAGE_SIZE)));
    }
    if skip + PAGE_SIZE < shown.len() {
        pager.push(format!(r#"<a href="/console/matches?show={show}&skip={}">Next page</a>"#, skip + PAGE_SIZE));
    }
    let _ = write!(body, r#"<nav class="pager" aria-label="Match pages">{}</nav>"#, pager.join(" "));
    shell("matches", "Matches", query.flash.as_deref(), &session.csrf, &body)
}

/// The accept/reject form.
#[derive(Deserialize)]
pub struct VerdictForm {
    csrf: String,
    a: String,
    b: String,
    verdict: String,
}

pub async fn verdict(request: HttpRequest, node: web::Data<Node>, form: web::Form<VerdictForm>) -> Result<HttpResponse, Refused> {
    guard_form(&request, &form.csrf)?;
    let VerdictForm { a, b, verdict, .. } = form.into_inner();
    let verdict_value = match verdict.as_str() {
        "accept" => Verdict::Accept,
        "reject" => Verdict::Reject,
        other => return Ok(redirect_with("matches", &format!("unknown verdict {other:?}: accept or reject"))),
    };
    let store = node.store.clone();
    let (a_key, b_key) = (a.clone(), b.clone());
    let recorded = web::block(move || record_feedback(store.as_ref(), &a_key, &b_key, verdict_value)).await;
    let message = match recorded {
        Ok(Ok(())) => {
            tracing::info!(%a, %b, %verdict, "match verdict recorded from the console");
            format!(
                "{} {a} = {b}: the next resolution run follows it and learns from it",
                if verdict == "accept" { "Accepted" } else { "Rejected" }
            )
        }
        Ok(Err(err)) => format!("could not record the verdict: {err}"),
        Err(err) => format!("could not record the verdict: {err}"),
    };
    Ok(redirect_with("matches", &message))
}

/// A form with only the CSRF token.
#[derive(Deserialize)]
pub struct RunForm {
    csrf: String,
}

pub async fn run(request: HttpRequest, node: web::Data<Node>, form: web::Form<RunForm>) -> Result<HttpResponse, Refused> {
    guard_form(&request, &form.csrf)?;
    let message = match node.supervisor.send(ResolveNow).await {
        Ok(Ok(Some(summary))) => format!(
            "Resolved {} items: {} candidate pairs, {} matches, {} golden records ({} merged), {} conflicts dropped",
            summary.items, summary.candidates, summary.matches, summary.golden, summary.merged, summary.conflicts
        ),
        Ok(Ok(None)) => "Entity resolution is off: set resolve.enabled = true".to_string(),
        Ok(Err(err)) => format!("resolution failed: {err}"),
        Err(err) => format!("the supervisor did not answer: {err}"),
    };
    Ok(redirect_with("matches", &message))
}
