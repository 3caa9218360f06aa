//! Identity stitching: when an anonymous session logs in, the session id is linked to the user
//! id and the session's earlier (and later) anonymous events are attributed to that user. Events
//! are never rewritten: attribution is computed from the links, so unlinking a session restores
//! the original attribution exactly. Every change is logged. The whole state is a plain
//! serde-serialisable value; persistence is the caller's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A session's link to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub user: String,
    /// When the session logged in (ms).
    pub at: i64,
}

/// One change to the links, for audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum LinkChange {
    Linked { session: String, user: String, at: i64 },
    Unlinked { session: String, user: String, at: i64 },
}

/// An event as stitching sees it: the session it happened in and the user it names, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEvent {
    pub session: String,
    pub user: Option<String>,
    pub ts: i64,
}

/// The session → user links and their history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityLinks {
    links: BTreeMap<String, Link>,
    log: Vec<LinkChange>,
}

impl IdentityLinks {
    /// No links.
    pub fn new() -> Self {
        Self::default()
    }

    /// Links `session` to `user` (a login at `at`); returns the link it replaced, if the session
    /// was linked to someone else (a shared device). Linking the same user again changes nothing.
    pub fn link(&mut self, session: &str, user: &str, at: i64) -> Option<Link> {
        if self.links.get(session).is_some_and(|link| link.user == user) {
            return None;
        }
        let previous = self.links.insert(session.to_string(), Link { user: user.to_string(), at });
        if let Some(previous) = &previous {
            self.log.push(LinkChange::Unlinked { session: session.into(), user: previous.user.clone(), at });
        }
        self.log.push(LinkChange::Linked { session: session.into(), user: user.into(), at });
        previous
    }

    /// Removes the session's link; its anonymous events are anonymous again.
    pub fn unlink(&mut self, session: &str, at: i64) -> Option<Link> {
        let removed = self.links.remove(session);
        if let Some(link) = &removed {
            self.log.push(LinkChange::Unlinked { session: session.into(), user: link.user.clone(), at });
        }
        removed
    }

    /// Links sessions from the events that name both a session and a user (logins).
    pub fn observe(&mut self, events: &[SessionEvent]) {
        for event in events {
            if let Some(user) = &event.user {
                if !event.session.is_empty() && !self.links.contains_key(&event.session) {
                    self.link(&event.session, user, event.ts);
                }
            }
        }
    }

    /// The user a session is linked to.
    pub fn user_of(&self, session: &str) -> Option<&str> {
        self.links.get(session).map(|link| link.user.as_str())
    }

    /// The sessions linked to a user.
    pub fn sessions_of(&self, user: &str) -> Vec<&str> {
        self.links.iter().filter(|(_, link)| link.user == user).map(|(session, _)| session.as_str()).collect()
    }

    /// Who an event belongs to: the user it names, else its session's linked user.
    pub fn attribute<'a>(&'a self, event: &'a SessionEvent) -> Option<&'a str> {
        event.user.as_deref().or_else(|| self.user_of(&event.session))
    }

    /// [`Self::attribute`] for each event.
    pub fn attribute_all<'a>(&'a self, events: &'a [SessionEvent]) -> Vec<Option<&'a str>> {
        events.iter().map(|event| self.attribute(event)).collect()
    }

    /// Every change so far, oldest first.
    pub fn history(&self) -> &[LinkChange] {
        &self.log
    }

    /// How many sessions are linked.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Whether no session is linked.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(session: &str, user: Option<&str>, ts: i64) -> SessionEvent {
        SessionEvent { session: session.into(), user: user.map(String::from), ts }
    }

    #[test]
    fn a_login_attributes_earlier_events_and_unlink_restores_them() {
        let events = vec![event("s1", None, 1), event("s1", None, 2), event("s1", Some("u7"), 3), event("s2", None, 4)];
        let mut links = IdentityLinks::new();
        assert_eq!(links.attribute_all(&events), vec![None, None, Some("u7"), None]);
        links.observe(&events);
        assert_eq!(links.attribute_all(&events), vec![Some("u7"), Some("u7"), Some("u7"), None]);
        assert_eq!(links.sessions_of("u7"), vec!["s1"]);

        let saved = serde_json::to_string(&links).unwrap();
        let mut restored: IdentityLinks = serde_json::from_str(&saved).unwrap();
        assert_eq!(restored, links);

        assert_eq!(restored.unlink("s1", 10).map(|link| link.user), Some("u7".into()));
        assert_eq!(restored.attribute_all(&events), vec![None, None, Some("u7"), None]);
        assert_eq!(restored.history().len(), 2);
        assert!(matches!(&restored.history()[1], LinkChange::Unlinked { session, user, at: 10 } if session == "s1" && user == "u7"));
    }

    #[test]
    fn relinking_a_session_to_another_user_is_logged() {
        let mut links = IdentityLinks::new();
        assert!(links.link("s", "a", 1).is_none());
        assert!(links.link("s", "a", 2).is_none());
        assert_eq!(links.link("s", "b", 3).map(|l| l.user), Some("a".into()));
        assert_eq!(links.user_of("s"), Some("b"));
        assert_eq!(links.history().len(), 3);
    }
}
