//! Sessionisation: splitting each user's events into sessions by an inactivity gap (or the source's session ids).

use std::collections::{BTreeMap, BTreeSet};

use agora_core::record::{Event, EventKind};
use serde::{Deserialize, Serialize};

/// How events are cut into sessions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionOptions {
    /// A user's next event starts a new session when it comes more than this many milliseconds
    /// after the previous one.
    pub gap_ms: i64,
    /// Group by the source's `session` field instead; a user's events without one are still cut
    /// by the gap.
    pub use_source_session: bool,
}

impl Default for SessionOptions {
    /// A 30-minute inactivity gap, source session ids ignored.
    fn default() -> Self {
        Self { gap_ms: 30 * 60_000, use_source_session: false }
    }
}

/// One session of one user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub user_id: String,
    /// The source's session id, when sessions came from it.
    pub source_session: Option<String>,
    /// The first event's timestamp, UTC milliseconds.
    pub start: i64,
    /// The last event's timestamp.
    pub end: i64,
    /// The session's events in time order (ties keep their input order).
    pub events: Vec<Event>,
    /// Distinct items the session touched.
    pub items: usize,
    /// Whether the session has a purchase event.
    pub converted: bool,
}

impl Session {
    fn from_events(events: Vec<Event>, source_session: Option<String>) -> Option<Self> {
        let first = events.first()?;
        let last = events.last()?;
        let items = events.iter().map(|e| e.item_id.as_str()).collect::<BTreeSet<_>>().len();
        Some(Self {
            user_id: first.user_id.clone(),
            source_session,
            start: first.ts,
            end: last.ts,
            items,
            converted: events.iter().any(|e| e.kind == EventKind::Purchase),
            events,
        })
    }

    /// How long the session lasted, milliseconds.
    pub fn duration_ms(&self) -> i64 {
        self.end - self.start
    }
}

/// Cuts events into sessions, sorted by (user, start, source session id).
///
/// Each user's events are put in time order first (a stable sort: equal timestamps keep their
/// input order), so the result does not depend on how the input interleaves users.
pub fn sessionize(events: &[Event], options: &SessionOptions) -> Vec<Session> {
    let mut by_user: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for event in events {
        by_user.entry(event.user_id.as_str()).or_default().push(event);
    }
    let mut sessions = Vec::new();
    for mut user_events in by_user.into_values() {
        user_events.sort_by_key(|event| event.ts);
        sessions.extend(sessionize_user(&user_events, options));
    }
    sessions
}

/// Sessions of one user's events, already in time order; sorted by (start, source session id).
pub(crate) fn sessionize_user(events: &[&Event], options: &SessionOptions) -> Vec<Session> {
    let mut sessions = Vec::new();
    let mut sessionless: Vec<&Event> = Vec::new();
    if options.use_source_session {
        let mut by_id: BTreeMap<&str, Vec<Event>> = BTreeMap::new();
        for event in events {
            match event.session.as_deref() {
                Some(id) => by_id.entry(id).or_default().push((*event).clone()),
                None => sessionless.push(event),
            }
        }
        sessions.extend(by_id.into_iter().filter_map(|(id, events)| Session::from_events(events, Some(id.to_string()))));
    } else {
        sessionless.extend(events);
    }
    let mut current: Vec<Event> = Vec::new();
    for event in sessionless {
        if current.last().is_some_and(|previous| event.ts - previous.ts > options.gap_ms) {
            sessions.extend(Session::from_events(std::mem::take(&mut current), None));
        }
        current.push(event.clone());
    }
    sessions.extend(Session::from_events(current, None));
    sessions.sort_by(|a, b| (a.start, &a.source_session).cmp(&(b.start, &b.source_session)));
    sessions
}

#[cfg(test)]
mod tests {
    use agora_core::record::EventKind::{Cart, Click, Purchase, View};

    use super::*;
    use crate::behaviour::fixture::{event, DAY0, MINUTE};

    fn with_session(mut e: Event, id: &str) -> Event {
        e.session = Some(id.to_string());
        e
    }

    /// u1: a browse-and-buy session, a 31-minute pause, a short session; u2 interleaved.
    fn fixture() -> Vec<Event> {
        vec![
            with_session(event("u1", "a", View, 0), "s1"),
            event("u2", "c", View, 5),
            with_session(event("u1", "a", Cart, 10), "s1"),
            with_session(event("u1", "b", View, 40), "s1"), // exactly 30 minutes later: same session
            with_session(event("u1", "a", Purchase, 45), "s2"),
            with_session(event("u1", "b", View, 76), "s2"), // 31 minutes later: new session
            event("u2", "c", Click, 6),
            event("u1", "b", View, 80),
        ]
    }

    #[test]
    fn cuts_sessions_by_the_inactivity_gap() {
        let sessions = sessionize(&fixture(), &SessionOptions::default());
        let shape: Vec<(&str, i64, i64, usize, usize, bool)> = sessions
            .iter()
            .map(|s| (s.user_id.as_str(), (s.start - DAY0) / MINUTE, (s.end - DAY0) / MINUTE, s.events.len(), s.items, s.converted))
            .collect();
        assert_eq!(shape, vec![("u1", 0, 45, 4, 2, true), ("u1", 76, 80, 2, 1, false), ("u2", 5, 6, 2, 1, false)]);
        assert_eq!(sessions[0].duration_ms(), 45 * MINUTE);
        let kinds: Vec<EventKind> = sessions[0].events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![View, Cart, View, Purchase]);
        // A 10-minute gap keeps a gap of exactly 10 minutes together: {0, 10}, {40, 45}, {76, 80};
        // a 9-minute gap splits it too.
        let starts = |gap: i64| -> Vec<i64> {
            let options = SessionOptions { gap_ms: gap * MINUTE, ..SessionOptions::default() };
            sessionize(&fixture(), &options).iter().filter(|s| s.user_id == "u1").map(|s| (s.start - DAY0) / MINUTE).collect()
        };
        assert_eq!(starts(10), vec![0, 40, 76]);
        assert_eq!(starts(9), vec![0, 10, 40, 76]);
    }

    #[test]
    fn uses_source_sessions_when_asked() {
        let options = SessionOptions { use_source_session: true, ..SessionOptions::default() };
        let sessions = sessionize(&fixture(), &options);
        let shape: Vec<(&str, Option<&str>, usize, bool)> =
            sessions.iter().map(|s| (s.user_id.as_str(), s.source_session.as_deref(), s.events.len(), s.converted)).collect();
        // s1 = minutes 0, 10, 40; s2 = 45, 76 (no gap cut); the sessionless view at 80 is its own.
        assert_eq!(shape, vec![("u1", Some("s1"), 3, false), ("u1", Some("s2"), 2, true), ("u1", None, 1, false), ("u2", None, 2, false)]);
    }

    #[test]
    fn equal_timestamps_keep_input_order_and_empty_input_has_no_sessions() {
        let events = vec![event("u", "a", Cart, 1), event("u", "a", View, 1)];
        let kinds: Vec<EventKind> = sessionize(&events, &SessionOptions::default())[0].events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![Cart, View]);
        assert!(sessionize(&[], &SessionOptions::default()).is_empty());
    }
}
