//! Sales series from the store: units and revenue per item, per category and for the whole shop,
//! by day or by ISO week, every period present (a period without sales is an explicit zero).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use agora_analytics::calendar::{day_of, week_start_day};
use agora_core::config::ForecastConfig;
use agora_core::record::{EventKind, Record, RecordKind};
use agora_core::store::Store;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::SalesError;

/// The length of a period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Day,
    Week,
}

impl Granularity {
    pub const ALL: [Granularity; 2] = [Granularity::Day, Granularity::Week];

    /// The first day of the period holding `day` (weeks start on Monday).
    pub fn period_start(self, day: i64) -> i64 {
        match self {
            Granularity::Day => day,
            Granularity::Week => week_start_day(day),
        }
    }

    /// Days per period.
    pub fn days(self) -> i64 {
        match self {
            Granularity::Day => 1,
            Granularity::Week => 7,
        }
    }

    /// Periods per year-round cycle the models look for: a week of days, a year of weeks.
    pub fn season_length(self) -> u32 {
        match self {
            Granularity::Day => 7,
            Granularity::Week => 52,
        }
    }
}

impl FromStr for Granularity {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "day" | "daily" => Ok(Granularity::Day),
            "week" | "weekly" => Ok(Granularity::Week),
            other => Err(format!("granularity {other:?} is not day or week")),
        }
    }
}

/// What is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Units,
    Revenue,
}

impl Metric {
    pub const ALL: [Metric; 2] = [Metric::Units, Metric::Revenue];
}

impl FromStr for Metric {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "units" => Ok(Metric::Units),
            "revenue" => Ok(Metric::Revenue),
            other => Err(format!("metric {other:?} is not units or revenue")),
        }
    }
}

/// Whose sales.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Total,
    Category(String),
    Item(String),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Total => write!(f, "the whole shop"),
            Scope::Category(category) => write!(f, "category {category:?}"),
            Scope::Item(item) => write!(f, "item {item:?}"),
        }
    }
}

/// One sale: an order line, or a purchase event when those are counted.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Sale {
    day: i64,
    item: usize,
    units: f64,
    revenue: f64,
}

/// What the scan saw, for the data version and for operators.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SalesStats {
    /// Order lines counted as sales.
    pub order_lines: u64,
    /// Order lines left out for their status.
    pub excluded_by_status: u64,
    /// Order lines left out because the cleaner flagged one of their values as an outlier.
    pub excluded_as_outliers: u64,
    /// Purchase events counted as sales.
    pub purchase_events: u64,
    /// Sales without a unit price or catalogue price: their units count, their revenue is 0.
    pub without_price: u64,
    /// A hash of every counted sale: forecasts are redone only when it changes.
    pub data_version: String,
}

/// One series: its scope and metric, the day its first period starts, one value per period.
#[derive(Clone, Debug, PartialEq)]
pub struct SalesSeries {
    pub scope: Scope,
    pub metric: Metric,
    pub start_day: i64,
    pub values: Vec<f64>,
}

/// The catalogue and every counted sale.
#[derive(Clone, Debug, Default)]
pub struct SalesData {
    items: Vec<String>,
    categories: Vec<Vec<String>>,
    index: BTreeMap<String, usize>,
    sales: Vec<Sale>,
    pub stats: SalesStats,
}

