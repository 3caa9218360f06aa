//! An incremental index of events, purchases and item categories that answers the behaviour queries.

use std::collections::BTreeMap;

use agora_core::record::{Event, Item, Order};

use super::cohorts::{cohorts, CohortReport};
use super::funnel::{funnel, CategoryMap, FunnelOptions, FunnelRow};
use super::purchases::{sorted, Purchase, PurchaseOptions};
use super::rfm::{rfm, RfmRules, RfmScore};
use super::sessions::{sessionize_user, Session, SessionOptions};
use crate::clv::{summarize, CustomerSummary, SummaryOptions, Transaction};
use crate::Result;

/// Accumulates batches of events, order lines and items, and answers behaviour queries over all of them.
///
/// Feeding is incremental and cheap: each user's events are kept in time order (a batch is
/// merged in, so late events land in place), and order lines are folded into their (user,
/// order) purchase on arrival, filtered by the index's [`PurchaseOptions`]. Queries run the
/// module's functions over this state, so a query costs one pass over the data. Feed each record
/// once: the store upstream is exactly-once, and the index does not deduplicate.
#[derive(Clone, Debug, Default)]
pub struct BehaviourIndex {
    events: BTreeMap<String, Vec<Event>>,
    purchases: BTreeMap<(String, String), Purchase>,
    categories: CategoryMap,
    purchase_options: PurchaseOptions,
    event_count: usize,
    order_lines: usize,
}

impl BehaviourIndex {
    /// An empty index that folds order lines into purchases with these options.
    pub fn new(purchase_options: PurchaseOptions) -> Self {
        Self { purchase_options, ..Self::default() }
    }

    /// Adds a batch of events.
    pub fn add_events(&mut self, batch: &[Event]) {
        let mut by_user: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
        for event in batch {
            by_user.entry(event.user_id.as_str()).or_default().push(event);
        }
        for (user, mut new) in by_user {
            new.sort_by_key(|event| event.ts);
            let events = self.events.entry(user.to_string()).or_default();
            if events.last().map_or(true, |last| new.first().map_or(true, |first| first.ts >= last.ts)) {
                events.extend(new.into_iter().cloned());
            } else {
                // Late events: a stable merge keeps earlier-fed events first among equal timestamps.
                let old = std::mem::take(events);
                let (mut old, mut new) = (old.into_iter().peekable(), new.into_iter().peekable());
                while let (Some(a), Some(b)) = (old.peek(), new.peek()) {
                    if b.ts < a.ts {
                        events.extend(new.next().cloned());
                    } else {
                        events.extend(old.next());
                    }
                }
                events.extend(old);
                events.extend(new.cloned());
            }
        }
        self.event_count += batch.len();
    }

    /// Adds a batch of order lines; lines the purchase options exclude are counted but not kept.
    pub fn add_orders(&mut self, batch: &[Order]) {
        for order in batch.iter().filter(|order| self.purchase_options.includes(order)) {
            self.purchases
                .entry((order.user_id.clone(), order.order_id.clone()))
                .and_modify(|purchase| purchase.add_line(order))
                .or_insert_with(|| Purchase::from_line(order));
        }
        self.order_lines += batch.len();
    }

    /// Adds (or updates) catalogue items: each maps to the first `depth` levels of its category path.
    pub fn add_items(&mut self, items: &[Item], depth: usize) {
        self.categories.add_items(items, depth);
    }

    /// Events fed so far.
    pub fn event_count(&self) -> usize {
        self.event_count
    }

    /// Order lines fed so far (including excluded ones).
    pub fn order_line_count(&self) -> usize {
        self.order_lines
    }

    /// Users with at least one event.
    pub fn user_count(&self) -> usize {
        self.events.len()
    }

    /// The item categories known so far.
    pub fn categories(&self) -> &CategoryMap {
        &self.categories
    }

    /// All sessions, as [`super::sessionize`] would cut the events fed so far.
    pub fn sessions(&self, options: &SessionOptions) -> Vec<Session> {
        self.events
            .values()
            .flat_map(|events| {
                let refs: Vec<&Event> = events.iter().collect();
                sessionize_user(&refs, options)
            })
            .collect()
    }

