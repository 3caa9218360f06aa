//! The view → cart → purchase funnel per category and period, counted over sessions or users.

use std::collections::{BTreeMap, HashMap};

use agora_core::record::{Event, EventKind, Item};
use serde::{Deserialize, Serialize};

use super::sessions::Session;
use crate::calendar::{date_label, day_of, day_start_ms, month_label, month_of, month_start_day, week_start_day};

/// The category of the rows that count every event whatever its item's category.
pub const ALL_CATEGORIES: &str = "*";

/// Which category each item belongs to, for per-category funnels.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryMap {
    items: HashMap<String, String>,
}

impl CategoryMap {
    /// An empty map: every item is in the options' unknown category.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps each item to the first `depth` levels of its category path joined by " > " (depth 1:
    /// the top level, "Beauty"; depth 2: "Beauty > Hair"). Items without categories are left out.
    pub fn from_items(items: &[Item], depth: usize) -> Self {
        let mut map = Self::new();
        map.add_items(items, depth);
        map
    }

    /// Adds (or replaces) the categories of more items, as [`CategoryMap::from_items`].
    pub fn add_items(&mut self, items: &[Item], depth: usize) {
        for item in items {
            let path: Vec<&str> = item.categories.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).take(depth.max(1)).collect();
            if !path.is_empty() {
                self.items.insert(item.item_id.clone(), path.join(" > "));
            }
        }
    }

    /// Puts one item in a category.
    pub fn insert(&mut self, item_id: impl Into<String>, category: impl Into<String>) {
        self.items.insert(item_id.into(), category.into());
    }

    /// The category of an item, if known.
    pub fn category(&self, item_id: &str) -> Option<&str> {
        self.items.get(item_id).map(String::as_str)
    }

    /// Items mapped.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no item is mapped.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// What the funnel counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FunnelUnit {
    /// Each session counts once per (category, period).
    Session,
    /// Each user counts once per (category, period), at the furthest step any of their sessions reached.
    User,
}

/// The calendar buckets of the funnel, by session start (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    /// ISO weeks, starting on Monday.
    Week,
    Month,
    /// One bucket for everything.
    All,
}

impl Period {
    /// The start (UTC milliseconds; 0 for `All`) and label of the bucket holding `ts`.
    pub fn bucket(self, ts: i64) -> (i64, String) {
        match self {
            Self::Day => (day_start_ms(day_of(ts)), date_label(day_of(ts))),
            Self::Week => {
                let monday = week_start_day(day_of(ts));
                (day_start_ms(monday), date_label(monday))
            }
            Self::Month => {
                let month = month_of(ts);
                (day_start_ms(month_start_day(month)), month_label(month))
            }
            Self::All => (0, "all".to_string()),
        }
    }
}

/// How the funnel is counted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FunnelOptions {
    pub unit: FunnelUnit,
    pub period: Period,
    /// Whether a click counts as viewing its item.
    pub clicks_count_as_views: bool,
    /// The category of items the [`CategoryMap`] does not know.
    pub unknown_category: String,
}

impl Default for FunnelOptions {
    /// Sessions per month, clicks not counted as views, unmapped items in "unknown".
    fn default() -> Self {
        Self { unit: FunnelUnit::Session, period: Period::Month, clicks_count_as_views: false, unknown_category: "unknown".to_string() }
    }
}

/// The funnel of one (category, period).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunnelRow {
    /// The category, or [`ALL_CATEGORIES`].
    pub category: String,
    /// The period's label: `YYYY-MM-DD` (days; weeks by their Monday), `YYYY-MM`, or `all`.
    pub period: String,
    /// The period's start, UTC milliseconds (0 for `all`).
    pub period_start: i64,
    /// Sessions (or users) with any event in the category.
    pub units: u64,
    /// ... that viewed an item of it.
    pub viewed: u64,
    /// ... that then put one in the cart.
    pub carted: u64,
    /// ... that then bought one.
    pub purchased: u64,
    /// carted / viewed (None when nothing was viewed).
    pub view_to_cart: Option<f64>,
    /// purchased / carted.
    pub cart_to_purchase: Option<f64>,
    /// purchased / viewed.
    pub view_to_purchase: Option<f64>,
}

