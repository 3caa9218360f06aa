//! The admin web console at `/console`: server-rendered pages over the same engine handles the
//! JSON API uses, behind an admin login. Assets are compiled into the binary.

mod auth;
mod chart;
mod layout;
mod pages;

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use serde::Deserialize;

pub use auth::{hash_password, Sessions};

use crate::app::Node;
use auth::{login_location, Refusal, Session};
use layout::{esc, html_response};

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// Registers the console's routes (nothing when `console.enabled` is false).
pub fn configure(node: &Node, cfg: &mut web::ServiceConfig) {
    if !node.config.console.enabled {
        return;
    }
    let sessions = web::Data::from(node.console_sessions.clone());
    cfg.service(
        web::scope("/console")
            .app_data(sessions)
            .app_data(web::FormConfig::default().limit(64 * 1024))
            .route("", web::get().to(|| async { redirect("/console/overview") }))
            .route("/", web::get().to(|| async { redirect("/console/overview") }))
            .route("/login", web::get().to(login_page))
            .route("/login", web::post().to(login))
            .route("/logout", web::post().to(logout))
            .route("/assets/console.css", web::get().to(|| async { asset("text/css; charset=utf-8", CSS) }))
            .route("/assets/console.js", web::get().to(|| async { asset("text/javascript; charset=utf-8", JS) }))
            .route("/api/agents", web::get().to(pages::overview::agents_json))
            .route("/overview", web::get().to(pages::overview::page))
            .route("/sources", web::get().to(pages::sources::page))
            .route("/sources/pause", web::post().to(pages::sources::set_paused))
            .route("/quality", web::get().to(pages::quality::page))
            .route("/quality/replay", web::post().to(pages::quality::replay))
            .route("/matches", web::get().to(pages::matches::page))
            .route("/matches/verdict", web::post().to(pages::matches::verdict))
            .route("/matches/run", web::post().to(pages::matches::run))
            .route("/plugins", web::get().to(pages::plugins::page))
            .route("/plugins/load", web::post().to(pages::plugins::load))
            .route("/models", web::get().to(pages::models::page))
            .route("/recommendations", web::get().to(pages::recommendations::page))
            .route("/forecasts", web::get().to(pages::forecasts::page))
            .route("/qa", web::get().to(pages::playground::page))
            .route("/qa", web::post().to(pages::playground::ask))
            .route("/settings", web::get().to(pages::settings::page))
            .default_service(web::to(not_found)),
    );
}

/// A logged-in admin: page handlers take it as an argument; without a session the request is
/// refused with a redirect to the login (which comes back here afterwards).
pub(crate) struct Admin(pub Session);

impl FromRequest for Admin {
    type Error = Refused;
    type Future = Ready<Result<Self, Refused>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(sessions(request).session(request).map(Admin).map_err(|_| Refused::NotLoggedIn(login_location(request))))
    }
}

/// Why a console request is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    /// No session: 303 to this login URL.
    #[error("log in to the console first")]
    NotLoggedIn(String),
    /// A form without this session's CSRF token, or from another origin.
    #[error("this form did not come from this console session (missing or wrong CSRF token); reload the page and try again")]
    Forged,
}

impl ResponseError for Refused {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotLoggedIn(_) => StatusCode::SEE_OTHER,
            Self::Forged => StatusCode::FORBIDDEN,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::NotLoggedIn(location) => redirect(location),
            Self::Forged => HttpResponse::Forbidden().content_type("text/plain; charset=utf-8").body(self.to_string()),
        }
    }
}

/// The session of a form post with a valid CSRF token.
///
/// # Errors
/// [`Refused`]: no session, or a forged form.
pub(crate) fn guard_form(request: &HttpRequest, csrf: &str) -> Result<Session, Refused> {
    sessions(request).check_form(request, csrf).map_err(|refusal| match refusal {
        Refusal::NotLoggedIn => Refused::NotLoggedIn(login_location(request)),
        Refusal::Forged => Refused::Forged,
    })
}

pub(crate) fn sessions(request: &HttpRequest) -> &Sessions {
    request.app_data::<web::Data<Sessions>>().expect("the console registers its sessions")
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to.to_string())).finish()
}

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type(content_type).insert_header((header::CACHE_CONTROL, "max-age=300")).body(body)
}

async fn not_found(Admin(session): Admin) -> HttpResponse {
    let mut response = layout::shell(
        "",
        "Not found",
        None,
        &session.csrf,
        r#"<p>No console page here. <a href="/console/overview">Go to the overview</a>.</p>"#,
    );
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// Query of the login page.
#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
    error: Option<String>,
}

async fn login_page(request: HttpRequest, query: web::Query<LoginQuery>) -> HttpResponse {
    let configured = sessions(&request).login_configured();
    let next = safe_next(query.next.as_deref());
    let notice = if !configured {
        r#"<p class="flash error" role="alert">No admin login is configured: set <code>console.password_hash</code> (make one with <code>agora console-password</code>) or <code>console.admin_token</code>.</p>"#.to_string()
    } else if query.error.is_some() {
        r#"<p class="flash error" role="alert">Wrong name or password.</p>"#.to_string()
    } else {
        String::new()
    };
    html_response(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · Agora console</title><link rel="stylesheet" href="/console/assets/console.css"></head>
<body class="login"><main id="main"><h1>Agora console</h1>{notice}
<form method="post" action="/console/login" class="card">
<input type="hidden" name="next" value="{next}">
<label for="user">Admin name</label><input id="user" name="user" autocomplete="username" required autofocus>
<label for="password">Password or admin token</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Log in</button></form></main></body></html>"#,
        next = esc(&next)
    ))
}

/// The login form.
#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
    next: Option<String>,
}

async fn login(request: HttpRequest, form: web::Form<LoginForm>) -> HttpResponse {
    let sessions = sessions(&request);
    let next = safe_next(form.next.as_deref());
    let form = form.into_inner();
    // The password hash costs ~0.1 s of CPU: keep it off the async workers.
    let config = sessions.config().clone();
    let checked = web::block(move || auth::check_login(&config, &form.user, &form.password)).await;
    if !matches!(checked, Ok(true)) {
        tracing::warn!(peer = ?request.peer_addr(), "console login refused");
        return redirect(&format!("/console/login?error=1&next={}", auth::url_encode(&next)));
    }
    let id = sessions.open();
    HttpResponse::SeeOther().insert_header((header::LOCATION, next)).insert_header((header::SET_COOKIE, sessions.cookie(&id))).finish()
}

/// A form with only the CSRF token.
#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(request: HttpRequest, form: web::Form<CsrfForm>) -> Result<HttpResponse, Refused> {
    guard_form(&request, &form.csrf)?;
    let sessions = sessions(&request);
    sessions.close(&request);
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/login"))
        .insert_header((header::SET_COOKIE, sessions.expired_cookie()))
        .finish())
}

/// Only console paths may be returned to after login (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with("/console/") && !path.starts_with("/console/login") && !path.contains("//") => path.to_string(),
        _ => "/console/overview".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_only_returns_to_console_pages() {
        assert_eq!(safe_next(Some("/console/quality?source=x")), "/console/quality?source=x");
        assert_eq!(safe_next(Some("https://evil.example/")), "/console/overview");
        assert_eq!(safe_next(Some("/console//evil.example")), "/console/overview");
        assert_eq!(safe_next(Some("/console/login")), "/console/overview");
        assert_eq!(safe_next(None), "/console/overview");
    }
}
