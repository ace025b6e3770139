//! A tick as clients send it, validated field by field: a bad field is named, and a message with
//! one bad tick is refused whole (nothing of it is written).

use rusqlite::types::Value;
use serde_json::Map;
use sqlretry::Row;

/// The table the service writes; `(symbol, timestamp)` is the natural key (`INSERT OR IGNORE`).
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS ticks (
    symbol TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    price REAL NOT NULL,
    volume REAL NOT NULL,
    PRIMARY KEY (symbol, timestamp)
) WITHOUT ROWID";

/// One price tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// The instrument, 1..=`max_symbol_len` bytes.
    pub symbol: String,
    /// Milliseconds since the Unix epoch (any integer; the key with `symbol`).
    pub timestamp: i64,
    /// A finite price.
    pub price: f64,
    /// A finite, non-negative volume.
    pub volume: f64,
    /// The client's sequence number, when it sent one.
    pub seq: Option<u64>,
}

impl Row for Tick {
    const TYPE_NAME: &'static str = "tick";
    const INSERT_SQL: &'static str =
        "INSERT OR IGNORE INTO ticks (symbol, timestamp, price, volume) VALUES (?1, ?2, ?3, ?4)";
    fn values(&self) -> Vec<Value> {
        vec![self.symbol.clone().into(), self.timestamp.into(), self.price.into(), self.volume.into()]
    }
}

/// Why a message was refused: the field at fault (`ticks[3].price`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadInput {
    /// The field, as a path into the message (`body` when the message itself is malformed).
    pub field: String,
    /// What is wrong with it.
    pub error: String,
}

impl BadInput {
    fn new(field: impl Into<String>, error: impl Into<String>) -> Self {
        BadInput { field: field.into(), error: error.into() }
    }
}

/// Parses a message: one tick object, or an array of them. `seq_required`: every tick must carry
/// `seq` (WebSocket), else it is optional (HTTP).
///
/// # Errors
///
/// The first bad field; nothing of the message is to be written then.
pub fn parse_message(text: &str, max_symbol_len: usize, seq_required: bool) -> Result<Vec<Tick>, BadInput> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| BadInput::new("body", format!("malformed JSON: {e}")))?;
    match value {
        serde_json::Value::Array(items) => {
            if items.is_empty() {
                return Err(BadInput::new("body", "an empty array"));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_tick(item, &format!("[{i}]."), max_symbol_len, seq_required))
                .collect()
        }
        one => Ok(vec![parse_tick(&one, "", max_symbol_len, seq_required)?]),
    }
}

/// The client's sequence number of a message that failed validation, so that its error frame
/// names it: the last tick's `seq` of an array (as an ack would), else the object's. When the JSON
/// itself is malformed, the last `"seq": <digits>` in the text, if any.
pub fn client_seq(text: &str) -> Option<u64> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(items)) => items.iter().rev().find_map(|item| item.get("seq")?.as_u64()),
        Ok(value) => value.get("seq")?.as_u64(),
        Err(_) => {
            let (_, after) = text.rsplit_once("\"seq\"")?;
            let digits = after.trim_start().strip_prefix(':')?.trim_start();
            let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
            digits[..end].parse().ok()
        }
    }
}

/// Parses NDJSON: one tick per non-empty line (line numbers from 1 in the field path).
///
/// # Errors
///
/// The first bad line or field.
pub fn parse_ndjson(text: &str, max_symbol_len: usize) -> Result<Vec<Tick>, BadInput> {
    let mut ticks = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let prefix = format!("line {}: ", n + 1);
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| BadInput::new(format!("line {}", n + 1), format!("malformed JSON: {e}")))?;
        ticks.push(parse_tick(&value, &prefix, max_symbol_len, false)?);
    }
    if ticks.is_empty() {
        return Err(BadInput::new("body", "no ticks"));
    }
    Ok(ticks)
}

fn parse_tick(
    value: &serde_json::Value,
    prefix: &str,
    max_symbol_len: usize,
    seq_required: bool,
) -> Result<Tick, BadInput> {
    let field = |name: &str| format!("{prefix}{name}");
    let serde_json::Value::Object(map) = value else {
        let at = prefix.trim_end_matches(['.', ' ', ':']);
        return Err(BadInput::new(if at.is_empty() { "body" } else { at }, "not a JSON object"));
    };
    let get = |name: &str| map.get(name).ok_or_else(|| BadInput::new(field(name), "missing"));
    let symbol = get("symbol")?.as_str().ok_or_else(|| BadInput::new(field("symbol"), "not a string"))?;
    if symbol.is_empty() {
        return Err(BadInput::new(field("symbol"), "empty"));
    }
    if symbol.len() > max_symbol_len {
        return Err(BadInput::new(field("symbol"), format!("longer than {max_symbol_len} bytes")));
    }
    let timestamp =
        get("timestamp")?.as_i64().ok_or_else(|| BadInput::new(field("timestamp"), "not an integer (ms)"))?;
    let price = finite(map, "price", &field)?;
    let volume = finite(map, "volume", &field)?;
    if volume < 0.0 {
        return Err(BadInput::new(field("volume"), "negative"));
    }
    let seq = match map.get("seq") {
        None if seq_required => return Err(BadInput::new(field("seq"), "missing")),
        None => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| BadInput::new(field("seq"), "not a non-negative integer"))?),
    };
    Ok(Tick { symbol: symbol.to_owned(), timestamp, price, volume, seq })
}

