//! Settings: the effective config (file and environment overrides merged) as TOML, secrets masked.

use actix_web::{web, HttpResponse};

use super::Flash;
use crate::app::Node;
use crate::console::layout::{esc, shell};
use crate::console::Admin;

/// What a masked secret shows.
const MASK: &str = "•••••• (set, hidden)";

pub async fn page(Admin(session): Admin, node: web::Data<Node>, query: web::Query<Flash>) -> HttpResponse {
    let body = match toml::Value::try_from(node.config.as_ref()) {
        Ok(mut value) => {
            mask_secrets(&mut value);
            let text = toml::to_string_pretty(&value).unwrap_or_else(|err| format!("cannot print the config: {err}"));
            format!(
                r#"<p class="muted">The config this node runs with: the file given with <code>--config</code> (or <code>AGORA_CONFIG</code>), then <code>AGORA__SECTION__KEY</code> environment overrides, then defaults. Secrets (tokens, keys, password hashes) are masked.</p><pre class="config" tabindex="0" aria-label="Effective configuration">{}</pre>"#,
                esc(&text)
            )
        }
        Err(err) => super::error_box(&format!("cannot print the config: {err}")),
    };
    shell("settings", "Settings", query.flash.as_deref(), &session.csrf, &body)
}

/// Whether a key names a secret.
fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["token", "password", "secret", "key", "hash", "credential"].iter().any(|word| key == *word || key.ends_with(&format!("_{word}")))
        && key != "dedup_key"
}

/// Replaces every string under a secret-looking key, at any depth, with [`MASK`].
fn mask_secrets(value: &mut toml::Value) {
    match value {
        toml::Value::Table(table) => {
            for (key, value) in table.iter_mut() {
                if is_secret(key) && value.is_str() {
                    *value = toml::Value::String(MASK.to_string());
                } else {
                    mask_secrets(value);
                }
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_at_any_depth_and_nothing_else() {
        let mut value: toml::Value = toml::from_str(
            r#"
            [server]
            ingest_token = "s3cret"
            bind = "127.0.0.1:7700"
            [console]
            password_hash = "pbkdf2-sha256$1$2$3"
            [[qa.clients]]
            name = "bot"
            key = "k-123"
            [sources.orders]
            dedup_key = ["order_id"]
            params = { api_key = "abc", path = "x.csv" }
            "#,
        )
        .unwrap();
        mask_secrets(&mut value);
        let text = toml::to_string(&value).unwrap();
        for secret in ["s3cret", "pbkdf2", "k-123", "abc"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        for kept in ["127.0.0.1:7700", "bot", "order_id", "x.csv"] {
            assert!(text.contains(kept), "{kept} lost: {text}");
        }
    }
}
