//! What a question says about time and money: "last month", "in March", "this week"; "under $20",
//! "below 30 dollars", "15 or less".

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use crate::text::words;

const MONTHS: [&str; 12] =
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"];

/// A span of UTC days a question refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    /// First millisecond inside.
    pub start_ms: i64,
    /// First millisecond after.
    pub end_ms: i64,
    /// How an answer names it ("in November 2026", "last week").
    pub label: String,
}

impl Period {
    /// The period `question` names, relative to `now_ms`; `None` when it names none.
    pub fn parse(question: &str, now_ms: i64) -> Option<Self> {
        let today = DateTime::<Utc>::from_timestamp_millis(now_ms)?.date_naive();
        let words = words(question);
        let has = |a: &str, b: &str| words.windows(2).any(|pair| pair[0] == a && pair[1] == b);
        let month_start = |date: NaiveDate| date.with_day(1).expect("day 1 exists");
        let next_month = |date: NaiveDate| month_start(date + Duration::days(32));
        let span = |start: NaiveDate, end: NaiveDate, label: String| Self { start_ms: ms(start), end_ms: ms(end), label };
        if has("last", "month") || has("previous", "month") || has("past", "month") {
            let start = month_start(month_start(today) - Duration::days(1));
            return Some(span(start, month_start(today), format!("in {}", start.format("%B %Y"))));
        }
        if has("this", "month") {
            let start = month_start(today);
            return Some(span(start, next_month(start), format!("in {}", start.format("%B %Y"))));
        }
        let week_start = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
        if has("last", "week") || has("previous", "week") || has("past", "week") {
            return Some(span(week_start - Duration::days(7), week_start, "last week".into()));
        }
        if has("this", "week") {
            return Some(span(week_start, week_start + Duration::days(7), "this week".into()));
        }
        let year_start = |year: i32| NaiveDate::from_ymd_opt(year, 1, 1).expect("1 January exists");
        if has("last", "year") || has("previous", "year") || has("past", "year") {
            let year = today.year() - 1;
            return Some(span(year_start(year), year_start(year + 1), format!("in {year}")));
        }
        if has("this", "year") {
            return Some(span(year_start(today.year()), year_start(today.year() + 1), format!("in {}", today.year())));
        }
        if words.iter().any(|word| word == "yesterday") {
            let day = today - Duration::days(1);
            return Some(span(day, today, "yesterday".into()));
        }
        if words.iter().any(|word| word == "today") {
            return Some(span(today, today + Duration::days(1), "today".into()));
        }
        // "in March": the latest March that has begun.
        let month = words.iter().find_map(|word| MONTHS.iter().position(|month| month == word))? as u32 + 1;
        let year = if month <= today.month() { today.year() } else { today.year() - 1 };
        let start = NaiveDate::from_ymd_opt(year, month, 1)?;
        Some(span(start, next_month(start), format!("in {}", start.format("%B %Y"))))
    }

    /// Whether `ts_ms` falls inside.
    pub fn contains(&self, ts_ms: i64) -> bool {
        (self.start_ms..self.end_ms).contains(&ts_ms)
    }
}

fn ms(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp_millis()
}

/// Phrases that put an upper bound on a price when a number follows them.
const BOUND_BEFORE: [&str; 9] = ["under", "below", "less than", "up to", "at most", "max", "maximum", "cheaper than", "no more than"];
/// Phrases that do so when they follow the number.
const BOUND_AFTER: [&str; 3] = ["or less", "or cheaper", "max"];

/// The highest price a question allows ("under $20", "below 30 dollars", "€15 or less").
pub fn price_limit(question: &str) -> Option<f64> {
    let text = question.to_lowercase();
    for phrase in BOUND_BEFORE {
        let mut from = 0;
        while let Some(at) = text[from..].find(phrase) {
            let after = from + at + phrase.len();
            if let Some((value, _)) = number_at(&text[after..]) {
                return Some(value);
            }
            from = after;
        }
    }
    let mut index = 0;
    while index < text.len() {
        if let Some((value, used)) = number_at(&text[index..]).filter(|_| index == 0 || !text.as_bytes()[index - 1].is_ascii_digit()) {
            let rest = text[index + used..].trim_start();
            let rest = rest.strip_prefix("dollars").or_else(|| rest.strip_prefix("euros")).unwrap_or(rest).trim_start();
            if BOUND_AFTER.iter().any(|phrase| rest.starts_with(phrase)) {
                return Some(value);
            }
            index += used.max(1);
        } else {
            index += text[index..].chars().next().map_or(1, char::len_utf8);
        }
    }
    None
}

/// A number at the start of `text` after spaces and a currency sign: its value and the bytes used.
fn number_at(text: &str) -> Option<(f64, usize)> {
    let trimmed = text.trim_start();
    let mut used = text.len() - trimmed.len();
    let mut rest = trimmed;
    for sign in ['$', '€', '£'] {
        if let Some(stripped) = rest.strip_prefix(sign) {
            used += sign.len_utf8();
            rest = stripped.trim_start();
            used += stripped.len() - rest.len();
        }
    }
    let digits = rest.bytes().take_while(|byte| byte.is_ascii_digit() || *byte == b'.').count();
    let number = rest[..digits].trim_end_matches('.');
    let value: f64 = number.parse().ok()?;
    Some((value, used + number.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        // Wednesday 2 December 2026, 10:00 UTC.
        NaiveDate::from_ymd_opt(2026, 12, 2).unwrap().and_hms_opt(10, 0, 0).unwrap().and_utc().timestamp_millis()
    }

    fn day(y: i32, m: u32, d: u32) -> i64 {
        ms(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    #[test]
    fn periods_are_relative_to_now() {
        let last_month = Period::parse("What did I buy last month?", now()).unwrap();
        assert_eq!((last_month.start_ms, last_month.end_ms), (day(2026, 11, 1), day(2026, 12, 1)));
        assert_eq!(last_month.label, "in November 2026");
        let week = Period::parse("anything ordered last week", now()).unwrap();
        assert_eq!((week.start_ms, week.end_ms), (day(2026, 11, 23), day(2026, 11, 30)));
        let march = Period::parse("my orders in March", now()).unwrap();
        assert_eq!(march.start_ms, day(2026, 3, 1));
        assert_eq!(Period::parse("orders in december", now()).unwrap().start_ms, day(2026, 12, 1));
        assert_eq!(Period::parse("what did I order last year", now()).unwrap().label, "in 2025");
        assert_eq!(Period::parse("what did I order", now()), None);
        assert!(Period::parse("yesterday", now()).unwrap().contains(day(2026, 12, 1) + 5));
    }

    #[test]
    fn price_limits() {
        assert_eq!(price_limit("something like the cream under 20 dollars"), Some(20.0));
        assert_eq!(price_limit("gift below $30.50 please"), Some(30.5));
        assert_eq!(price_limit("a mat for less than 15"), Some(15.0));
        assert_eq!(price_limit("anything for €25 or less"), Some(25.0));
        assert_eq!(price_limit("40 dollars max"), Some(40.0));
        assert_eq!(price_limit("something like item 42"), None);
        assert_eq!(price_limit("under the sink"), None);
    }
}