impl SalesData {
    /// Reads the cleaned store: the catalogue, order lines (minus excluded statuses and, with
    /// `exclude_outliers`, lines the cleaner flagged as outliers) and, if configured, purchase events.
    ///
    /// # Errors
    /// A store error.
    pub fn from_store(store: &dyn Store, config: &ForecastConfig) -> Result<Self, SalesError> {
        let mut data = SalesData::default();
        let mut prices = Vec::new();
        store.scan_records(RecordKind::Item, &mut |_, stored| {
            if let Record::Item(item) = stored.record {
                let index = data.item_index(&item.item_id);
                data.categories[index] = item.categories;
                prices.resize(data.items.len(), None);
                prices[index] = item.price;
            }
            true
        })?;
        let excluded: BTreeSet<String> = config.excluded_statuses.iter().map(|status| status.to_lowercase()).collect();
        let mut hasher = Xxh3::new();
        let mut orders = Vec::new();
        let mut failure = None;
        store.scan_records(RecordKind::Order, &mut |key, stored| {
            if let Record::Order(order) = stored.record {
                let flagged = config.exclude_outliers
                    && match store.outlier_flags(key) {
                        Ok(flags) => !flags.is_empty(),
                        Err(error) => {
                            failure = Some(error);
                            return false;
                        }
                    };
                if order.status.as_ref().is_some_and(|status| excluded.contains(&status.to_lowercase())) {
                    data.stats.excluded_by_status += 1;
                } else if flagged {
                    data.stats.excluded_as_outliers += 1;
                } else {
                    orders.push((order.ts, order.item_id, order.quantity, order.unit_price));
                }
            }
            true
        })?;
        if let Some(error) = failure {
            return Err(error.into());
        }
        if config.purchase_events {
            store.scan_records(RecordKind::Event, &mut |_, stored| {
                if let Record::Event(event) = stored.record {
                    if event.kind == EventKind::Purchase {
                        data.stats.purchase_events += 1;
                        orders.push((event.ts, event.item_id, 1.0, None));
                    }
                }
                true
            })?;
        }
        data.stats.order_lines = orders.len() as u64 - data.stats.purchase_events;
        for (ts, item_id, units, unit_price) in orders {
            let item = data.item_index(&item_id);
            prices.resize(data.items.len(), None);
            let price = unit_price.or(prices[item]);
            if price.is_none() {
                data.stats.without_price += 1;
            }
            let sale = Sale { day: day_of(ts), item, units, revenue: units * price.unwrap_or(0.0) };
            hasher.update(&ts.to_le_bytes());
            hasher.update(item_id.as_bytes());
            hasher.update(&units.to_le_bytes());
            hasher.update(&sale.revenue.to_le_bytes());
            data.sales.push(sale);
        }
        data.stats.data_version = format!("{:032x}", hasher.digest128());
        Ok(data)
    }

    /// Data from a list of items `(id, categories)` and sales `(unix ms, item id, units, revenue)`.
    pub fn from_sales(items: &[(&str, &[&str])], sales: &[(i64, &str, f64, f64)]) -> Self {
        let mut data = SalesData::default();
        for (id, categories) in items {
            let index = data.item_index(id);
            data.categories[index] = categories.iter().map(|category| category.to_string()).collect();
        }
        let mut hasher = Xxh3::new();
        for &(ts, item_id, units, revenue) in sales {
            let item = data.item_index(item_id);
            data.sales.push(Sale { day: day_of(ts), item, units, revenue });
            hasher.update(&ts.to_le_bytes());
            hasher.update(item_id.as_bytes());
        }
        data.stats.order_lines = sales.len() as u64;
        data.stats.data_version = format!("{:032x}", hasher.digest128());
        data
    }

    fn item_index(&mut self, id: &str) -> usize {
        if let Some(&index) = self.index.get(id) {
            return index;
        }
        self.items.push(id.to_string());
        self.categories.push(Vec::new());
        self.index.insert(id.to_string(), self.items.len() - 1);
        self.items.len() - 1
    }

    /// Every catalogue or sold item's id.
    pub fn items(&self) -> &[String] {
        &self.items
    }

    /// An item's categories, broadest first, as the catalogue lists them.
    pub fn categories_of(&self, item: &str) -> Option<&[String]> {
        self.index.get(item).map(|&index| self.categories[index].as_slice())
    }

    /// The number of catalogue or sold items in `category`.
    pub fn items_in(&self, category: &str) -> usize {
        self.categories.iter().filter(|categories| categories.iter().any(|known| known == category)).count()
    }

    /// Whether any sale was counted.
    pub fn is_empty(&self) -> bool {
        self.sales.is_empty()
    }

    /// The last complete period: the period of the latest sale for days; for weeks, the latest
    /// week whose Sunday is on or before the latest sale's day. `None` without sales.
    pub fn last_period(&self, granularity: Granularity) -> Option<i64> {
        let last_day = self.sales.iter().map(|sale| sale.day).max()?;
        let start = granularity.period_start(last_day);
        Some(if last_day - start == granularity.days() - 1 { start } else { start - granularity.days() })
            .filter(|&period| granularity == Granularity::Day || self.sales.iter().any(|sale| granularity.period_start(sale.day) <= period))
    }