/// The furthest funnel step (0 none, 1 viewed, 2 carted, 3 purchased) reached in order by a
/// time-ordered sequence of events: a cart counts only after a view, a purchase only after a cart.
fn reached<'a>(events: impl Iterator<Item = &'a Event>, clicks_count_as_views: bool) -> u8 {
    let mut step = 0;
    for event in events {
        step = match (step, event.kind) {
            (0, EventKind::View) => 1,
            (0, EventKind::Click) if clicks_count_as_views => 1,
            (1, EventKind::Cart) => 2,
            (2, EventKind::Purchase) => 3,
            (step, _) => step,
        };
        if step == 3 {
            break;
        }
    }
    step
}

/// Counts the view → cart → purchase funnel per category and period, with conversion rates.
///
/// A session reaches a step in a category when, among its events on that category's items and
/// in time order, a view is followed by a cart and then by a purchase (not necessarily of the same
/// item); the [`ALL_CATEGORIES`] rows apply the same rule to all the session's events. A session
/// belongs to the period of its start. Rows are sorted by (period start, category).
pub fn funnel(sessions: &[Session], categories: &CategoryMap, options: &FunnelOptions) -> Vec<FunnelRow> {
    // (period start, category) -> (label, unit -> step)
    type Buckets<'a> = BTreeMap<(i64, &'a str), (String, HashMap<usize, u8>)>;
    let mut buckets: Buckets = BTreeMap::new();
    let mut user_ids: HashMap<&str, usize> = HashMap::new();
    for (index, session) in sessions.iter().enumerate() {
        let unit = match options.unit {
            FunnelUnit::Session => index,
            FunnelUnit::User => {
                let next = user_ids.len();
                *user_ids.entry(session.user_id.as_str()).or_insert(next)
            }
        };
        let (start, label) = options.period.bucket(session.start);
        let mut by_category: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
        for event in &session.events {
            let category = categories.category(&event.item_id).unwrap_or(options.unknown_category.as_str());
            by_category.entry(category).or_default().push(event);
        }
        let steps = by_category
            .iter()
            .map(|(category, events)| (*category, reached(events.iter().copied(), options.clicks_count_as_views)))
            .chain(std::iter::once((ALL_CATEGORIES, reached(session.events.iter(), options.clicks_count_as_views))));
        for (category, step) in steps {
            let (_, units) = buckets.entry((start, category)).or_insert_with(|| (label.clone(), HashMap::new()));
            let best = units.entry(unit).or_insert(0);
            *best = (*best).max(step);
        }
    }
    let ratio = |a: u64, b: u64| if b == 0 { None } else { Some(a as f64 / b as f64) };
    buckets
        .into_iter()
        .map(|((period_start, category), (period, units))| {
            let at_least = |step: u8| units.values().filter(|s| **s >= step).count() as u64;
            let (viewed, carted, purchased) = (at_least(1), at_least(2), at_least(3));
            FunnelRow {
                category: category.to_string(),
                period,
                period_start,
                units: units.len() as u64,
                viewed,
                carted,
                purchased,
                view_to_cart: ratio(carted, viewed),
                cart_to_purchase: ratio(purchased, carted),
                view_to_purchase: ratio(purchased, viewed),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use agora_core::record::EventKind::{Cart, Click, Purchase, View};

    use super::*;
    use crate::behaviour::fixture::{event, DAY};
    use crate::behaviour::sessions::{sessionize, SessionOptions};

    /// Four users, two categories (shoes: s1, s2; hats: h1), one unmapped item (x).
    fn fixture() -> (Vec<Event>, CategoryMap) {
        let day = DAY / 60_000; // in minutes
        let events = vec![
            // u1 session A (Jan 1): shoes view → cart → purchase; hats view only.
            event("u1", "s1", View, 0),
            event("u1", "h1", View, 1),
            event("u1", "s1", Cart, 2),
            event("u1", "s2", Purchase, 3),
            // u1 session B (Jan 1, later): hats cart without a view in the session.
            event("u1", "h1", Cart, 120),
            // u2 (Jan 1): shoes purchase before its cart (out of order): reaches cart only;
            // the unmapped item is viewed.
            event("u2", "s1", View, 10),
            event("u2", "s1", Purchase, 11),
            event("u2", "s1", Cart, 12),
            event("u2", "x", View, 13),
            // u3 (Jan 2): hats view → cart; shoes click only.
            event("u3", "h1", View, day),
            event("u3", "h1", Cart, day + 1),
            event("u3", "s2", Click, day + 2),
            // u4 (Feb 1): shoes view → cart → purchase across items.
            event("u4", "s1", View, 31 * day),
            event("u4", "s2", Cart, 31 * day + 1),
            event("u4", "s2", Purchase, 31 * day + 2),
        ];
        let mut categories = CategoryMap::new();
        for (item, category) in [("s1", "shoes"), ("s2", "shoes"), ("h1", "hats")] {
            categories.insert(item, category);
        }
        (events, categories)
    }

    fn counts(rows: &[FunnelRow]) -> Vec<(&str, &str, u64, u64, u64, u64)> {
        rows.iter().map(|r| (r.period.as_str(), r.category.as_str(), r.units, r.viewed, r.carted, r.purchased)).collect()
    }

    #[test]
    fn counts_sessions_per_category_and_month() {
        let (events, categories) = fixture();
        let sessions = sessionize(&events, &SessionOptions::default());
        assert_eq!(sessions.len(), 5);
        let rows = funnel(&sessions, &categories, &FunnelOptions::default());
        assert_eq!(
            counts(&rows),
            vec![
                // January: sessions u1A, u1B, u2, u3.
                ("2024-01", "*", 4, 3, 3, 1),
                ("2024-01", "hats", 3, 2, 1, 0),
                ("2024-01", "shoes", 3, 2, 2, 1),
                ("2024-01", "unknown", 1, 1, 0, 0),
                // February: u4.
                ("2024-02", "*", 1, 1, 1, 1),
                ("2024-02", "shoes", 1, 1, 1, 1),
            ]
        );
        let shoes = &rows[2];
        assert_eq!((shoes.view_to_cart, shoes.cart_to_purchase, shoes.view_to_purchase), (Some(1.0), Some(0.5), Some(0.5)));
        assert_eq!(rows[3].cart_to_purchase, None);
    }

    #[test]
    fn counts_users_over_all_time_and_clicks_when_asked() {
        let (events, categories) = fixture();
        let sessions = sessionize(&events, &SessionOptions::default());
        let options =
            FunnelOptions { unit: FunnelUnit::User, period: Period::All, clicks_count_as_views: true, ..FunnelOptions::default() };
        assert_eq!(
            counts(&funnel(&sessions, &categories, &options)),
            vec![
                ("all", "*", 4, 4, 4, 2),
                // u1 (view in A; its cart in B came without a view), u3 (view → cart).
                ("all", "hats", 2, 2, 1, 0),
                // u1, u2 (cart), u3 (click = view), u4.
                ("all", "shoes", 4, 4, 3, 2),
                ("all", "unknown", 1, 1, 0, 0),
            ]
        );
    }

    #[test]
    fn buckets_days_and_weeks() {
        let (events, categories) = fixture();
        let sessions = sessionize(&events, &SessionOptions::default());
        let days = funnel(&sessions, &categories, &FunnelOptions { period: Period::Day, ..FunnelOptions::default() });
        let labels: Vec<&str> = days.iter().filter(|r| r.category == ALL_CATEGORIES).map(|r| r.period.as_str()).collect();
        assert_eq!(labels, vec!["2024-01-01", "2024-01-02", "2024-02-01"]);
        let weeks = funnel(&sessions, &categories, &FunnelOptions { period: Period::Week, ..FunnelOptions::default() });
        let labels: Vec<(&str, u64)> =
            weeks.iter().filter(|r| r.category == ALL_CATEGORIES).map(|r| (r.period.as_str(), r.units)).collect();
        // 2024-01-01 is a Monday; 2024-02-01 is in the week of Monday 2024-01-29.
        assert_eq!(labels, vec![("2024-01-01", 4), ("2024-01-29", 1)]);
    }

    #[test]
    fn maps_items_to_category_prefixes() {
        let item = |id: &str, path: &[&str]| Item {
            item_id: id.to_string(),
            categories: path.iter().map(|c| c.to_string()).collect(),
            ..Item::default()
        };
        let items = [item("1", &["Beauty", "Hair"]), item("2", &[]), item("3", &[" Sports ", "Running", "Shoes"])];
        let top = CategoryMap::from_items(&items, 1);
        assert_eq!((top.category("1"), top.category("2"), top.category("3")), (Some("Beauty"), None, Some("Sports")));
        let two = CategoryMap::from_items(&items, 2);
        assert_eq!(two.category("3"), Some("Sports > Running"));
        assert_eq!(two.len(), 2);
    }
}
