//! Timestamp normalisation: ISO-8601 with or without zone, epoch seconds or milliseconds, and
//! configured strftime formats, all to UTC milliseconds.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

/// Earliest accepted instant (1970-01-01) in UTC milliseconds.
const MIN_MS: i64 = 0;
/// Latest accepted instant (2100-01-01) in UTC milliseconds.
const MAX_MS: i64 = 4_102_444_800_000;

/// Parses a zone name (`UTC`, `Europe/Paris`).
pub fn parse_timezone(name: &str) -> Option<Tz> {
    name.trim().parse::<Tz>().ok()
}

/// How a source's timestamps are read.
#[derive(Clone, Debug)]
pub struct TimestampRules {
    /// Zone of timestamps without an offset.
    pub zone: Tz,
    /// strftime formats tried after ISO-8601 and epoch numbers.
    pub formats: Vec<String>,
}

impl TimestampRules {
    /// Parses a number as epoch seconds (below 10^11) or milliseconds.
    ///
    /// # Errors
    /// A message when the number is not a plausible instant between 1970 and 2100.
    pub fn from_epoch(&self, value: f64) -> Result<i64, String> {
        if !value.is_finite() {
            return Err(format!("{value} is not a time"));
        }
        let ms = if value.abs() < 1e11 { value * 1000.0 } else { value };
        check_range(ms.round() as i64)
    }

    /// Parses text in any accepted form.
    ///
    /// # Errors
    /// A message naming the text and the forms tried.
    pub fn parse(&self, text: &str) -> Result<i64, String> {
        let text = text.trim();
        if !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
            && text.bytes().filter(|b| b.is_ascii_digit()).count() >= 9
        {
            if let Ok(number) = text.parse::<f64>() {
                return self.from_epoch(number);
            }
        }
        if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
            return check_range(instant.timestamp_millis());
        }
        for format in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%z"] {
            if let Ok(instant) = DateTime::parse_from_str(text, format) {
                return check_range(instant.timestamp_millis());
            }
        }
        for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
            if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
                return self.localise(naive, text);
            }
        }
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return self.localise(date.and_hms_opt(0, 0, 0).expect("midnight exists"), text);
        }
        for format in &self.formats {
            if let Ok(instant) = DateTime::parse_from_str(text, format) {
                return check_range(instant.timestamp_millis());
            }
            if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
                return self.localise(naive, text);
            }
            if let Ok(date) = NaiveDate::parse_from_str(text, format) {
                return self.localise(date.and_hms_opt(0, 0, 0).expect("midnight exists"), text);
            }
        }
        Err(format!(
            "{text:?} is not ISO-8601, epoch seconds/milliseconds{}",
            if self.formats.is_empty() { String::new() } else { format!(" or one of {:?}", self.formats) }
        ))
    }

    /// Places a zone-less time in the source's zone. In a DST fold the earlier instant wins; a
    /// time that does not exist (skipped by DST) is an error.
    fn localise(&self, naive: NaiveDateTime, text: &str) -> Result<i64, String> {
        match self.zone.from_local_datetime(&naive) {
            LocalResult::Single(instant) => check_range(instant.timestamp_millis()),
            LocalResult::Ambiguous(earliest, _) => check_range(earliest.timestamp_millis()),
            LocalResult::None => Err(format!("{text:?} does not exist in zone {}", self.zone)),
        }
    }
}

fn check_range(ms: i64) -> Result<i64, String> {
    if (MIN_MS..=MAX_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(format!("{ms} ms since the epoch is outside 1970..2100"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(zone: &str, formats: &[&str]) -> TimestampRules {
        TimestampRules { zone: parse_timezone(zone).unwrap(), formats: formats.iter().map(|f| f.to_string()).collect() }
    }

    #[test]
    fn iso_with_zone_is_converted_to_utc() {
        let utc = rules("UTC", &[]);
        assert_eq!(utc.parse("2024-03-01T12:00:00+02:00").unwrap(), 1_709_287_200_000);
        assert_eq!(utc.parse("2024-03-01T10:00:00Z").unwrap(), 1_709_287_200_000);
        assert_eq!(utc.parse("2024-03-01 10:00:00.250+00:00").unwrap(), 1_709_287_200_250);
    }

    #[test]
    fn zoneless_times_take_the_source_zone() {
        assert_eq!(rules("UTC", &[]).parse("2024-03-01 10:00:00").unwrap(), 1_709_287_200_000);
        // Paris is UTC+1 in March before the DST change.
        assert_eq!(rules("Europe/Paris", &[]).parse("2024-03-01T11:00:00").unwrap(), 1_709_287_200_000);
        assert_eq!(rules("UTC", &[]).parse("2024-03-01").unwrap(), 1_709_251_200_000);
    }

    #[test]
    fn epoch_seconds_and_milliseconds_are_told_apart() {
        let utc = rules("UTC", &[]);
        assert_eq!(utc.parse("1709287200").unwrap(), 1_709_287_200_000);
        assert_eq!(utc.parse("1709287200000").unwrap(), 1_709_287_200_000);
        assert_eq!(utc.from_epoch(1_709_287_200.5).unwrap(), 1_709_287_200_500);
    }

    #[test]
    fn configured_formats_are_tried_last() {
        let eu = rules("UTC", &["%d/%m/%Y %H:%M"]);
        assert_eq!(eu.parse("01/03/2024 10:00").unwrap(), 1_709_287_200_000);
        assert!(rules("UTC", &[]).parse("01/03/2024 10:00").is_err());
    }

    #[test]
    fn garbage_and_out_of_range_values_are_errors() {
        let utc = rules("UTC", &[]);
        assert!(utc.parse("yesterday").unwrap_err().contains("yesterday"));
        assert!(utc.parse("2024-13-45").is_err());
        assert!(utc.parse("2150-01-01").is_err());
        assert!(rules("Europe/Paris", &[]).parse("2024-03-31T02:30:00").unwrap_err().contains("does not exist"));
    }
}
