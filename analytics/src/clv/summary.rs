//! Per-customer summaries (x, t_x, T, mean repeat spend) built from a transaction log, BTYD-style.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::calendar::{day_of, day_start_ms, parse_date};
use crate::{AnalyticsError, Result};

/// One purchase occasion: who, when (UTC milliseconds) and how much.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    pub customer: String,
    /// UTC milliseconds since the epoch; only its UTC day matters to [`summarize`].
    pub ts: i64,
    pub value: f64,
}

/// What the CLV models see of a customer over a calibration period.
///
/// Times are in the summary's unit (weeks unless [`SummaryOptions::unit_days`] says otherwise),
/// measured from the customer's first purchase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerSummary {
    pub id: String,
    /// Repeat transactions: purchase days after the first one.
    pub x: u32,
    /// Time of the last repeat purchase (0 when x = 0).
    pub t_x: f64,
    /// The customer's age at the calibration end, T (BTYD's `T.cal`).
    pub t_cal: f64,
    /// Mean value of the repeat purchase days (0 when x = 0): Gamma-Gamma's z̄.
    pub monetary: f64,
}

impl CustomerSummary {
    /// Checks 0 ≤ t_x ≤ T, t_x = 0 when x = 0, and a finite, non-negative spend.
    ///
    /// # Errors
    /// [`AnalyticsError::InvalidInput`] naming the customer and what is wrong.
    pub fn validate(&self) -> Result<()> {
        let ok = self.t_cal.is_finite()
            && self.t_x.is_finite()
            && self.t_x >= 0.0
            && self.t_x <= self.t_cal
            && (self.x > 0 || self.t_x == 0.0)
            && self.monetary.is_finite()
            && self.monetary >= 0.0;
        if ok {
            Ok(())
        } else {
            Err(AnalyticsError::InvalidInput(format!(
                "customer {}: need 0 <= t_x <= T, t_x = 0 when x = 0 and a finite spend >= 0, got x={} t_x={} T={} monetary={}",
                self.id, self.x, self.t_x, self.t_cal, self.monetary
            )))
        }
    }
}

/// How to summarise a transaction log.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryOptions {
    /// The calibration end, UTC milliseconds: transactions on its UTC day are included, later ones not.
    pub calibration_end: i64,
    /// The time unit of t_x and T, in days (7: weeks).
    pub unit_days: f64,
}

impl SummaryOptions {
    /// Weekly summaries ending with the UTC day of `calibration_end`.
    pub fn weekly(calibration_end: i64) -> Self {
        Self { calibration_end, unit_days: 7.0 }
    }
}

/// Builds one [`CustomerSummary`] per customer who bought on or before the calibration end, in id order.
///
/// Follows the BTYD convention (`dc.ElogToCbsCbt`): transactions on the same UTC day collapse into
/// one purchase whose value is their sum; x counts the purchase days after the first; t_x and T are
/// the days from the first purchase to the last one and to the calibration end, divided by
/// `unit_days`; `monetary` is the mean value of the repeat purchase days.
///
/// # Errors
/// [`AnalyticsError::InvalidInput`] for `unit_days <= 0` or a non-finite transaction value.
pub fn summarize(transactions: &[Transaction], options: &SummaryOptions) -> Result<Vec<CustomerSummary>> {
    if !(options.unit_days > 0.0 && options.unit_days.is_finite()) {
        return Err(AnalyticsError::InvalidInput(format!("unit_days must be > 0, got {}", options.unit_days)));
    }
    let end_day = day_of(options.calibration_end);
    let mut days: BTreeMap<&str, BTreeMap<i64, f64>> = BTreeMap::new();
    for transaction in transactions {
        if !transaction.value.is_finite() {
            return Err(AnalyticsError::InvalidInput(format!(
                "customer {}: transaction value {} is not a number",
                transaction.customer, transaction.value
            )));
        }
        let day = day_of(transaction.ts);
        if day <= end_day {
            *days.entry(transaction.customer.as_str()).or_default().entry(day).or_insert(0.0) += transaction.value;
        }
    }
    let summaries = days
        .into_iter()
        .filter_map(|(id, purchases)| {
            let (&first, _) = purchases.first_key_value()?;
            let (&last, _) = purchases.last_key_value()?;
            let x = purchases.len() - 1;
            let repeat_total: f64 = purchases.values().skip(1).sum();
            Some(CustomerSummary {
                id: id.to_string(),
                x: u32::try_from(x).unwrap_or(u32::MAX),
                t_x: (last - first) as f64 / options.unit_days,
                t_cal: (end_day - first) as f64 / options.unit_days,
                monetary: if x > 0 { repeat_total / x as f64 } else { 0.0 },
            })
        })
        .collect();
    Ok(summaries)
}

