//! UTC calendar arithmetic on millisecond timestamps (days, ISO weeks, months) without a date library.

/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// The day number (days since 1970-01-01, UTC) of a UTC-millisecond timestamp.
pub fn day_of(ts: i64) -> i64 {
    ts.div_euclid(MS_PER_DAY)
}

/// The day number of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian `(year, month, day)` of a day number.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Parses `YYYYMMDD` or `YYYY-MM-DD` into a day number; `None` for anything else or an impossible date.
pub fn parse_date(text: &str) -> Option<i64> {
    let text = text.trim();
    let digits: String = text.chars().filter(|c| *c != '-').collect();
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) || (text.len() != 8 && text.len() != 10) {
        return None;
    }
    let year: i64 = digits[0..4].parse().ok()?;
    let month: u32 = digits[4..6].parse().ok()?;
    let day: u32 = digits[6..8].parse().ok()?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// The UTC-millisecond timestamp of midnight starting a day number.
pub fn day_start_ms(day: i64) -> i64 {
    day * MS_PER_DAY
}

/// A month counted from year 0 (`year * 12 + month - 1`) of a UTC-millisecond timestamp.
pub fn month_of(ts: i64) -> i64 {
    let (year, month, _) = civil_from_days(day_of(ts));
    year * 12 + i64::from(month) - 1
}

/// The day number of the first day of a month counted by [`month_of`].
pub fn month_start_day(month: i64) -> i64 {
    days_from_civil(month.div_euclid(12), (month.rem_euclid(12) + 1) as u32, 1)
}

/// `YYYY-MM` of a month counted by [`month_of`].
pub fn month_label(month: i64) -> String {
    format!("{:04}-{:02}", month.div_euclid(12), month.rem_euclid(12) + 1)
}

/// The day number of the Monday starting the ISO week that contains `day`.
pub fn week_start_day(day: i64) -> i64 {
    // 1970-01-01 was a Thursday, three days after a Monday.
    day - (day + 3).rem_euclid(7)
}

/// `YYYY-MM-DD` of a day number.
pub fn date_label(day: i64) -> String {
    let (year, month, dom) = civil_from_days(day);
    format!("{year:04}-{month:02}-{dom:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1997, 1, 1), 9862);
        assert_eq!(days_from_civil(1997, 9, 30) - days_from_civil(1997, 1, 1), 272);
        assert_eq!(days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28), 2);
        for day in -800_000..800_000 {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
    }

    #[test]
    fn parses_dates_and_rejects_bad_ones() {
        assert_eq!(parse_date("19970101"), Some(9862));
        assert_eq!(parse_date("1997-01-01"), Some(9862));
        assert_eq!(parse_date("19970230"), None);
        assert_eq!(parse_date("1997-0101"), None);
        assert_eq!(parse_date("2000-02-29"), Some(days_from_civil(2000, 2, 29)));
        assert_eq!(parse_date("1900-02-29"), None);
    }

    #[test]
    fn months_and_weeks() {
        let ts = day_start_ms(days_from_civil(2024, 3, 15)) + 5 * 3_600_000;
        assert_eq!(month_label(month_of(ts)), "2024-03");
        assert_eq!(month_start_day(month_of(ts)), days_from_civil(2024, 3, 1));
        assert_eq!(month_label(month_of(-1)), "1969-12");
        // 2024-03-15 is a Friday; its week starts on Monday 2024-03-11.
        assert_eq!(date_label(week_start_day(day_of(ts))), "2024-03-11");
        assert_eq!(week_start_day(days_from_civil(2024, 3, 11)), days_from_civil(2024, 3, 11));
    }
}
