//! Retention cohorts by first-purchase month, repeat-purchase rate, purchase frequency and inter-purchase times.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::purchases::Purchase;
use crate::calendar::{month_label, month_of, MS_PER_DAY};

/// The customers who first bought in one month, and how many of them bought in each later month.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CohortRow {
    /// The first-purchase month, `YYYY-MM`.
    pub cohort: String,
    /// Customers in the cohort.
    pub customers: u64,
    /// `active[k]`: the cohort's customers who bought in month +k (`active[0]` = `customers`), up
    /// to the last month with any purchase in the data.
    pub active: Vec<u64>,
    /// `active[k] / customers`.
    pub retention: Vec<f64>,
}

/// Summary statistics of a sample.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub count: u64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    /// (probability, quantile) for 0.1, 0.25, 0.5, 0.75, 0.9, linearly interpolated between order
    /// statistics (Hyndman & Fan type 7, R's and numpy's default). Empty for an empty sample.
    pub quantiles: Vec<(f64, f64)>,
}

impl Distribution {
    /// The probabilities the quantiles are reported at.
    pub const PROBABILITIES: [f64; 5] = [0.1, 0.25, 0.5, 0.75, 0.9];

    /// Summarises a sample (NaNs are left out).
    pub fn of(values: &[f64]) -> Self {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        sorted.sort_by(f64::total_cmp);
        let (Some(&min), Some(&max)) = (sorted.first(), sorted.last()) else {
            return Self::default();
        };
        Self {
            count: sorted.len() as u64,
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            min,
            max,
            quantiles: Self::PROBABILITIES.iter().map(|&p| (p, quantile(&sorted, p))).collect(),
        }
    }

    /// The quantile reported for probability `p`, if it is one of [`Distribution::PROBABILITIES`].
    pub fn quantile(&self, p: f64) -> Option<f64> {
        self.quantiles.iter().find(|(q, _)| *q == p).map(|(_, value)| *value)
    }
}

/// The type-7 quantile of a sorted, non-empty sample.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let low = h.floor() as usize;
    let high = (low + 1).min(sorted.len() - 1);
    sorted[low] + (h - low as f64) * (sorted[high] - sorted[low])
}

/// Cohorts and repeat-purchase statistics of a set of purchases.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CohortReport {
    /// One row per first-purchase month, in time order.
    pub cohorts: Vec<CohortRow>,
    /// Customers with at least one purchase.
    pub customers: u64,
    /// ... with at least two.
    pub repeat_customers: u64,
    /// repeat_customers / customers (0 without customers).
    pub repeat_purchase_rate: f64,
    /// Purchases per customer → customers with that many.
    pub frequency_histogram: BTreeMap<u32, u64>,
    /// Days between a customer's consecutive purchases, over all customers.
    pub inter_purchase_days: Distribution,
}

/// Builds the cohort report: each customer joins the cohort of the UTC month of their first
/// purchase, and is active in every month in which they made a purchase.
pub fn cohorts(purchases: &[Purchase]) -> CohortReport {
    let mut by_user: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for purchase in purchases {
        by_user.entry(purchase.user_id.as_str()).or_default().push(purchase.ts);
    }
    let Some(last_month) = purchases.iter().map(|p| month_of(p.ts)).max() else {
        return CohortReport::default();
    };
    let mut cohort_active: BTreeMap<i64, (u64, BTreeMap<i64, u64>)> = BTreeMap::new();
    let mut histogram: BTreeMap<u32, u64> = BTreeMap::new();
    let mut gaps = Vec::new();
    for times in by_user.values_mut() {
        times.sort_unstable();
        let months: BTreeSet<i64> = times.iter().map(|&ts| month_of(ts)).collect();
        let Some(&first) = months.first() else { continue };
        let (size, active) = cohort_active.entry(first).or_default();
        *size += 1;
        for month in months {
            *active.entry(month - first).or_default() += 1;
        }
        *histogram.entry(u32::try_from(times.len()).unwrap_or(u32::MAX)).or_default() += 1;
        gaps.extend(times.windows(2).map(|pair| (pair[1] - pair[0]) as f64 / MS_PER_DAY as f64));
    }
    let cohorts = cohort_active
        .into_iter()
        .map(|(month, (customers, active))| {
            let active: Vec<u64> = (0..=last_month - month).map(|k| active.get(&k).copied().unwrap_or(0)).collect();
            let retention = active.iter().map(|&a| a as f64 / customers as f64).collect();
            CohortRow { cohort: month_label(month), customers, active, retention }
        })
        .collect();
    let customers = by_user.len() as u64;
    let repeat_customers = by_user.values().filter(|times| times.len() >= 2).count() as u64;
    CohortReport {
        cohorts,
        customers,
        repeat_customers,
        repeat_purchase_rate: if customers == 0 { 0.0 } else { repeat_customers as f64 / customers as f64 },
        frequency_histogram: histogram,
        inter_purchase_days: Distribution::of(&gaps),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::behaviour::fixture::order;
    use crate::behaviour::purchases::{purchases, PurchaseOptions};

    #[test]
    fn builds_monthly_cohorts_and_repeat_statistics() {
        // Day 0 = 2024-01-01. January cohort: a (Jan, Feb, Apr), b (Jan only), c (Jan twice, Mar).
        // February cohort: d (Feb, Mar).
        let lines = [
            order("1", "a", 0, 1.0, Some(10.0)),
            order("2", "a", 40, 1.0, Some(10.0)),
            order("3", "a", 100, 1.0, Some(10.0)),
            order("4", "b", 5, 1.0, Some(10.0)),
            order("5", "c", 10, 1.0, Some(10.0)),
            order("6", "c", 12, 1.0, Some(10.0)),
            order("7", "c", 70, 1.0, Some(10.0)),
            order("8", "d", 35, 1.0, Some(10.0)),
            order("9", "d", 65, 1.0, Some(10.0)),
        ];
        let report = cohorts(&purchases(&lines, &PurchaseOptions::default()));
        let rows: Vec<(&str, u64, Vec<u64>)> = report.cohorts.iter().map(|r| (r.cohort.as_str(), r.customers, r.active.clone())).collect();
        // Day 40 = Feb 10, day 70 = Mar 11, day 100 = Apr 10, day 35 = Feb 5, day 65 = Mar 6.
        assert_eq!(rows, vec![("2024-01", 3, vec![3, 1, 1, 1]), ("2024-02", 1, vec![1, 1, 0])]);
        let january = &report.cohorts[0];
        assert_eq!(january.retention, vec![1.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]);
        assert_eq!((report.customers, report.repeat_customers, report.repeat_purchase_rate), (4, 3, 0.75));
        assert_eq!(report.frequency_histogram, BTreeMap::from([(1, 1), (2, 1), (3, 2)]));
        // Gaps in days: a 40, 60; c 2, 58; d 30.
        let gaps = &report.inter_purchase_days;
        assert_eq!((gaps.count, gaps.min, gaps.max, gaps.mean), (5, 2.0, 60.0, 38.0));
        // Sorted 2, 30, 40, 58, 60: type-7 quantiles at h = 4p.
        for ((p, got), (q, want)) in gaps.quantiles.iter().zip([(0.1, 13.2), (0.25, 30.0), (0.5, 40.0), (0.75, 58.0), (0.9, 59.2)]) {
            assert!(*p == q && (got - want).abs() < 1e-12, "q({p}) = {got}, want {want}");
        }
        assert_eq!(gaps.quantile(0.5), Some(40.0));
        assert_eq!(cohorts(&[]), CohortReport::default());
    }
}
