//! Console login: the admin's password hash or token from `[console]`, server-side sessions in a
//! `HttpOnly; SameSite=Strict` cookie, and a per-session CSRF token every form posts back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::HttpRequest;
use agora_core::config::{parse_password_hash, ConsoleConfig, PASSWORD_HASH_SCHEME};
use agora_core::constant_time_eq;
use sha2::Sha256;

/// The session cookie's name.
pub const COOKIE: &str = "agora_console";

/// Rounds `agora console-password` uses for new hashes.
const NEW_HASH_ROUNDS: u32 = 200_000;

/// One logged-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    /// Posted back by every form of this session.
    pub csrf: String,
    expires: Instant,
}

/// Every live session, by the random id its cookie holds.
pub struct Sessions {
    config: ConsoleConfig,
    live: Mutex<HashMap<String, Session>>,
}

/// Why a request is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No valid session (or token): log in first.
    NotLoggedIn,
    /// A form without this session's CSRF token, or from another origin.
    Forged,
}

impl Sessions {
    pub fn new(config: ConsoleConfig) -> Self {
        Self { config, live: Mutex::new(HashMap::new()) }
    }

    /// Whether any login method is configured.
    pub fn login_configured(&self) -> bool {
        self.config.password_hash.is_some() || self.config.admin_token.is_some()
    }

    /// The `[console]` section the sessions follow.
    pub fn config(&self) -> &ConsoleConfig {
        &self.config
    }

    /// Starts a session and returns its id.
    pub fn open(&self) -> String {
        let id = random_token();
        let session = Session { csrf: random_token(), expires: Instant::now() + self.ttl() };
        let mut live = self.live.lock().expect("session lock poisoned");
        live.retain(|_, session| session.expires > Instant::now());
        live.insert(id.clone(), session);
        id
    }

    /// Ends the session of this request, if any.
    pub fn close(&self, request: &HttpRequest) {
        if let Some(id) = session_id(request) {
            self.live.lock().expect("session lock poisoned").remove(&id);
        }
    }

    /// The live session of this request (renewing its expiry), or why there is none.
    ///
    /// # Errors
    /// [`Refusal::NotLoggedIn`].
    pub fn session(&self, request: &HttpRequest) -> Result<Session, Refusal> {
        let id = session_id(request).ok_or(Refusal::NotLoggedIn)?;
        let mut live = self.live.lock().expect("session lock poisoned");
        let session = live.get_mut(&id).filter(|session| session.expires > Instant::now()).ok_or(Refusal::NotLoggedIn)?;
        session.expires = Instant::now() + self.ttl();
        Ok(session.clone())
    }

    /// A session, or the admin token as `Authorization: Bearer` (the console's JSON API).
    ///
    /// # Errors
    /// [`Refusal::NotLoggedIn`].
    pub fn session_or_token(&self, request: &HttpRequest) -> Result<(), Refusal> {
        let bearer = request.headers().get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()?.strip_prefix("Bearer "));
        if let (Some(given), Some(token)) = (bearer, &self.config.admin_token) {
            if constant_time_eq(given.trim().as_bytes(), token.as_bytes()) {
                return Ok(());
            }
        }
        self.session(request).map(|_| ())
    }

    /// A state-changing form: needs a session, its CSRF token, and no foreign `Origin`.
    ///
    /// # Errors
    /// [`Refusal::NotLoggedIn`] or [`Refusal::Forged`].
    pub fn check_form(&self, request: &HttpRequest, csrf: &str) -> Result<Session, Refusal> {
        let session = self.session(request)?;
        if !same_origin(request) || !constant_time_eq(csrf.as_bytes(), session.csrf.as_bytes()) {
            return Err(Refusal::Forged);
        }
        Ok(session)
    }

    /// The `Set-Cookie` value that stores a session id in the browser.
    pub fn cookie(&self, id: &str) -> String {
        let secure = if self.config.secure_cookie { "; Secure" } else { "" };
        format!("{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}", self.ttl().as_secs())
    }

    /// The `Set-Cookie` value that removes the session cookie.
    pub fn expired_cookie(&self) -> String {
        format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
    }

    fn ttl(&self) -> Duration {
        Duration::from_secs(self.config.session_minutes * 60)
    }
}

/// The login page's URL that comes back to `request`'s page afterwards.
pub fn login_location(request: &HttpRequest) -> String {
    let next = request.uri().path_and_query().map_or("/console", |path| path.as_str());
    format!("/console/login?next={}", url_encode(next))
}