/// A number, or a decimal string ("1.2345", as feeds often send prices); must be finite.
fn finite(
    map: &Map<String, serde_json::Value>,
    name: &str,
    field: &dyn Fn(&str) -> String,
) -> Result<f64, BadInput> {
    let value = map.get(name).ok_or_else(|| BadInput::new(field(name), "missing"))?;
    let number = match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .ok_or_else(|| BadInput::new(field(name), "not a number"))?;
    if number.is_finite() { Ok(number) } else { Err(BadInput::new(field(name), "not finite")) }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn bad(text: &str) -> String {
        parse_message(text, 8, true).unwrap_err().field
    }

    #[test]
    fn a_tick_or_an_array_parses() {
        let one =
            parse_message(r#"{"symbol":"EURUSD","timestamp":1,"price":1.1,"volume":2,"seq":7}"#, 8, true)
                .unwrap();
        assert_eq!(one[0].seq, Some(7));
        let two = parse_message(
            r#"[{"symbol":"A","timestamp":1,"price":"1.5","volume":0,"seq":1},
                {"symbol":"A","timestamp":2,"price":2,"volume":0,"seq":2}]"#,
            8,
            true,
        )
        .unwrap();
        assert_eq!((two.len(), two[0].price), (2, 1.5));
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(bad("{"), "body");
        assert_eq!(bad(r#"{"timestamp":1,"price":1,"volume":1,"seq":1}"#), "symbol");
        assert_eq!(bad(r#"{"symbol":"","timestamp":1,"price":1,"volume":1,"seq":1}"#), "symbol");
        assert_eq!(bad(r#"{"symbol":"TOOLONGSYM","timestamp":1,"price":1,"volume":1,"seq":1}"#), "symbol");
        assert_eq!(bad(r#"{"symbol":"A","timestamp":1.5,"price":1,"volume":1,"seq":1}"#), "timestamp");
        assert_eq!(bad(r#"[{"symbol":"A","timestamp":1,"price":"NaN","volume":1,"seq":1}]"#), "[0].price");
        assert_eq!(bad(r#"{"symbol":"A","timestamp":1,"price":"inf","volume":1,"seq":1}"#), "price");
        assert_eq!(bad(r#"{"symbol":"A","timestamp":1,"price":1,"volume":-1,"seq":1}"#), "volume");
        assert_eq!(bad(r#"{"symbol":"A","timestamp":1,"price":1,"volume":1}"#), "seq");
        assert_eq!(bad("[]"), "body");
    }

    #[test]
    fn ndjson_names_the_line() {
        let ok = parse_ndjson("{\"symbol\":\"A\",\"timestamp\":1,\"price\":1,\"volume\":1}\n\n", 8).unwrap();
        assert_eq!(ok.len(), 1);
        let err = parse_ndjson(
            "{\"symbol\":\"A\",\"timestamp\":1,\"price\":1,\"volume\":1}\n{\"symbol\":\"A\"}",
            8,
        )
        .unwrap_err();
        assert_eq!(err.field, "line 2: timestamp");
    }

    #[test]
    fn the_client_seq_is_found_in_messages_that_fail_validation() {
        assert_eq!(client_seq(r#"{"symbol":"","timestamp":1,"price":"NaN","seq":41}"#), Some(41));
        assert_eq!(client_seq(r#"[{"seq":1,"price":1},{"symbol":"A","seq":2,"price":"x"}]"#), Some(2));
        assert_eq!(client_seq(r#"[{"seq":1},{"symbol":"A"}]"#), Some(1), "the last tick carrying one");
        assert_eq!(client_seq(r#"{"symbol":"A","seq": 7, "price": 1.0,,"#), Some(7), "malformed JSON");
        assert_eq!(client_seq(r#"{"symbol":"A","seq":-3}"#), None);
        assert_eq!(client_seq(r#"{"symbol":"A","seq":"x"#), None);
        assert_eq!(client_seq("not json"), None);
    }
}
