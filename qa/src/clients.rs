//! Who may ask: the chatbot clients of `[[qa.clients]]`, each with its API key and a rate limit
//! (a token bucket per key that holds a minute's allowance and refills continuously).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use agora_core::config::QaClient;
use agora_core::constant_time_eq;

/// Why a call was refused.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// `qa.clients` is empty: nobody may call.
    NoClients,
    /// No key was sent.
    MissingKey,
    /// The key is not any client's.
    UnknownKey,
    /// The client spent its allowance; it may try again after this many seconds.
    RateLimited { client: String, retry_after_s: u64 },
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// The configured clients and what each has left of its allowance.
pub struct ClientGate {
    clients: Vec<QaClient>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl ClientGate {
    pub fn new(clients: Vec<QaClient>) -> Self {
        Self { clients, buckets: Mutex::new(HashMap::new()) }
    }

    /// The client that sent `key`, if it may ask now (spending one request of its allowance).
    ///
    /// # Errors
    /// The reason it may not.
    pub fn admit(&self, key: Option<&str>, now: Instant) -> Result<&str, Refusal> {
        if self.clients.is_empty() {
            return Err(Refusal::NoClients);
        }
        let key = key.filter(|key| !key.is_empty()).ok_or(Refusal::MissingKey)?;
        // Compare against every key, so the time taken does not tell which prefix matched.
        let client =
            self.clients
                .iter()
                .fold(None, |found, client| if constant_time_eq(client.key.as_bytes(), key.as_bytes()) { Some(client) } else { found });
        let client = client.ok_or(Refusal::UnknownKey)?;
        let per_minute = f64::from(client.requests_per_minute.max(1));
        let mut buckets = self.buckets.lock().expect("rate limit lock");
        let bucket = buckets.entry(client.name.clone()).or_insert(Bucket { tokens: per_minute, refilled: now });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_minute / 60.0).min(per_minute);
        bucket.refilled = now;
        if bucket.tokens < 1.0 {
            let retry_after_s = ((1.0 - bucket.tokens) * 60.0 / per_minute).ceil().max(1.0) as u64;
            return Err(Refusal::RateLimited { client: client.name.clone(), retry_after_s });
        }
        bucket.tokens -= 1.0;
        Ok(&client.name)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn gate(per_minute: u32) -> ClientGate {
        ClientGate::new(vec![QaClient { name: "bot".into(), key: "k".repeat(20), requests_per_minute: per_minute }])
    }

    #[test]
    fn keys_are_checked() {
        let gate = gate(10);
        let now = Instant::now();
        assert_eq!(gate.admit(Some(&"k".repeat(20)), now), Ok("bot"));
        assert_eq!(gate.admit(None, now), Err(Refusal::MissingKey));
        assert_eq!(gate.admit(Some(""), now), Err(Refusal::MissingKey));
        assert_eq!(gate.admit(Some("kkk"), now), Err(Refusal::UnknownKey));
        assert_eq!(ClientGate::new(Vec::new()).admit(Some("k"), now), Err(Refusal::NoClients));
    }

    #[test]
    fn the_allowance_runs_out_and_refills() {
        let gate = gate(60);
        let key = "k".repeat(20);
        let start = Instant::now();
        for _ in 0..60 {
            assert!(gate.admit(Some(&key), start).is_ok());
        }
        assert_eq!(gate.admit(Some(&key), start), Err(Refusal::RateLimited { client: "bot".into(), retry_after_s: 1 }));
        // One request a second comes back.
        assert!(gate.admit(Some(&key), start + Duration::from_millis(1100)).is_ok());
        assert!(gate.admit(Some(&key), start + Duration::from_millis(1100)).is_err());
    }
}