/// Whether a browser's `Origin` (sent with cross-site posts) is this host; absent counts as same.
fn same_origin(request: &HttpRequest) -> bool {
    let Some(origin) = request.headers().get(header::ORIGIN).and_then(|value| value.to_str().ok()) else { return true };
    let host = request.connection_info().host().to_string();
    origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")).is_some_and(|rest| rest == host)
}

fn session_id(request: &HttpRequest) -> Option<String> {
    let cookies = request.headers().get(header::COOKIE)?.to_str().ok()?;
    cookies.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(name, _)| *name == COOKIE).map(|(_, id)| id.to_string())
}

/// 256 random bits as hex.
fn random_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Checks a login form: the admin's name with the password, or the admin token as password.
pub fn check_login(config: &ConsoleConfig, user: &str, password: &str) -> bool {
    let token_ok = config.admin_token.as_ref().is_some_and(|token| constant_time_eq(token.as_bytes(), password.as_bytes()));
    let user_ok = constant_time_eq(user.as_bytes(), config.admin_user.as_bytes());
    let password_ok = config.password_hash.as_deref().is_some_and(|hash| verify_password(password, hash));
    token_ok || (user_ok && password_ok)
}

/// Checks a password against a `pbkdf2-sha256$ROUNDS$SALT$HASH` string in constant time.
pub fn verify_password(password: &str, hash: &str) -> bool {
    let Ok(parsed) = parse_password_hash(hash) else { return false };
    let mut derived = vec![0u8; parsed.hash.len()];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &parsed.salt, parsed.rounds, &mut derived);
    constant_time_eq(&derived, &parsed.hash)
}

/// A new `pbkdf2-sha256` hash of `password` with a random salt (`agora console-password`).
pub fn hash_password(password: &str) -> String {
    let salt = *uuid::Uuid::new_v4().as_bytes();
    let mut derived = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, NEW_HASH_ROUNDS, &mut derived);
    format!("{PASSWORD_HASH_SCHEME}${NEW_HASH_ROUNDS}${}${}", hex(&salt), hex(&derived))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Percent-encodes everything but unreserved characters and `/`.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(ConsoleConfig {
            password_hash: Some(hash_password("correct horse")),
            admin_token: Some("token-0123456789abcdef".into()),
            ..ConsoleConfig::default()
        })
    }

    #[test]
    fn passwords_and_tokens_log_in_and_nothing_else_does() {
        let sessions = sessions();
        let config = sessions.config();
        assert!(check_login(config, "admin", "correct horse"));
        assert!(check_login(config, "anyone", "token-0123456789abcdef"));
        assert!(!check_login(config, "admin", "correct horse!"));
        assert!(!check_login(config, "root", "correct horse"));
        assert!(!check_login(config, "admin", ""));
        assert!(!check_login(&ConsoleConfig::default(), "admin", ""));
    }

    #[test]
    fn sessions_need_their_cookie_and_forms_their_csrf_token() {
        let sessions = sessions();
        let id = sessions.open();
        let with_cookie = TestRequest::default().insert_header((header::COOKIE, format!("other=1; {COOKIE}={id}"))).to_http_request();
        let session = sessions.session(&with_cookie).unwrap();
        assert!(sessions.check_form(&with_cookie, &session.csrf).is_ok());
        assert_eq!(sessions.check_form(&with_cookie, "guess").unwrap_err(), Refusal::Forged);
        let foreign = TestRequest::default()
            .insert_header((header::COOKIE, format!("{COOKIE}={id}")))
            .insert_header((header::ORIGIN, "http://evil.example"))
            .to_http_request();
        assert_eq!(sessions.check_form(&foreign, &session.csrf).unwrap_err(), Refusal::Forged);
        let stranger = TestRequest::default().insert_header((header::COOKIE, format!("{COOKIE}=nope"))).to_http_request();
        assert_eq!(sessions.session(&stranger).unwrap_err(), Refusal::NotLoggedIn);
        sessions.close(&with_cookie);
        assert_eq!(sessions.session(&with_cookie).unwrap_err(), Refusal::NotLoggedIn);
        let cookie = sessions.cookie(&id);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    }

    #[test]
    fn the_bearer_token_opens_the_json_api() {
        let sessions = sessions();
        let bearer = TestRequest::default().insert_header((header::AUTHORIZATION, "Bearer token-0123456789abcdef")).to_http_request();
        assert!(sessions.session_or_token(&bearer).is_ok());
        let wrong = TestRequest::default().insert_header((header::AUTHORIZATION, "Bearer nope")).to_http_request();
        assert!(sessions.session_or_token(&wrong).is_err());
    }
}