    /// One user's sessions.
    pub fn user_sessions(&self, user_id: &str, options: &SessionOptions) -> Vec<Session> {
        self.events.get(user_id).map_or_else(Vec::new, |events| sessionize_user(&events.iter().collect::<Vec<_>>(), options))
    }

    /// The funnel over the sessions, with the categories fed so far.
    pub fn funnel(&self, sessions: &SessionOptions, options: &FunnelOptions) -> Vec<FunnelRow> {
        funnel(&self.sessions(sessions), &self.categories, options)
    }

    /// All purchases, sorted by (user, time, order id).
    pub fn purchases(&self) -> Vec<Purchase> {
        sorted(self.purchases.values().cloned().collect())
    }

    /// The cohort report of the purchases.
    pub fn cohorts(&self) -> CohortReport {
        cohorts(&self.purchases())
    }

    /// RFM scores and segments as of `now` (UTC milliseconds).
    pub fn rfm(&self, now: i64, rules: &RfmRules) -> Vec<RfmScore> {
        rfm(&self.purchases(), now, rules)
    }

    /// CLV summaries of the purchases (one transaction per purchase, collapsed by day).
    ///
    /// # Errors
    /// As [`summarize`].
    pub fn customer_summaries(&self, options: &SummaryOptions) -> Result<Vec<CustomerSummary>> {
        let transactions: Vec<Transaction> = self.purchases.values().map(Transaction::from).collect();
        summarize(&transactions, options)
    }
}

#[cfg(test)]
mod tests {
    use agora_core::record::EventKind::{Cart, Purchase as Bought, View};

    use super::*;
    use crate::behaviour::fixture::{event, order, DAY, DAY0};
    use crate::behaviour::{purchases, sessionize};

    fn events() -> Vec<Event> {
        vec![
            event("u1", "s1", View, 0),
            event("u2", "h1", View, 3),
            event("u1", "s1", Cart, 5),
            event("u1", "s1", Bought, 6),
            event("u1", "h1", View, 100),
            event("u2", "h1", Cart, 4),
            event("u1", "s1", View, 7),
        ]
    }

    #[test]
    fn batches_in_any_order_give_the_same_answers_as_the_functions() {
        let all = events();
        let mut index = BehaviourIndex::new(PurchaseOptions::default());
        // Feed the later half first: events arrive late and out of order.
        index.add_events(&all[4..]);
        index.add_events(&all[..4]);
        let options = SessionOptions::default();
        assert_eq!(index.sessions(&options), sessionize(&all, &options));
        assert_eq!(index.event_count(), 7);
        assert_eq!(index.user_count(), 2);
        assert_eq!(index.user_sessions("u1", &options).len(), 2);
        assert!(index.user_sessions("nobody", &options).is_empty());

        let items = [Item { item_id: "s1".into(), categories: vec!["Shoes".into()], ..Item::default() }];
        index.add_items(&items, 1);
        let rows = index.funnel(&options, &FunnelOptions::default());
        assert_eq!(rows, funnel(&sessionize(&all, &options), &CategoryMap::from_items(&items, 1), &FunnelOptions::default()));

        let lines = [
            order("1", "u1", 0, 1.0, Some(10.0)),
            order("2", "u1", 14, 1.0, Some(30.0)),
            Order { status: Some("cancelled".into()), ..order("3", "u2", 1, 1.0, Some(5.0)) },
            order("4", "u2", 2, 1.0, Some(7.0)),
        ];
        index.add_orders(&lines[2..]);
        index.add_orders(&lines[..2]);
        let expected = purchases(&lines, &PurchaseOptions::default());
        assert_eq!(index.purchases(), expected);
        assert_eq!(index.order_line_count(), 4);
        assert_eq!(index.cohorts(), cohorts(&expected));
        let now = DAY0 + 30 * DAY;
        assert_eq!(index.rfm(now, &RfmRules::default()), rfm(&expected, now, &RfmRules::default()));
        let summaries = index.customer_summaries(&SummaryOptions::weekly(now)).expect("valid options");
        assert_eq!(summaries[0], CustomerSummary { id: "u1".into(), x: 1, t_x: 2.0, t_cal: 30.0 / 7.0, monetary: 30.0 });
    }
}
