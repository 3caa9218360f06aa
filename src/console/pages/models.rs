//! Models: the served recommender (blend weights, fit times, validation metrics), the QA
//! router's training-loss curve, the forecast models with the deep ones' loss curves, and every `agora eval` run with its
//! results beside the published numbers it printed.

use std::fmt::Write;

use actix_web::{web, HttpResponse};
use serde_json::Value;

use super::Flash;
use crate::app::Node;
use crate::console::chart::{Chart, Line};
use crate::console::layout::{esc, num, shell, table, time};
use crate::console::Admin;

/// Result rows shown per eval run.
const RESULT_ROWS: usize = 40;

pub async fn page(Admin(session): Admin, node: web::Data<Node>, query: web::Query<Flash>) -> HttpResponse {
    let mut body = String::new();
    recommender(&node, &mut body);
    qa_router(&node, &mut body);
    forecasters(&node, &mut body);
    eval_runs(&node, &mut body);
    shell("models", "Models", query.flash.as_deref(), &session.csrf, &body)
}

fn recommender(node: &Node, body: &mut String) {
    body.push_str("<h2>Recommender</h2>");
    let Some(model) = node.recommend.as_ref().and_then(|agents| agents.handle.model()) else {
        body.push_str(r#"<p class="muted">No recommendation model is served yet (still training, or recommend.enabled = false).</p>"#);
        return;
    };
    let info = &model.info;
    let _ = write!(
        body,
        "<p>Trained {} on data version <code>{}</code>; components from the <code>{}</code> plugin, blend weights chosen on the validation split (last item held out per user).</p>",
        esc(&time(info.trained_at)),
        esc(&info.data_version),
        esc(&node.config.recommend.plugin)
    );
    let rows: Vec<Vec<String>> = info
        .validation
        .iter()
        .map(|(name, summary)| {
            let weight = info.weights.get(name).map_or("–".to_string(), |w| num(f64::from(*w), 2));
            let seconds = info.fit_seconds.get(name).map_or("–".to_string(), |s| num(*s, 2));
            vec![
                esc(name),
                weight,
                seconds,
                summary.users.to_string(),
                num(summary.hr10, 4),
                num(summary.ndcg10, 4),
                num(summary.hr20, 4),
                num(summary.mrr, 4),
            ]
        })
        .collect();
    let params = serde_json::to_string_pretty(&node.config.recommend).unwrap_or_default();
    let _ = write!(
        body,
        r#"<details><summary>Training parameters (<code>[recommend]</code>)</summary><pre class="raw">{}</pre></details>"#,
        esc(&params)
    );
    body.push_str(&table(
        "Validation metrics (full ranking)",
        &["Component", "Weight", "Fit s", "Users", "HR@10", "NDCG@10", "HR@20", "MRR"],
        &rows,
    ));
    let cutoffs = [5.0, 10.0, 20.0];
    let lines = info
        .validation
        .iter()
        .enumerate()
        .map(|(index, (name, summary))| Line {
            name,
            points: cutoffs.iter().copied().zip([summary.hr5, summary.hr10, summary.hr20]).collect(),
            class: ["series-a", "series-b", "series-c", "series-d"][index % 4],
        })
        .collect();
    body.push_str(
        &Chart {
            title: "Validation hit rate by cut-off",
            x_label: "k",
            y_label: "HR@k",
            lines,
            bands: Vec::new(),
            x_ticks: cutoffs.iter().map(|k| (*k, format!("{k}"))).collect(),
        }
        .render(),
    );
}

fn qa_router(node: &Node, body: &mut String) {
    body.push_str("<h2>Customer-service QA</h2>");
    let Some(engine) = node.qa.as_ref().and_then(|(_, handle)| handle.engine()) else {
        body.push_str(r#"<p class="muted">The QA engine is not built yet (or qa.enabled = false).</p>"#);
        return;
    };
    let info = engine.info();
    let _ = write!(
        body,
        "<p>Encoder <code>{}</code>; {} FAQ entries, {} products, {} customers with orders; intent router trained on {} examples; hand-off below confidence {}.</p>",
        esc(&info.encoder),
        info.faq_entries,
        info.products,
        info.users_with_orders,
        info.router_examples,
        num(f64::from(info.min_confidence), 2)
    );
    let points = info.router_loss_curve.iter().enumerate().map(|(epoch, loss)| ((epoch + 1) as f64, f64::from(*loss))).collect();
    body.push_str(
        &Chart {
            title: "Intent router training loss (mean cross-entropy per epoch)",
            x_label: "epoch",
            y_label: "loss",
            lines: vec![Line { name: "training loss", points, class: "series-a" }],
            bands: Vec::new(),
            x_ticks: Vec::new(),
        }
        .render(),
    );
}

fn forecasters(node: &Node, body: &mut String) {
    body.push_str("<h2>Forecasts</h2>");
    let Some(set) = node.forecast.as_ref().and_then(|(_, handle)| handle.current()) else {
        body.push_str(r#"<p class="muted">No forecasts are computed yet (or forecast.enabled = false).</p>"#);
        return;
    };
    let rows: Vec<Vec<String>> = set
        .models
        .iter()
        .map(|(granularity, model)| {
            vec![
                esc(&format!("{granularity:?}").to_lowercase()),
                esc(&model.members.join(", ")),
                esc(&model.plugin_versions.join(", ")),
                model.horizon.to_string(),
                model.modelled_series.to_string(),
                num(model.fit_seconds, 2),
                model.description.as_deref().map_or_else(String::new, |text| format!(r#"<pre class="raw">{}</pre>"#, esc(&pretty(text)))),
            ]
        })
        .collect();
    let _ = write!(body, "<p>Refreshed {} on data version <code>{}</code>.</p>", esc(&time(set.generated_at)), esc(&set.data_version));
    body.push_str(&table(
        "Forecast models",
        &["Granularity", "Model", "Plugin version", "Horizon", "Series modelled", "Fit s", "Fitted parameters"],
        &rows,
    ));
    let classes = ["series-a", "series-b", "series-c", "series-d"];
    for (granularity, model) in &set.models {
        for (index, (member, losses)) in model.training_loss.iter().enumerate() {
            let points = losses.iter().enumerate().map(|(epoch, loss)| ((epoch + 1) as f64, *loss)).collect();
            let title = format!("{member} training loss, {} series (mean per epoch)", format!("{granularity:?}").to_lowercase());
            let line = Line { name: member, points, class: classes[index % classes.len()] };
            body.push_str(
                &Chart { title: &title, x_label: "epoch", y_label: "loss", lines: vec![line], bands: Vec::new(), x_ticks: Vec::new() }
                    .render(),
            );
        }
    }
}

fn eval_runs(node: &Node, body: &mut String) {
    body.push_str(r#"<h2>Evaluation runs</h2><p class="muted">Recorded by <code>agora eval …</code> against this store; published numbers are the ones each eval prints beside its own.</p>"#);
    let runs = match node.store.eval_runs() {
        Ok(runs) => runs,
        Err(err) => {
            body.push_str(&super::error_box(&format!("the eval runs could not be read: {err}")));
            return;
        }
    };
    if runs.is_empty() {
        body.push_str(r#"<p class="muted">No evaluation has been run against this store yet (try <code>agora eval qa --data ../shared/data/banking77</code>).</p>"#);
    }
    for run in runs.iter().rev() {
        let results: Value = serde_json::from_str(&run.results).unwrap_or(Value::Null);
        let mut flat = Vec::new();
        flatten("", &results, &mut flat);
        let (published, ours): (Vec<_>, Vec<_>) = flat.into_iter().partition(|(key, _)| key.contains("published"));
        let rows = |pairs: &[(String, String)]| -> Vec<Vec<String>> {
            pairs.iter().take(RESULT_ROWS).map(|(key, value)| vec![format!("<code>{}</code>", esc(key)), esc(value)]).collect()
        };
        let _ = write!(
            body,
            r#"<section class="run"><h3>{} on {} <span class="muted">({})</span></h3><div class="columns">{}{}</div><details><summary>Parameters</summary><pre class="raw">{}</pre></details></section>"#,
            esc(&run.kind),
            esc(&run.dataset),
            esc(&time(run.at)),
            table("Agora", &["Result", "Value"], &rows(&ours)),
            table("Published", &["Result", "Value"], &rows(&published)),
            esc(&pretty(&run.config))
        );
    }
}

/// JSON text pretty-printed (or as it is when it is not JSON).
fn pretty(text: &str) -> String {
    serde_json::from_str::<Value>(text).ok().and_then(|value| serde_json::to_string_pretty(&value).ok()).unwrap_or_else(|| text.to_string())
}

/// Leaf values of a JSON document with their dotted paths.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(fields) => {
            for (key, value) in fields {
                flatten(&if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") }, value, out);
            }
        }
        Value::Array(items) if items.len() <= 12 => {
            for (index, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{index}]"), item, out);
            }
        }
        Value::Array(items) => out.push((prefix.to_string(), format!("{} values", items.len()))),
        Value::Number(number) => out.push((
            prefix.to_string(),
            number.as_f64().map_or_else(|| number.to_string(), |n| if n.fract() == 0.0 { format!("{n:.0}") } else { format!("{n:.4}") }),
        )),
        Value::String(text) => out.push((prefix.to_string(), text.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_flatten_to_dotted_paths() {
        let mut out = Vec::new();
        flatten("", &serde_json::json!({"a": {"b": 1.5, "c": [1, "x"]}, "published": {"f1": 89.33}}), &mut out);
        let keys: Vec<&str> = out.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(keys, ["a.b", "a.c[0]", "a.c[1]", "published.f1"]);
        assert_eq!(out[0].1, "1.5000");
    }
}
