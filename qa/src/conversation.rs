//! Short conversation memory: per conversation id, the last product and order referred to, for
//! a limited time and for a limited number of conversations.

use std::collections::HashMap;
use std::sync::Mutex;

/// What a conversation has referred to so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The user the conversation belongs to (a conversation never crosses users).
    pub user_id: Option<String>,
    /// The last items talked about (several when a name fitted several).
    pub items: Vec<String>,
    /// The last order talked about.
    pub order_id: Option<String>,
}

struct Entry {
    context: Context,
    touched_ms: i64,
}

/// Every live conversation's context.
pub struct Conversations {
    ttl_ms: i64,
    capacity: usize,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Conversations {
    /// Contexts expire `ttl_s` seconds after their last use; at most `capacity` are kept.
    pub fn new(ttl_s: u64, capacity: usize) -> Self {
        Self { ttl_ms: (ttl_s as i64).saturating_mul(1000), capacity: capacity.max(1), entries: Mutex::new(HashMap::new()) }
    }

    /// The context of `id` at `now_ms` for `user_id`, if it has not expired and belongs to that user.
    pub fn get(&self, id: &str, user_id: Option<&str>, now_ms: i64) -> Option<Context> {
        let mut entries = self.entries.lock().expect("conversation lock");
        let entry = entries.get(id)?;
        if now_ms - entry.touched_ms > self.ttl_ms {
            entries.remove(id);
            return None;
        }
        (entry.context.user_id.as_deref() == user_id).then(|| entry.context.clone())
    }

    /// Stores `context` for `id` at `now_ms`, forgetting expired conversations and, beyond the
    /// capacity, the least recently used tenth.
    pub fn put(&self, id: &str, context: Context, now_ms: i64) {
        let mut entries = self.entries.lock().expect("conversation lock");
        if entries.len() >= self.capacity && !entries.contains_key(id) {
            entries.retain(|_, entry| now_ms - entry.touched_ms <= self.ttl_ms);
            if entries.len() >= self.capacity {
                let mut ages: Vec<i64> = entries.values().map(|entry| entry.touched_ms).collect();
                ages.sort_unstable();
                let cutoff = ages[(ages.len() / 10).min(ages.len() - 1)];
                entries.retain(|_, entry| entry.touched_ms > cutoff);
            }
        }
        entries.insert(id.to_string(), Entry { context, touched_ms: now_ms });
    }

    /// Number of conversations remembered.
    pub fn len(&self) -> usize {
        self.entries.lock().expect("conversation lock").len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(user: &str, item: &str) -> Context {
        Context { user_id: Some(user.into()), items: vec![item.into()], order_id: None }
    }

    #[test]
    fn contexts_expire_and_stay_with_their_user() {
        let conversations = Conversations::new(60, 10);
        conversations.put("c1", context("u1", "42"), 0);
        assert_eq!(conversations.get("c1", Some("u1"), 59_000).unwrap().items, ["42"]);
        assert_eq!(conversations.get("c1", Some("u2"), 59_000), None);
        assert_eq!(conversations.get("c1", None, 59_000), None);
        assert_eq!(conversations.get("c1", Some("u1"), 61_000), None);
        assert!(conversations.is_empty());
    }

    #[test]
    fn capacity_forgets_the_oldest() {
        let conversations = Conversations::new(3600, 10);
        for i in 0..25 {
            conversations.put(&format!("c{i}"), context("u", "1"), i);
        }
        assert!(conversations.len() <= 10);
        assert!(conversations.get("c24", Some("u"), 24).is_some());
        assert!(conversations.get("c0", Some("u"), 24).is_none());
    }
}
