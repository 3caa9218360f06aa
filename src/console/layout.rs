//! The page shell every console page shares (skip link, navigation, flash message, logout form)
//! and small HTML helpers: escaping, tables, numbers.

use actix_web::http::header;
use actix_web::HttpResponse;

/// The console's pages, in navigation order: (path under /console, title).
pub const PAGES: [(&str, &str); 10] = [
    ("overview", "Overview"),
    ("sources", "Sources"),
    ("quality", "Data quality"),
    ("matches", "Matches"),
    ("plugins", "Plugins"),
    ("models", "Models"),
    ("recommendations", "Recommendations"),
    ("forecasts", "Forecasts"),
    ("qa", "QA playground"),
    ("settings", "Settings"),
];

/// Escapes text for HTML element content and quoted attributes.
pub fn esc(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}

/// A whole page: `current` is its path under /console, `body` its HTML.
pub fn shell(current: &str, title: &str, flash: Option<&str>, csrf: &str, body: &str) -> HttpResponse {
    let nav: String = PAGES
        .iter()
        .map(|(path, name)| {
            let aria = if *path == current { r#" aria-current="page""# } else { "" };
            format!(r#"<li><a href="/console/{path}"{aria}>{name}</a></li>"#)
        })
        .collect();
    let flash = flash.map_or(String::new(), |text| format!(r#"<p class="flash" role="status">{}</p>"#, esc(text)));
    let html = format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Agora console</title><link rel="stylesheet" href="/console/assets/console.css"></head>
<body><a class="skip" href="#main">Skip to content</a>
<header><span class="brand">Agora</span><nav aria-label="Console pages"><ul>{nav}</ul></nav>
<form method="post" action="/console/logout" class="logout"><input type="hidden" name="csrf" value="{csrf}"><button type="submit">Log out</button></form></header>
<main id="main" tabindex="-1"><h1>{title}</h1>{flash}{body}</main>
<script src="/console/assets/console.js"></script></body></html>"##,
        title = esc(title),
        csrf = esc(csrf),
    );
    html_response(html)
}

/// An HTML 200 response that is never cached.
pub fn html_response(html: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"))
        .body(html)
}

/// A 303 back to a console page with a message shown on it.
pub fn redirect_with(path: &str, message: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/console/{path}{}flash={}", if path.contains('?') { '&' } else { '?' }, super::auth::url_encode(message)),
        ))
        .finish()
}

/// A table with a caption; cells are HTML already.
pub fn table(caption: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let head: String = headers.iter().map(|name| format!(r#"<th scope="col">{}</th>"#, esc(name))).collect();
    let body: String =
        rows.iter().map(|row| format!("<tr>{}</tr>", row.iter().map(|cell| format!("<td>{cell}</td>")).collect::<String>())).collect();
    let empty =
        if rows.is_empty() { format!(r#"<tr><td colspan="{}" class="empty">nothing yet</td></tr>"#, headers.len()) } else { String::new() };
    format!(r#"<table><caption>{}</caption><thead><tr>{head}</tr></thead><tbody>{body}{empty}</tbody></table>"#, esc(caption))
}

/// A number with at most `digits` decimals, trailing zeros kept for alignment.
pub fn num(value: f64, digits: usize) -> String {
    if value.is_finite() {
        format!("{value:.digits$}")
    } else {
        "–".to_string()
    }
}

/// UTC milliseconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// A small form posting one action with the session's CSRF token; `fields` are hidden inputs.
pub fn action_button(action: &str, label: &str, csrf: &str, fields: &[(&str, &str)]) -> String {
    let hidden: String =
        fields.iter().map(|(name, value)| format!(r#"<input type="hidden" name="{}" value="{}">"#, esc(name), esc(value))).collect();
    format!(
        r#"<form method="post" action="{}" class="inline"><input type="hidden" name="csrf" value="{}">{hidden}<button type="submit">{}</button></form>"#,
        esc(action),
        esc(csrf),
        esc(label)
    )
}
