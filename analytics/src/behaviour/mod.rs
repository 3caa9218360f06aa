//! Behaviour analytics over canonical events and orders: sessions, funnels, cohorts and RFM segments.
//!
//! Each analysis is a pure function over slices ([`sessionize`], [`funnel`], [`cohorts`],
//! [`rfm`]), deterministic whatever the input order. [`BehaviourIndex`] is the incremental
//! front: feed it batches of events, orders and catalogue items as they arrive (it keeps each
//! user's events in time order and folds order lines into purchases as they come) and query it
//! at any time; queries re-run the functions over its state. Nothing here is thread-aware: wrap an
//! index in whatever the caller's concurrency needs.

pub mod cohorts;
pub mod funnel;
pub mod index;
pub mod purchases;
pub mod rfm;
pub mod sessions;

pub use cohorts::{cohorts, CohortReport, CohortRow, Distribution};
pub use funnel::{funnel, CategoryMap, FunnelOptions, FunnelRow, FunnelUnit, Period, ALL_CATEGORIES};
pub use index::BehaviourIndex;
pub use purchases::{purchases, Purchase, PurchaseOptions};
pub use rfm::{quintile_scores, rfm, segment_counts, RfmConfig, RfmRules, RfmScore, SegmentRule};
pub use sessions::{sessionize, Session, SessionOptions};

#[cfg(test)]
pub(crate) mod fixture {
    //! Builders for hand-made event and order fixtures.

    use agora_core::record::{Event, EventKind, Order};

    /// 2024-01-01T00:00:00Z.
    pub(crate) const DAY0: i64 = 1_704_067_200_000;
    pub(crate) const MINUTE: i64 = 60_000;
    pub(crate) const DAY: i64 = 86_400_000;

    pub(crate) fn event(user: &str, item: &str, kind: EventKind, minute: i64) -> Event {
        Event { user_id: user.to_string(), item_id: item.to_string(), kind, value: None, ts: DAY0 + minute * MINUTE, session: None }
    }

    pub(crate) fn order(order_id: &str, user: &str, day: i64, quantity: f64, price: Option<f64>) -> Order {
        Order {
            order_id: order_id.to_string(),
            line: Some(1),
            user_id: user.to_string(),
            item_id: "i".to_string(),
            quantity,
            unit_price: price,
            ts: DAY0 + day * DAY,
            status: Some("paid".to_string()),
        }
    }
}
