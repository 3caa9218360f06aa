//! Purchases: order lines folded into one purchase per (user, order id), the unit of cohorts, RFM and CLV.

use std::collections::BTreeMap;

use agora_core::record::Order;
use serde::{Deserialize, Serialize};

use crate::clv::Transaction;

/// Which order lines count as bought.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PurchaseOptions {
    /// Lines with one of these statuses (compared case-insensitively) are left out.
    pub excluded_statuses: Vec<String>,
}

impl Default for PurchaseOptions {
    fn default() -> Self {
        Self { excluded_statuses: ["cancelled", "canceled", "refunded", "returned"].map(String::from).to_vec() }
    }
}

impl PurchaseOptions {
    /// Whether a line counts as bought.
    pub fn includes(&self, order: &Order) -> bool {
        order.status.as_deref().map_or(true, |status| !self.excluded_statuses.iter().any(|s| s.eq_ignore_ascii_case(status.trim())))
    }
}

/// One order of one user: its lines folded together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Purchase {
    pub user_id: String,
    pub order_id: String,
    /// The earliest line's timestamp, UTC milliseconds.
    pub ts: i64,
    /// Σ quantity × unit price over the lines with a price.
    pub value: f64,
    /// Lines folded in.
    pub lines: u32,
    /// Lines without a unit price (their value is unknown, counted as 0).
    pub unpriced_lines: u32,
}

impl Purchase {
    fn start(order: &Order) -> Self {
        Self { user_id: order.user_id.clone(), order_id: order.order_id.clone(), ts: order.ts, value: 0.0, lines: 0, unpriced_lines: 0 }
    }

    /// Folds one more line of the same (user, order) in.
    pub(crate) fn add_line(&mut self, order: &Order) {
        self.ts = self.ts.min(order.ts);
        self.lines += 1;
        match order.unit_price {
            Some(price) if price.is_finite() && order.quantity.is_finite() => self.value += price * order.quantity,
            _ => self.unpriced_lines += 1,
        }
    }

    /// A fresh purchase from its first line.
    pub(crate) fn from_line(order: &Order) -> Self {
        let mut purchase = Self::start(order);
        purchase.add_line(order);
        purchase
    }
}

impl From<&Purchase> for Transaction {
    fn from(purchase: &Purchase) -> Self {
        Transaction { customer: purchase.user_id.clone(), ts: purchase.ts, value: purchase.value }
    }
}

/// Folds order lines into purchases, one per (user, order id), sorted by (user, time, order id).
///
/// Lines the options exclude (cancelled, refunded, ...) are skipped; an order with no remaining
/// line is no purchase. Order ids are scoped by user: the same id under two users is two purchases.
pub fn purchases(orders: &[Order], options: &PurchaseOptions) -> Vec<Purchase> {
    let mut folded: BTreeMap<(&str, &str), Purchase> = BTreeMap::new();
    for order in orders.iter().filter(|order| options.includes(order)) {
        folded
            .entry((order.user_id.as_str(), order.order_id.as_str()))
            .and_modify(|purchase| purchase.add_line(order))
            .or_insert_with(|| Purchase::from_line(order));
    }
    sorted(folded.into_values().collect())
}

/// Sorts purchases by (user, time, order id).
pub(crate) fn sorted(mut purchases: Vec<Purchase>) -> Vec<Purchase> {
    purchases.sort_by(|a, b| (&a.user_id, a.ts, &a.order_id).cmp(&(&b.user_id, b.ts, &b.order_id)));
    purchases
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::behaviour::fixture::{order, DAY, DAY0};

    #[test]
    fn folds_lines_per_user_and_order_and_skips_excluded_statuses() {
        let mut lines = vec![
            order("o1", "u1", 3, 2.0, Some(5.0)),
            Order { line: Some(2), ts: DAY0 + 2 * DAY, ..order("o1", "u1", 3, 1.0, Some(4.0)) },
            Order { line: Some(3), ..order("o1", "u1", 3, 1.0, None) },
            order("o1", "u2", 1, 1.0, Some(9.0)),
            Order { status: Some("Refunded".into()), ..order("o2", "u2", 5, 1.0, Some(9.0)) },
        ];
        let expected = vec![
            Purchase { user_id: "u1".into(), order_id: "o1".into(), ts: DAY0 + 2 * DAY, value: 14.0, lines: 3, unpriced_lines: 1 },
            Purchase { user_id: "u2".into(), order_id: "o1".into(), ts: DAY0 + DAY, value: 9.0, lines: 1, unpriced_lines: 0 },
        ];
        assert_eq!(purchases(&lines, &PurchaseOptions::default()), expected);
        lines.reverse();
        assert_eq!(purchases(&lines, &PurchaseOptions::default()), expected, "input order does not matter");
        assert_eq!(purchases(&lines, &PurchaseOptions { excluded_statuses: vec![] }).len(), 3);
        assert_eq!(Transaction::from(&expected[0]), Transaction { customer: "u1".into(), ts: DAY0 + 2 * DAY, value: 14.0 });
    }
}
