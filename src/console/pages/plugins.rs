//! Plugins: what is loaded (name, version, kind, capabilities, file), the plugin files not yet
//! loaded, and loading or reloading one from the plugin directories.

use std::path::PathBuf;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::Flash;
use crate::app::Node;
use crate::console::layout::{action_button, esc, redirect_with, shell, table};
use crate::console::{guard_form, Admin, Refused};

pub async fn page(Admin(session): Admin, node: web::Data<Node>, query: web::Query<Flash>) -> HttpResponse {
    let loaded = node.host.loaded();
    let rows: Vec<Vec<String>> = loaded
        .iter()
        .map(|info| {
            let file = info.file.display().to_string();
            vec![
                esc(&info.name),
                esc(&info.version),
                esc(&info.kind),
                esc(&info.capabilities.join(", ")),
                format!("<code>{}</code>", esc(&file)),
                action_button(
                    "/console/plugins/load",
                    &format!("Reload {}", info.name),
                    &session.csrf,
                    &[("file", &file), ("reload", "true")],
                ),
            ]
        })
        .collect();
    let mut body = table("Loaded plugins", &["Name", "Version", "Kind", "Capabilities", "File", "Action"], &rows);
    let not_loaded: Vec<Vec<String>> = node
        .host
        .candidate_files()
        .into_iter()
        .filter(|file| !loaded.iter().any(|info| file.canonicalize().is_ok_and(|path| path == info.file)))
        .map(|file| {
            let file = file.display().to_string();
            vec![
                format!("<code>{}</code>", esc(&file)),
                action_button("/console/plugins/load", "Load", &session.csrf, &[("file", &file), ("reload", "false")]),
            ]
        })
        .collect();
    body.push_str(&table("Libraries in the plugin directories, not loaded", &["File", "Action"], &not_loaded));
    let dirs: Vec<String> =
        node.config.plugins.dirs.iter().map(|dir| format!("<code>{}</code>", esc(&dir.display().to_string()))).collect();
    body.push_str(&format!(
        r#"<p class="muted">Plugin directories (<code>plugins.dirs</code>): {}. Nothing outside them is ever loaded.</p>"#,
        dirs.join(", ")
    ));
    shell("plugins", "Plugins", query.flash.as_deref(), &session.csrf, &body)
}

/// The load/reload form.
#[derive(Deserialize)]
pub struct LoadForm {
    csrf: String,
    file: PathBuf,
    reload: bool,
}

pub async fn load(request: HttpRequest, node: web::Data<Node>, form: web::Form<LoadForm>) -> Result<HttpResponse, Refused> {
    guard_form(&request, &form.csrf)?;
    let LoadForm { file, reload, .. } = form.into_inner();
    let host = node.host.clone();
    let file_for_load = file.clone();
    // Loading maps a library and runs its initialisers: off the async workers.
    let loaded = web::block(move || if reload { host.reload(&file_for_load) } else { host.load(&file_for_load) }).await;
    let message = match loaded {
        Ok(Ok(info)) => {
            tracing::info!(plugin = %info.name, file = %file.display(), reload, "plugin loaded from the console");
            format!(
                "{} {} {} ({} plugin) from {}",
                if reload { "Reloaded" } else { "Loaded" },
                info.name,
                info.version,
                info.kind,
                file.display()
            )
        }
        Ok(Err(err)) => format!("Could not load {}: {err}", file.display()),
        Err(err) => format!("Loading {} failed: {err}", file.display()),
    };
    Ok(redirect_with("plugins", &message))
}
