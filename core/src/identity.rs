//! Identity stitching: an anonymous event (a session, no user) belongs to the user its session logs in as.
//!
//! The cleaner stores an event that names a session but no user under the pseudo-user
//! [`anonymous_user`]`(session)`. An event that names both a user and a session is a login: it
//! links the session to the user, and every event of that session, earlier or later, is then
//! attributed to the user. Events are never rewritten: attribution is computed from the links
//! when the data is read ([`IdentityLinks::resolve`]), so an operator can unlink a session (or
//! link it to someone else) and the original attribution comes back exactly. Operator decisions
//! are stored as overrides ([`Override`]) that win over the logins; every change is logged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::Event;

/// The user id prefix of anonymous events: `anon:` + the session id.
pub const ANONYMOUS_PREFIX: &str = "anon:";

/// The pseudo-user an anonymous event of `session` is stored under.
pub fn anonymous_user(session: &str) -> String {
    format!("{ANONYMOUS_PREFIX}{session}")
}

/// The session of an anonymous pseudo-user, or `None` for a real user id.
pub fn anonymous_session(user_id: &str) -> Option<&str> {
    user_id.strip_prefix(ANONYMOUS_PREFIX)
}

/// A session's link to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub user: String,
    /// When the session logged in (or the operator linked it), Unix ms.
    pub at: i64,
    /// Whether an operator made this link rather than a login event.
    pub by_operator: bool,
}

/// An operator's decision about one session, stored and applied after the logins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// The user the session belongs to; `None`: it stays anonymous whatever its logins say.
    pub user: Option<String>,
    /// When the operator decided, Unix ms.
    pub at: i64,
}

/// One change to the links, for audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum LinkChange {
    Linked { session: String, user: String, at: i64 },
    Unlinked { session: String, user: String, at: i64 },
}

/// The session → user links and their history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityLinks {
    links: BTreeMap<String, Link>,
    log: Vec<LinkChange>,
}

impl IdentityLinks {
    /// The links that `events` (in time order) make, with the operator's `overrides` applied.
    pub fn build<'a>(events: impl IntoIterator<Item = &'a Event>, overrides: &[(String, Override)]) -> Self {
        let mut links = Self::default();
        for event in events {
            links.observe(event);
        }
        for (session, decision) in overrides {
            match &decision.user {
                Some(user) => {
                    links.link(session, user, decision.at, true);
                }
                None => {
                    links.unlink(session, decision.at);
                }
            }
        }
        links
    }

    /// Links the session of a login event (one that names a real user and a session) unless the
    /// session is linked already: the first login of a session decides.
    pub fn observe(&mut self, event: &Event) {
        if let Some(session) = event.session.as_deref().filter(|session| !session.is_empty()) {
            if anonymous_session(&event.user_id).is_none() && !self.links.contains_key(session) {
                self.link(session, &event.user_id, event.ts, false);
            }
        }
    }

    /// Links `session` to `user`; returns the link it replaced, if the session was linked to
    /// someone else (a shared device). Linking the same user again changes nothing.
    pub fn link(&mut self, session: &str, user: &str, at: i64, by_operator: bool) -> Option<Link> {
        if self.links.get(session).is_some_and(|link| link.user == user) {
            return None;
        }
        let previous = self.links.insert(session.to_string(), Link { user: user.to_string(), at, by_operator });
        if let Some(previous) = &previous {
            self.log.push(LinkChange::Unlinked { session: session.into(), user: previous.user.clone(), at });
        }
        self.log.push(LinkChange::Linked { session: session.into(), user: user.into(), at });
        previous
    }

    /// Removes the session's link: its anonymous events are anonymous again.
    pub fn unlink(&mut self, session: &str, at: i64) -> Option<Link> {
        let removed = self.links.remove(session);
        if let Some(link) = &removed {
            self.log.push(LinkChange::Unlinked { session: session.into(), user: link.user.clone(), at });
        }
        removed
    }

    /// The user a stored user id stands for: the linked user of an anonymous session, else the id itself.
    pub fn resolve<'a>(&'a self, user_id: &'a str) -> &'a str {
        anonymous_session(user_id).and_then(|session| self.links.get(session)).map_or(user_id, |link| link.user.as_str())
    }

    /// The link of a session.
    pub fn link_of(&self, session: &str) -> Option<&Link> {
        self.links.get(session)
    }

    /// The sessions linked to a user, with their links.
    pub fn sessions_of<'a>(&'a self, user: &'a str) -> impl Iterator<Item = (&'a str, &'a Link)> + 'a {
        self.links.iter().filter(move |(_, link)| link.user == user).map(|(session, link)| (session.as_str(), link))
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
    use crate::record::EventKind;

    fn event(user: Option<&str>, session: &str, ts: i64) -> Event {
        Event {
            user_id: user.map_or_else(|| anonymous_user(session), String::from),
            item_id: "i1".into(),
            kind: EventKind::View,
            value: None,
            ts,
            session: Some(session.into()),
        }
    }

    fn owners(links: &IdentityLinks, events: &[Event]) -> Vec<String> {
        events.iter().map(|event| links.resolve(&event.user_id).to_string()).collect()
    }

    #[test]
    fn a_login_attributes_the_sessions_earlier_and_later_events() {
        let events = [event(None, "s1", 1), event(None, "s1", 2), event(Some("u7"), "s1", 3), event(None, "s1", 4), event(None, "s2", 5)];
        let links = IdentityLinks::build(&events, &[]);
        assert_eq!(owners(&links, &events), ["u7", "u7", "u7", "u7", "anon:s2"]);
        assert_eq!(links.sessions_of("u7").map(|(session, _)| session).collect::<Vec<_>>(), ["s1"]);
        assert_eq!(links.resolve("u9"), "u9", "real ids are themselves");
    }

    #[test]
    fn operator_overrides_unlink_and_relink_and_are_logged() {
        let events = [event(None, "s1", 1), event(Some("u7"), "s1", 3), event(Some("u8"), "s1", 4)];
        let unlinked = IdentityLinks::build(&events, &[("s1".into(), Override { user: None, at: 10 })]);
        assert_eq!(owners(&unlinked, &events), ["anon:s1", "u7", "u8"], "the events' own users stay");
        assert!(matches!(&unlinked.history()[1], LinkChange::Unlinked { session, user, at: 10 } if session == "s1" && user == "u7"));
        let relinked = IdentityLinks::build(&events, &[("s1".into(), Override { user: Some("u8".into()), at: 11 })]);
        assert_eq!(owners(&relinked, &events)[0], "u8");
        assert!(relinked.link_of("s1").is_some_and(|link| link.by_operator));
        assert_eq!(relinked.history().len(), 3, "linked u7, unlinked u7, linked u8");
    }

    #[test]
    fn events_without_a_session_link_nothing() {
        let mut login = event(Some("u7"), "s1", 1);
        login.session = None;
        assert!(IdentityLinks::build([&login], &[]).is_empty());
        login.session = Some(String::new());
        assert!(IdentityLinks::build([&login], &[]).is_empty());
    }
}