/// Purchase days per customer in the holdout period: UTC days after `calibration_end`'s, up to and including `holdout_end`'s.
///
/// Customers without holdout purchases are absent; pair with [`summarize`] to compare a model's
/// conditional expectations with what happened.
pub fn holdout_counts(transactions: &[Transaction], calibration_end: i64, holdout_end: i64) -> BTreeMap<String, u32> {
    let (start, end) = (day_of(calibration_end), day_of(holdout_end));
    let mut days: BTreeMap<&str, std::collections::BTreeSet<i64>> = BTreeMap::new();
    for transaction in transactions {
        let day = day_of(transaction.ts);
        if day > start && day <= end {
            days.entry(transaction.customer.as_str()).or_default().insert(day);
        }
    }
    days.into_iter().map(|(id, set)| (id.to_string(), u32::try_from(set.len()).unwrap_or(u32::MAX))).collect()
}

/// Parses a CDNOW transaction log (the format of `CDNOW_sample.txt` and `CDNOW_master.txt`).
///
/// Whitespace-separated lines `[master_id] sample_id YYYYMMDD cds dollars` (five columns: the
/// customer is the sample id) or `customer_id YYYYMMDD cds dollars` (four columns). Customer ids
/// lose their leading zeros (`0001` → `1`, matching the summary CSVs); a header line and blank
/// lines are skipped; the timestamp is midnight UTC of the date.
///
/// # Errors
/// [`AnalyticsError::Parse`] naming the line of the first malformed row.
pub fn parse_cdnow(text: &str) -> Result<Vec<Transaction>> {
    let mut transactions = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let bad = |message: String| AnalyticsError::Parse { line: index + 1, message };
        let (customer, date, value) = match fields.as_slice() {
            [] => continue,
            [first, ..] if first.chars().any(|c| c.is_ascii_alphabetic()) && index == 0 => continue,
            [_, sample, date, _, value] => (sample, date, value),
            [customer, date, _, value] => (customer, date, value),
            _ => return Err(bad(format!("expected 4 or 5 whitespace-separated columns, got {}", fields.len()))),
        };
        let day = parse_date(date).ok_or_else(|| bad(format!("bad date {date:?}, expected YYYYMMDD")))?;
        let value: f64 = value.parse().map_err(|_| bad(format!("bad dollar value {value:?}")))?;
        let trimmed = customer.trim_start_matches('0');
        let customer = if trimmed.is_empty() { "0" } else { trimmed };
        transactions.push(Transaction { customer: customer.to_string(), ts: day_start_ms(day), value });
    }
    Ok(transactions)
}

