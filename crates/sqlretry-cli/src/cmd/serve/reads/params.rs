//! The read endpoints' query parameters: percent-decoded, each checked, a bad one named.

use std::collections::HashMap;

use super::super::tick::BadInput;
use super::super::timestamp::{self, TimeUnit};

/// The query string as `name → value` (percent-decoded; `+` is kept, so that an RFC 3339 offset
/// may be sent unencoded).
///
/// # Errors
///
/// A parameter given twice, or not UTF-8 once decoded.
pub fn parse_query(query: Option<&str>) -> Result<HashMap<String, String>, BadInput> {
    let mut params = HashMap::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|v| v.into_owned())
                .map_err(|_| BadInput::new(name, "not UTF-8 once percent-decoded"))
        };
        let (name, value) = (decode(name)?, decode(value)?);
        if params.insert(name.clone(), value).is_some() {
            return Err(BadInput::new(name, "given twice"));
        }
    }
    Ok(params)
}

/// A required, non-empty parameter.
///
/// # Errors
///
/// Missing or empty.
pub fn required<'a>(params: &'a HashMap<String, String>, name: &str) -> Result<&'a str, BadInput> {
    match params.get(name) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(BadInput::new(name, "missing")),
    }
}

/// An optional time bound in microseconds: an integer in the configured unit or RFC 3339.
///
/// # Errors
///
/// Neither form.
pub fn time(params: &HashMap<String, String>, name: &str, unit: TimeUnit) -> Result<Option<i64>, BadInput> {
    let Some(text) = params.get(name) else { return Ok(None) };
    let value = match text.parse::<i64>() {
        Ok(n) => serde_json::Value::from(n),
        Err(_) => serde_json::Value::from(text.as_str()),
    };
    let instant = timestamp::parse(&value, unit).map_err(|e| BadInput::new(name, e))?;
    instant.micros().map(Some).map_err(|e| BadInput::new(name, e))
}

/// `from` (inclusive) and `to` (exclusive), in microseconds.
///
/// # Errors
///
/// A bad bound, or `to` not after `from`.
pub fn range(params: &HashMap<String, String>, unit: TimeUnit) -> Result<(i64, i64), BadInput> {
    let from = time(params, "from", unit)?.unwrap_or(i64::MIN);
    let to = time(params, "to", unit)?.unwrap_or(i64::MAX);
    if to <= from {
        return Err(BadInput::new("to", "must be after `from`"));
    }
    Ok((from, to))
}

/// A page position: after the tick at `(ts, rowid)`. Written `<ts>_<rowid>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The last tick's timestamp (µs).
    pub ts: i64,
    /// The last tick's rowid (arrival order among equal timestamps).
    pub rowid: i64,
}

impl Cursor {
    /// The cursor's text.
    pub fn text(self) -> String {
        format!("{}_{}", self.ts, self.rowid)
    }

    /// Reads `cursor`.
    ///
    /// # Errors
    ///
    /// Not a cursor this service wrote.
    pub fn parse(params: &HashMap<String, String>) -> Result<Option<Cursor>, BadInput> {
        let Some(text) = params.get("cursor") else { return Ok(None) };
        let bad = || BadInput::new("cursor", "not a cursor returned by this service");
        let (ts, rowid) = text.split_once('_').ok_or_else(bad)?;
        Ok(Some(Cursor { ts: ts.parse().map_err(|_| bad())?, rowid: rowid.parse().map_err(|_| bad())? }))
    }
}

/// `limit`: 1..=`max`, `default` when absent.
///
/// # Errors
///
/// Not a whole number in range.
pub fn limit(params: &HashMap<String, String>, default: usize, max: usize) -> Result<usize, BadInput> {
    let Some(text) = params.get("limit") else { return Ok(default) };
    match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(BadInput::new("limit", format!("must be a whole number from 1 to {max}"))),
    }
}

/// The response format of `GET /api/ticks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object with the ticks and the next cursor.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// A header line and one line per tick.
    Csv,
}

impl Format {
    /// From `format=` or else the `Accept` header (JSON when neither names another).
    ///
    /// # Errors
    ///
    /// An unknown `format`.
    pub fn choose(params: &HashMap<String, String>, accept: Option<&str>) -> Result<Format, BadInput> {
        match params.get("format").map(String::as_str) {
            Some("json") => Ok(Format::Json),
            Some("ndjson") => Ok(Format::Ndjson),
            Some("csv") => Ok(Format::Csv),
            Some(_) => Err(BadInput::new("format", "must be json, ndjson or csv")),
            None => {
                let accept = accept.unwrap_or("");
                Ok(if accept.contains("application/x-ndjson") || accept.contains("application/jsonl") {
                    Format::Ndjson
                } else if accept.contains("text/csv") {
                    Format::Csv
                } else {
                    Format::Json
                })
            }
        }
    }

    /// The `Content-Type` of the answer.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_decoded_and_checked() {
        let p =
            parse_query(Some("symbol=EUR%2FUSD&from=2024-12-07T19:33:20+01:00&limit=5&cursor=7_3")).unwrap();
        assert_eq!(required(&p, "symbol").unwrap(), "EUR/USD");
        assert_eq!(time(&p, "from", TimeUnit::Ms).unwrap(), Some(1_733_596_400_000_000));
        assert_eq!(limit(&p, 10, 100).unwrap(), 5);
        assert_eq!(Cursor::parse(&p).unwrap(), Some(Cursor { ts: 7, rowid: 3 }));
        assert_eq!(parse_query(Some("a=1&a=2")).unwrap_err().field, "a");
        let bad = parse_query(Some("limit=0&cursor=x&from=soon&format=xml")).unwrap();
        assert_eq!(limit(&bad, 10, 100).unwrap_err().field, "limit");
        assert_eq!(Cursor::parse(&bad).unwrap_err().field, "cursor");
        assert_eq!(range(&bad, TimeUnit::Ms).unwrap_err().field, "from");
        assert_eq!(Format::choose(&bad, None).unwrap_err().field, "format");
        let none = parse_query(None).unwrap();
        assert_eq!(Format::choose(&none, Some("text/csv")).unwrap(), Format::Csv);
        assert_eq!(required(&none, "symbol").unwrap_err().field, "symbol");
        let backwards = parse_query(Some("from=10&to=5")).unwrap();
        assert_eq!(range(&backwards, TimeUnit::Ms).unwrap_err().field, "to");
    }
}