    /// Every series at `granularity`: the shop total, each category, each sold item, each in
    /// units and revenue. A series starts at its first sale's period and ends at
    /// [`SalesData::last_period`]; sales after that (an incomplete week) are left out.
    pub fn series(&self, granularity: Granularity) -> Vec<SalesSeries> {
        let Some(last) = self.last_period(granularity) else { return Vec::new() };
        let step = granularity.days();
        // Per scope: period → (units, revenue).
        let mut sums: BTreeMap<Scope, BTreeMap<i64, (f64, f64)>> = BTreeMap::new();
        for sale in self.sales.iter().filter(|sale| granularity.period_start(sale.day) <= last) {
            let period = granularity.period_start(sale.day);
            let scopes = std::iter::once(Scope::Total)
                .chain(self.categories[sale.item].iter().map(|category| Scope::Category(category.clone())))
                .chain(std::iter::once(Scope::Item(self.items[sale.item].clone())));
            for scope in scopes {
                let cell = sums.entry(scope).or_default().entry(period).or_default();
                cell.0 += sale.units;
                cell.1 += sale.revenue;
            }
        }
        let mut out = Vec::with_capacity(sums.len() * 2);
        for (scope, periods) in sums {
            let first = *periods.keys().next().expect("a scope has at least one sale");
            let len = ((last - first) / step + 1) as usize;
            for metric in Metric::ALL {
                let mut values = vec![0.0; len];
                for (&period, &(units, revenue)) in &periods {
                    values[((period - first) / step) as usize] = if metric == Metric::Units { units } else { revenue };
                }
                out.push(SalesSeries { scope: scope.clone(), metric, start_day: first, values });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use agora_analytics::calendar::{day_start_ms, days_from_civil};

    use super::*;

    fn at(year: i64, month: u32, day: u32) -> i64 {
        day_start_ms(days_from_civil(year, month, day)) + 3_600_000
    }

    fn data() -> SalesData {
        // 2024-01-01 is a Monday; the last sale is on Wednesday 2024-01-17.
        SalesData::from_sales(
            &[("a", &["Home", "Kitchen"]), ("b", &["Home"]), ("new", &["Home", "Kitchen"])],
            &[
                (at(2024, 1, 1), "a", 2.0, 20.0),
                (at(2024, 1, 1), "b", 1.0, 5.0),
                (at(2024, 1, 3), "a", 1.0, 10.0),
                (at(2024, 1, 10), "b", 3.0, 15.0),
                (at(2024, 1, 17), "a", 1.0, 10.0),
            ],
        )
    }

    fn find(series: &[SalesSeries], scope: Scope, metric: Metric) -> &SalesSeries {
        series.iter().find(|one| one.scope == scope && one.metric == metric).unwrap()
    }

    #[test]
    fn daily_series_have_explicit_zeros_and_start_at_the_first_sale() {
        let series = data().series(Granularity::Day);
        let total = find(&series, Scope::Total, Metric::Units);
        assert_eq!(total.start_day, days_from_civil(2024, 1, 1));
        assert_eq!(total.values.len(), 17);
        assert_eq!(&total.values[..4], &[3.0, 0.0, 1.0, 0.0]);
        assert_eq!(total.values[16], 1.0);
        let b = find(&series, Scope::Item("b".into()), Metric::Revenue);
        assert_eq!((b.start_day, b.values.len()), (days_from_civil(2024, 1, 1), 17));
        assert_eq!(b.values[9], 15.0);
        let kitchen = find(&series, Scope::Category("Kitchen".into()), Metric::Units);
        assert_eq!(kitchen.values.iter().sum::<f64>(), 4.0);
        assert!(!series.iter().any(|one| one.scope == Scope::Item("new".into())), "an item that never sold has no series");
    }

    #[test]
    fn weekly_series_end_at_the_last_complete_week() {
        let series = data().series(Granularity::Week);
        let total = find(&series, Scope::Total, Metric::Revenue);
        // Weeks of Jan 1 and Jan 8; the week of Jan 15 is incomplete (last sale on a Wednesday).
        assert_eq!(total.values, vec![35.0, 15.0]);
        assert_eq!(find(&series, Scope::Category("Home".into()), Metric::Units).values, vec![4.0, 3.0]);
        let data = data();
        assert_eq!(data.last_period(Granularity::Week), Some(days_from_civil(2024, 1, 8)));
        assert_eq!(data.items_in("Kitchen"), 2);
        assert_eq!(data.categories_of("b").unwrap(), ["Home"]);
    }

    #[test]
    fn no_sales_means_no_series() {
        let empty = SalesData::from_sales(&[("a", &[])], &[]);
        assert!(empty.is_empty());
        assert!(empty.series(Granularity::Day).is_empty());
        assert_eq!("week".parse::<Granularity>().unwrap(), Granularity::Week);
        assert!("month".parse::<Granularity>().unwrap_err().contains("not day or week"));
    }
}