/// Parses a summary CSV with a header: `ID,frequency,recency,T` or `ID,x,t_x,T[,zbar]` (the
/// lifetimes/BTYD CDNOW files). A missing spend column reads as 0.
///
/// # Errors
/// [`AnalyticsError::Parse`] naming the line of the first malformed row or an unknown header.
pub fn parse_summary_csv(text: &str) -> Result<Vec<CustomerSummary>> {
    let mut lines = text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let columns: Vec<String> = header.split(',').map(|c| c.trim().trim_matches('"').to_ascii_lowercase()).collect();
    let find = |names: &[&str]| columns.iter().position(|c| names.contains(&c.as_str()));
    let missing = |what: &str| AnalyticsError::Parse {
        line: 1,
        message: format!("header {header:?} has no {what} column (expected ID,frequency,recency,T or ID,x,t_x,T,zbar)"),
    };
    let id = find(&["id", "customer", "customer_id"]).ok_or_else(|| missing("ID"))?;
    let x = find(&["frequency", "x"]).ok_or_else(|| missing("frequency/x"))?;
    let t_x = find(&["recency", "t_x"]).ok_or_else(|| missing("recency/t_x"))?;
    let t_cal = find(&["t", "t_cal", "t.cal"]).ok_or_else(|| missing("T"))?;
    let monetary = find(&["zbar", "monetary_value", "monetary"]);
    let mut summaries = Vec::new();
    for (index, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let bad = |message: String| AnalyticsError::Parse { line: index + 1, message };
        let field = |column: usize| fields.get(column).copied().ok_or_else(|| bad(format!("missing column {}", column + 1)));
        let number = |column: usize| -> Result<f64> {
            let text = field(column)?;
            text.parse::<f64>().map_err(|_| bad(format!("bad number {text:?} in column {}", column + 1)))
        };
        let frequency = number(x)?;
        if frequency < 0.0 || frequency.fract() != 0.0 || frequency > f64::from(u32::MAX) {
            return Err(bad(format!("frequency {frequency} is not a whole number")));
        }
        summaries.push(CustomerSummary {
            id: field(id)?.trim_matches('"').to_string(),
            x: frequency as u32,
            t_x: number(t_x)?,
            t_cal: number(t_cal)?,
            monetary: match monetary {
                Some(column) => number(column)?,
                None => 0.0,
            },
        });
    }
    Ok(summaries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::days_from_civil;

    fn at(year: i64, month: u32, day: u32, hour: i64) -> i64 {
        day_start_ms(days_from_civil(year, month, day)) + hour * 3_600_000
    }

    fn tx(customer: &str, ts: i64, value: f64) -> Transaction {
        Transaction { customer: customer.to_string(), ts, value }
    }

    #[test]
    fn collapses_same_day_purchases_and_measures_weeks_from_the_first() {
        let log = [
            tx("a", at(1997, 1, 1, 9), 10.0),
            tx("a", at(1997, 1, 1, 18), 5.0), // same day as the first: not a repeat
            tx("a", at(1997, 1, 15, 0), 20.0),
            tx("a", at(1997, 1, 15, 23), 2.0), // same day: one repeat worth 22
            tx("a", at(1997, 1, 29, 12), 8.0),
            tx("a", at(1997, 2, 12, 1), 100.0), // after the calibration end
            tx("b", at(1997, 1, 22, 0), 7.0),
            tx("c", at(1997, 2, 1, 0), 7.0), // first purchase after the end: absent
        ];
        let end = at(1997, 1, 29, 0);
        let summaries = summarize(&log, &SummaryOptions::weekly(end)).expect("valid options");
        assert_eq!(
            summaries,
            vec![
                CustomerSummary { id: "a".into(), x: 2, t_x: 4.0, t_cal: 4.0, monetary: 15.0 },
                CustomerSummary { id: "b".into(), x: 0, t_x: 0.0, t_cal: 1.0, monetary: 0.0 },
            ]
        );
        assert_eq!(holdout_counts(&log, end, at(1997, 3, 1, 0)), BTreeMap::from([("a".to_string(), 1), ("c".to_string(), 1)]));
        assert!(summarize(&log, &SummaryOptions { calibration_end: end, unit_days: 0.0 }).is_err());
    }

    #[test]
    fn parses_both_cdnow_layouts_and_summary_csvs() {
        let sample = " 00004 0001 19970101  2   29.33\n 00004 0001 19970118  2   29.73\n";
        let parsed = parse_cdnow(sample).expect("valid sample");
        assert_eq!(parsed[1], tx("1", day_start_ms(days_from_civil(1997, 1, 18)), 29.73));
        let master = " customer_id  date number_of_cds  dollar_value\n 00002 19970112  1   12.00\n";
        assert_eq!(parse_cdnow(master).expect("valid master")[0].customer, "2");
        assert!(matches!(parse_cdnow(" 1 0001 19971301 1 2.0"), Err(AnalyticsError::Parse { line: 1, .. })));

        let csv = "ID,frequency,recency,T\n1,2,30.43,38.86\n3,0,0.0,38.86\n";
        let parsed = parse_summary_csv(csv).expect("valid csv");
        assert_eq!(parsed[0], CustomerSummary { id: "1".into(), x: 2, t_x: 30.43, t_cal: 38.86, monetary: 0.0 });
        let with_spend = parse_summary_csv("ID,x,t_x,T,zbar\n1,2,30.43,38.86,22.35\n").expect("valid csv");
        assert_eq!(with_spend[0].monetary, 22.35);
        assert!(matches!(parse_summary_csv("ID,x,t_x\n"), Err(AnalyticsError::Parse { line: 1, .. })));
        assert!(matches!(parse_summary_csv("ID,x,t_x,T\n1,1.5,1,2\n"), Err(AnalyticsError::Parse { line: 2, .. })));
    }

    #[test]
    fn validates_summaries() {
        let good = CustomerSummary { id: "a".into(), x: 1, t_x: 1.0, t_cal: 2.0, monetary: 3.0 };
        assert!(good.validate().is_ok());
        assert!(CustomerSummary { t_x: 3.0, ..good.clone() }.validate().is_err());
        assert!(CustomerSummary { x: 0, ..good.clone() }.validate().is_err());
        assert!(CustomerSummary { monetary: f64::NAN, ..good }.validate().is_err());
    }
}
