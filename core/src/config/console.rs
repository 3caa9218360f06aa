//! `[console]`: the admin web console at `/console` — who may log in and how long a session lasts.

use serde::{Deserialize, Serialize};

/// The prefix of a password hash this build verifies: `pbkdf2-sha256$ROUNDS$SALT_HEX$HASH_HEX`.
pub const PASSWORD_HASH_SCHEME: &str = "pbkdf2-sha256";

/// The admin console and its admin JSON API (`/console/...`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Serve the console under `agora serve`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The admin's login name.
    #[serde(default = "default_user")]
    pub admin_user: String,
    /// The admin's password as `pbkdf2-sha256$ROUNDS$SALT_HEX$HASH_HEX`; make one with
    /// `agora console-password`. Unset: password login is off.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// A token that logs in as the admin (in the login form, or as `Authorization: Bearer` on
    /// the console's JSON API); at least 16 characters. Unset: token login is off.
    #[serde(default)]
    pub admin_token: Option<String>,
    /// A session ends after this many minutes without a request.
    #[serde(default = "default_session_minutes")]
    pub session_minutes: u64,
    /// Mark the session cookie `Secure` (serve the console over HTTPS behind a proxy).
    #[serde(default)]
    pub secure_cookie: bool,
}

fn default_true() -> bool {
    true
}
fn default_user() -> String {
    "admin".to_string()
}
fn default_session_minutes() -> u64 {
    480
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            admin_user: default_user(),
            password_hash: None,
            admin_token: None,
            session_minutes: default_session_minutes(),
            secure_cookie: false,
        }
    }
}

impl ConsoleConfig {
    /// Adds every problem with this section to `problems`, naming the key.
    pub fn validate(&self, problems: &mut Vec<String>) {
        if self.admin_user.trim().is_empty() {
            problems.push("console.admin_user: must not be empty".to_string());
        }
        if let Some(hash) = &self.password_hash {
            if let Err(why) = parse_password_hash(hash) {
                problems.push(format!("console.password_hash: {why}; make one with `agora console-password`"));
            }
        }
        if self.admin_token.as_ref().is_some_and(|token| token.chars().count() < 16) {
            problems.push("console.admin_token: must be at least 16 characters".to_string());
        }
        if self.session_minutes == 0 {
            problems.push("console.session_minutes: must be at least 1".to_string());
        }
    }
}

/// A parsed password hash: rounds, salt and derived key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordHash {
    pub rounds: u32,
    pub salt: Vec<u8>,
    pub hash: Vec<u8>,
}

/// Parses `pbkdf2-sha256$ROUNDS$SALT_HEX$HASH_HEX`.
///
/// # Errors
/// A message saying which part is wrong.
pub fn parse_password_hash(text: &str) -> Result<PasswordHash, String> {
    let parts: Vec<&str> = text.split('$').collect();
    let [scheme, rounds, salt, hash] = parts[..] else {
        return Err(format!("expected {PASSWORD_HASH_SCHEME}$ROUNDS$SALT_HEX$HASH_HEX"));
    };
    if scheme != PASSWORD_HASH_SCHEME {
        return Err(format!("scheme {scheme:?} is not {PASSWORD_HASH_SCHEME:?}"));
    }
    let rounds: u32 = rounds.parse().map_err(|_| format!("rounds {rounds:?} is not a number"))?;
    if rounds < 10_000 {
        return Err(format!("{rounds} rounds is too few (at least 10000)"));
    }
    let salt = hex_decode(salt).ok_or("the salt is not hex")?;
    let hash = hex_decode(hash).ok_or("the hash is not hex")?;
    if salt.len() < 8 || hash.len() < 16 {
        return Err("the salt needs at least 8 bytes and the hash 16".to_string());
    }
    Ok(PasswordHash { rounds, salt, hash })
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len()).step_by(2).map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_parse_and_bad_ones_name_the_part() {
        let good = format!("{PASSWORD_HASH_SCHEME}$100000$00112233445566778899$00112233445566778899aabbccddeeff");
        assert_eq!(parse_password_hash(&good).unwrap().rounds, 100_000);
        assert!(parse_password_hash("plain").unwrap_err().contains("expected"));
        assert!(parse_password_hash("md5$1$aa$bb").unwrap_err().contains("scheme"));
        assert!(parse_password_hash(&good.replace("100000", "10")).unwrap_err().contains("too few"));
        assert!(parse_password_hash(&good.replace("0011223344556677889", "zz11223344556677889")).unwrap_err().contains("salt"));
    }

    #[test]
    fn validation_names_the_key() {
        let config = ConsoleConfig { admin_token: Some("short".into()), password_hash: Some("x".into()), ..ConsoleConfig::default() };
        let mut problems = Vec::new();
        config.validate(&mut problems);
        assert!(problems.iter().any(|p| p.starts_with("console.admin_token")));
        assert!(problems.iter().any(|p| p.starts_with("console.password_hash")));
    }
}
