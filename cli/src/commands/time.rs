//! Points in time as an operator types them: a duration back from now (`90s`, `30m`, `1h`, `2d`,
//! `1w`), a day (`2026-11-01`, midnight UTC), or an RFC 3339 time.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

/// A point in time: `since` of `logs` and `backfill`.
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(now));
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let amount: i64 = number.parse().map_err(|_| invalid(text))?;
    let back = match unit {
        "s" => TimeDelta::try_seconds(amount),
        "m" => TimeDelta::try_minutes(amount),
        "h" => TimeDelta::try_hours(amount),
        "d" => TimeDelta::try_days(amount),
        "w" => TimeDelta::try_weeks(amount),
        _ => None,
    }
    .ok_or_else(|| invalid(text))?;
    now.checked_sub_signed(back).ok_or_else(|| invalid(text))
}

fn invalid(text: &str) -> String {
    format!(
        "{text:?} is not a time: give a duration back from now (90s, 30m, 1h, 2d, 1w), a day (2026-11-01) or an RFC 3339 time"
    )
}

/// A duration as an operator types it: `90s`, `15m`, `1h`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let now = Utc::now();
    let back = parse_since(text, now).map_err(|_| format!("{text:?} is not a duration: give 90s, 15m, 1h"))?;
    match text.trim().ends_with(['s', 'm', 'h', 'd', 'w']) {
        true => (now - back).to_std().map_err(|_| format!("{text:?} is not a duration: give 90s, 15m, 1h")),
        false => Err(format!("{text:?} is not a duration: give 90s, 15m, 1h")),
    }
}

/// A day as `--since DATE` of `backfill` takes it: a day, an RFC 3339 time, or a duration back.
pub fn parse_date(text: &str) -> Result<DateTime<Utc>, String> {
    parse_since(text, Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_days_and_times_are_read() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_since("1h", now).unwrap().to_rfc3339(), "2026-11-25T09:00:00+00:00");
        assert_eq!(parse_since("2d", now).unwrap().to_rfc3339(), "2026-11-23T10:00:00+00:00");
        assert_eq!(parse_since("2026-11-01", now).unwrap().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(parse_since("2026-11-24T08:30:00+02:00", now).unwrap().to_rfc3339(), "2026-11-24T06:30:00+00:00");
        for bad in ["", "h", "1y", "yesterday", "-1h"] {
            assert!(parse_since(bad, now).is_err(), "{bad:?}");
        }
        assert_eq!(parse_duration("15m").unwrap(), std::time::Duration::from_secs(900));
        assert!(parse_duration("2026-11-01").is_err());
    }
}
