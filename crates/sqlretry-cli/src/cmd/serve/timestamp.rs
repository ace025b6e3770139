//! Tick timestamps as clients send them — an integer count since the Unix epoch in the configured
//! unit, or an RFC 3339 string (what Go's `time.Time` marshals to) — to the stored integer
//! microseconds. The exact instant (to the nanosecond) is kept for the tick's identity, so that two
//! ticks a few nanoseconds apart are never taken for one.

use serde::{Deserialize, Serialize};

/// The unit of integer timestamps (`[serve] timestamp_unit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    /// Seconds.
    S,
    /// Milliseconds (the default: what the seed's Go server stores).
    #[default]
    Ms,
    /// Microseconds.
    Us,
    /// Nanoseconds.
    Ns,
}

impl TimeUnit {
    fn nanos(self) -> i128 {
        match self {
            TimeUnit::S => 1_000_000_000,
            TimeUnit::Ms => 1_000_000,
            TimeUnit::Us => 1_000,
            TimeUnit::Ns => 1,
        }
    }

    /// The unit's name as configured.
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::S => "s",
            TimeUnit::Ms => "ms",
            TimeUnit::Us => "us",
            TimeUnit::Ns => "ns",
        }
    }
}

/// An instant: nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant {
    /// Nanoseconds since the epoch (the identity).
    pub nanos: i128,
}

impl Instant {
    /// Stored microseconds (rounded towards minus infinity).
    ///
    /// # Errors
    ///
    /// A message when it does not fit in 64 bits.
    pub fn micros(self) -> Result<i64, String> {
        i64::try_from(self.nanos.div_euclid(1_000)).map_err(|_| "out of range".to_owned())
    }
}

/// Reads a JSON timestamp: an integer in `unit`, or an RFC 3339 string.
///
/// # Errors
///
/// What is wrong with it, naming the expected forms.
pub fn parse(value: &serde_json::Value, unit: TimeUnit) -> Result<Instant, String> {
    match value {
        serde_json::Value::Number(n) => {
            let count = n
                .as_i64()
                .ok_or_else(|| format!("not an integer ({}) nor an RFC 3339 string", unit.name()))?;
            let instant = Instant { nanos: i128::from(count) * unit.nanos() };
            instant.micros()?;
            Ok(instant)
        }
        serde_json::Value::String(s) => rfc3339(s),
        _ => Err(format!("not an integer ({}) nor an RFC 3339 string", unit.name())),
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (`t` and a space are accepted for `T`).
///
/// # Errors
///
/// A message saying which part is wrong.
pub fn rfc3339(text: &str) -> Result<Instant, String> {
    let bad = |what: &str| format!("`{text}` is not an RFC 3339 time ({what})");
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err(bad("too short"));
    }
    let num = |from: usize, len: usize| -> Result<i64, String> {
        let part = text.get(from..from + len).ok_or_else(|| bad("truncated"))?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad("expected digits"));
        }
        part.parse::<i64>().map_err(|_| bad("expected digits"))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':'
    {
        return Err(bad("separators"));
    }
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(bad("no such date"));
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(bad("no such time of day"));
    }
    let mut at = 19;
    let mut fraction_nanos: i128 = 0;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let digits = b[at..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return Err(bad("the fraction has 1 to 9 digits"));
        }
        let value: i128 = text[at..at + digits].parse().map_err(|_| bad("fraction"))?;
        fraction_nanos = value * 10_i128.pow(9 - digits as u32);
        at += digits;
    }
    let offset_seconds = match &text[at..] {
        "Z" | "z" => 0,
        zone if zone.len() == 6
            && matches!(zone.as_bytes()[0], b'+' | b'-')
            && zone.as_bytes()[3] == b':' =>
        {
            let (h, m) = (num(at + 1, 2)?, num(at + 4, 2)?);
            if h > 23 || m > 59 {
                return Err(bad("offset"));
            }
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return Err(bad("expected Z or an offset like +01:00 at the end")),
    };
    // A leap second is folded onto the next second, as Go and most clocks do.
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    let instant = Instant { nanos: i128::from(seconds) * 1_000_000_000 + fraction_nanos };
    instant.micros().map_err(|_| bad("out of range"))?;
    Ok(instant)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_unit_lands_on_microseconds() {
        let v = serde_json::json!(1_733_600_000);
        assert_eq!(parse(&v, TimeUnit::S).unwrap().micros().unwrap(), 1_733_600_000_000_000);
        assert_eq!(parse(&v, TimeUnit::Ms).unwrap().micros().unwrap(), 1_733_600_000_000);
        assert_eq!(parse(&v, TimeUnit::Us).unwrap().micros().unwrap(), 1_733_600_000);
        assert_eq!(parse(&v, TimeUnit::Ns).unwrap().micros().unwrap(), 1_733_600);
        assert!(parse(&serde_json::json!(1.5), TimeUnit::Ms).unwrap_err().contains("not an integer (ms)"));
        assert!(parse(&serde_json::json!(i64::MAX), TimeUnit::S).is_err(), "past 64-bit microseconds");
    }

    #[test]
    fn rfc3339_with_fractions_and_offsets() {
        let z = rfc3339("2024-12-07T19:33:20.123Z").unwrap();
        assert_eq!(z.micros().unwrap(), 1_733_600_000_123_000);
        let plus = rfc3339("2024-12-07T20:33:20.123+01:00").unwrap();
        assert_eq!(plus, z);
        let nanos = rfc3339("2024-12-07T19:33:20.123456789Z").unwrap();
        assert_eq!((nanos.micros().unwrap(), nanos.nanos % 1000), (1_733_600_000_123_456, 789));
        assert_eq!(rfc3339("1970-01-01T00:00:00Z").unwrap().nanos, 0);
        assert_eq!(rfc3339("1969-12-31T23:59:59.5Z").unwrap().micros().unwrap(), -500_000);
        assert_eq!(rfc3339("2024-02-29T00:00:00Z").unwrap().micros().unwrap(), 1_709_164_800_000_000);
        for bad in
            ["2024-02-30T00:00:00Z", "2024-12-07 19:33", "2024-12-07T19:33:20", "2024-12-07T25:00:00Z", "x"]
        {
            assert!(rfc3339(bad).is_err(), "{bad}");
        }
    }
}
