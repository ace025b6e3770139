//! A tick as clients send it, validated field by field against the configured model: a bad field
//! is named, and a message with one bad tick is refused whole (nothing of it is written).
//!
//! **Identity.** Only an exact resend is a duplicate. A tick's `tick_key` is a 128-bit digest
//! (SHA-256, truncated) of, in this order of preference: the client's `id`; its `source` and
//! `seq`; or, when it sends neither, its whole content (symbol, the instant to the nanosecond, and
//! every stored value). Stored under a unique `(symbol, ts, tick_key)`, two different quotes in one
//! millisecond are two rows, and a message resent after a reconnect finds its rows already there.
//! Field names are matched without regard to case, so a Go struct marshalled without tags
//! (`Symbol`, `Timestamp`, `Bid`, `LP`) is read as it is.

use std::sync::Arc;

use rusqlite::types::Value;
use sha2::{Digest, Sha256};

use super::model::{ColumnType, Fill, Model};
use super::timestamp::{self, TimeUnit};

/// One validated tick, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// The instrument, 1..=`max_symbol_len` bytes.
    pub symbol: String,
    /// Microseconds since the Unix epoch.
    pub ts: i64,
    /// The model's value columns, in order.
    pub values: Vec<Value>,
    /// The identity (see the module docs).
    pub key: [u8; 16],
    /// The client's message sequence number, when it sent one (acks name it).
    pub seq: Option<u64>,
}

impl Tick {
    /// The row's values for the model's `INSERT`: symbol, ts, the value columns, tick_key.
    pub fn into_row(self) -> Vec<Value> {
        let mut row = Vec::with_capacity(self.values.len() + 3);
        row.push(Value::Text(self.symbol));
        row.push(Value::Integer(self.ts));
        row.extend(self.values);
        row.push(Value::Blob(self.key.to_vec()));
        row
    }
}

/// Why a message was refused: the field at fault (`[3].bid`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadInput {
    /// The field, as a path into the message (`body` when the message itself is malformed).
    pub field: String,
    /// What is wrong with it.
    pub error: String,
}

impl BadInput {
    /// `field` is wrong: `error`.
    pub fn new(field: impl Into<String>, error: impl Into<String>) -> Self {
        BadInput { field: field.into(), error: error.into() }
    }
}

/// Reads ticks of one model.
#[derive(Debug, Clone)]
pub struct TickParser {
    /// The stored columns.
    pub model: Arc<Model>,
    /// The unit of integer timestamps.
    pub unit: TimeUnit,
    /// Longest symbol in bytes.
    pub max_symbol_len: usize,
}

impl TickParser {
    /// Parses a message: one tick object, or an array of them. `seq_required`: every tick must
    /// carry `seq` (WebSocket), else it is optional (HTTP).
    ///
    /// # Errors
    ///
    /// The first bad field; nothing of the message is to be written then.
    pub fn parse_message(&self, text: &str, seq_required: bool) -> Result<Vec<Tick>, BadInput> {
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
                    .map(|(i, item)| self.parse_tick(item, &format!("[{i}]."), seq_required))
                    .collect()
            }
            one => Ok(vec![self.parse_tick(&one, "", seq_required)?]),
        }
    }

    /// Parses NDJSON: one tick per non-empty line (line numbers from 1 in the field path).
    ///
    /// # Errors
    ///
    /// The first bad line or field.
    pub fn parse_ndjson(&self, text: &str) -> Result<Vec<Tick>, BadInput> {
        let mut ticks = Vec::new();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let prefix = format!("line {}: ", n + 1);
            let value: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| BadInput::new(format!("line {}", n + 1), format!("malformed JSON: {e}")))?;
            ticks.push(self.parse_tick(&value, &prefix, false)?);
        }
        if ticks.is_empty() {
            return Err(BadInput::new("body", "no ticks"));
        }
        Ok(ticks)
    }

    fn parse_tick(
        &self,
        value: &serde_json::Value,
        prefix: &str,
        seq_required: bool,
    ) -> Result<Tick, BadInput> {
        let field = |name: &str| format!("{prefix}{name}");
        let serde_json::Value::Object(map) = value else {
            let at = prefix.trim_end_matches(['.', ' ', ':']);
            return Err(BadInput::new(if at.is_empty() { "body" } else { at }, "not a JSON object"));
        };
        let columns = &self.model.columns;
        let mut fields = Fields {
            symbol: None,
            time: None,
            id: None,
            source: None,
            seq: None,
            values: vec![None; columns.len()],
        };
        for (name, value) in map {
            let lower = name.to_ascii_lowercase();
            let slot = match lower.as_str() {
                "symbol" => &mut fields.symbol,
                "timestamp" | "ts" | "time" => &mut fields.time,
                "id" => &mut fields.id,
                "source" => &mut fields.source,
                "seq" => &mut fields.seq,
                other => match columns.iter().position(|c| c.name == other || c.aliases.contains(&other)) {
                    Some(i) => &mut fields.values[i],
                    None => {
                        return Err(BadInput::new(field(name), "not a field of the configured tick model"));
                    }
                },
            };
            if slot.replace(value).is_some() {
                return Err(BadInput::new(field(name), "given twice"));
            }
        }
        let symbol = fields
            .symbol
            .ok_or_else(|| BadInput::new(field("symbol"), "missing"))?
            .as_str()
            .ok_or_else(|| BadInput::new(field("symbol"), "not a string"))?;
        if symbol.is_empty() {
            return Err(BadInput::new(field("symbol"), "empty"));
        }
        if symbol.len() > self.max_symbol_len {
            return Err(BadInput::new(field("symbol"), format!("longer than {} bytes", self.max_symbol_len)));
        }
        let time = fields.time.ok_or_else(|| BadInput::new(field("timestamp"), "missing"))?;
        let instant = timestamp::parse(time, self.unit).map_err(|e| BadInput::new(field("timestamp"), e))?;
        let ts = instant.micros().map_err(|e| BadInput::new(field("timestamp"), e))?;
        let seq = match fields.seq {
            None if seq_required => return Err(BadInput::new(field("seq"), "missing")),
            None => None,
            Some(v) => {
                Some(v.as_u64().ok_or_else(|| BadInput::new(field("seq"), "not a non-negative integer"))?)
            }
        };
        let mut values = Vec::with_capacity(columns.len());
        for (column, given) in columns.iter().zip(&fields.values) {
            let value = match given {
                None | Some(serde_json::Value::Null) => match column.fill {
                    Fill::Spread => spread(&values),
                    Fill::Field if column.required => {
                        return Err(BadInput::new(field(&column.name), "missing"));
                    }
                    Fill::Field => Value::Null,
                },
                Some(v) => typed(v, column.kind).map_err(|e| BadInput::new(field(&column.name), e))?,
            };
            if column.non_negative && matches!(value, Value::Real(x) if x < 0.0) {
                return Err(BadInput::new(field(&column.name), "negative"));
            }
            values.push(value);
        }
        let mut digest = Sha256::new();
        if let Some(id) = fields.id {
            digest.update(b"id\0");
            match id {
                serde_json::Value::String(s) if !s.is_empty() => digest.update(s.as_bytes()),
                serde_json::Value::Number(n) if n.is_u64() || n.is_i64() => {
                    digest.update(n.to_string().as_bytes())
                }
                _ => return Err(BadInput::new(field("id"), "not a non-empty string or an integer")),
            }
        } else if let Some(source) = fields.source {
            let source = source
                .as_str()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| BadInput::new(field("source"), "not a non-empty string"))?;
            let seq = seq.ok_or_else(|| {
                BadInput::new(
                    field("seq"),
                    "missing (a tick with `source` is identified by `source` and `seq`)",
                )
            })?;
            digest.update(b"source\0");
            digest.update((source.len() as u64).to_le_bytes());
            digest.update(source.as_bytes());
            digest.update(seq.to_le_bytes());
        } else {
            digest.update(b"content\0");
            digest.update((symbol.len() as u64).to_le_bytes());
            digest.update(symbol.as_bytes());
            digest.update(instant.nanos.to_le_bytes());
            for value in &values {
                match value {
                    Value::Null => digest.update([0]),
                    Value::Integer(i) => {
                        digest.update([1]);
                        digest.update(i.to_le_bytes());
                    }
                    Value::Real(x) => {
                        digest.update([2]);
                        // -0.0 and 0.0 are one price.
                        digest.update((if *x == 0.0 { 0.0_f64 } else { *x }).to_bits().to_le_bytes());
                    }
                    Value::Text(s) => {
                        digest.update([3]);
                        digest.update((s.len() as u64).to_le_bytes());
                        digest.update(s.as_bytes());
                    }
                    Value::Blob(b) => {
                        digest.update([4]);
                        digest.update((b.len() as u64).to_le_bytes());
                        digest.update(b);
                    }
                }
            }
        }
        let mut key = [0_u8; 16];
        key.copy_from_slice(&digest.finalize()[..16]);
        Ok(Tick { symbol: symbol.to_owned(), ts, values, key, seq })
    }
}

/// The fields of one tick object, found by name.
struct Fields<'a> {
    symbol: Option<&'a serde_json::Value>,
    time: Option<&'a serde_json::Value>,
    id: Option<&'a serde_json::Value>,
    source: Option<&'a serde_json::Value>,
    seq: Option<&'a serde_json::Value>,
    values: Vec<Option<&'a serde_json::Value>>,
}

/// `ask − bid` from the quote's first two columns (the preset's order).
fn spread(values: &[Value]) -> Value {
    match (values.first(), values.get(1)) {
        (Some(Value::Real(bid)), Some(Value::Real(ask))) => Value::Real(ask - bid),
        _ => Value::Null,
    }
}

/// A JSON value as the column's type.
fn typed(value: &serde_json::Value, kind: ColumnType) -> Result<Value, String> {
    match kind {
        ColumnType::Real => {
            let number = match value {
                serde_json::Value::Number(n) => n.as_f64(),
                // Feeds often send prices as decimal strings ("1.2345").
                serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            }
            .ok_or("not a number")?;
            if number.is_finite() { Ok(Value::Real(number)) } else { Err("not finite".into()) }
        }
        ColumnType::Integer => match value {
            serde_json::Value::Number(n) => {
                n.as_i64().map(Value::Integer).ok_or_else(|| "not an integer".into())
            }
            serde_json::Value::String(s) => {
                s.trim().parse::<i64>().map(Value::Integer).map_err(|_| "not an integer".into())
            }
            _ => Err("not an integer".into()),
        },
        ColumnType::Text => match value {
            serde_json::Value::String(s) => Ok(Value::Text(s.clone())),
            _ => Err("not a string".into()),
        },
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::model::Preset;
    use super::*;

    fn parser(preset: Preset) -> TickParser {
        TickParser {
            model: Arc::new(Model::new(preset, &[]).unwrap()),
            unit: TimeUnit::Ms,
            max_symbol_len: 8,
        }
    }

    fn bad(text: &str) -> String {
        parser(Preset::Quote).parse_message(text, true).unwrap_err().field
    }

    #[test]
    fn a_quote_or_an_array_parses_and_the_spread_is_computed() {
        let p = parser(Preset::Quote);
        let one = p
            .parse_message(r#"{"symbol":"EURUSD","timestamp":1,"bid":1.5,"ask":"1.75","seq":7}"#, true)
            .unwrap();
        assert_eq!(one[0].seq, Some(7));
        assert_eq!(one[0].ts, 1000);
        assert_eq!(one[0].values, [Value::Real(1.5), Value::Real(1.75), Value::Real(0.25), Value::Null]);
        let go = p
            .parse_message(r#"{"Symbol":"EURUSD","Timestamp":"2024-12-07T19:33:20.123Z","Bid":1.1,"Ask":1.2,"Spread":0.1,"LP":"lp1"}"#, false)
            .unwrap();
        assert_eq!(go[0].ts, 1_733_600_000_123_000);
        assert_eq!(go[0].values[3], Value::Text("lp1".into()));
    }

    #[test]
    fn only_exact_resends_share_a_key() {
        let p = parser(Preset::Quote);
        let key = |text: &str| p.parse_message(text, false).unwrap()[0].key;
        let a = key(r#"{"symbol":"A","timestamp":5,"bid":1.05,"ask":1.06}"#);
        assert_eq!(a, key(r#"{"ask":1.06,"bid":1.05,"timestamp":5,"symbol":"A"}"#), "same content");
        assert_ne!(a, key(r#"{"symbol":"A","timestamp":5,"bid":1.05,"ask":1.07}"#), "same ms, another quote");
        assert_ne!(a, key(r#"{"symbol":"A","timestamp":5,"bid":1.05,"ask":1.06,"lp_source":"x"}"#));
        let id = key(r#"{"symbol":"A","timestamp":5,"bid":1.05,"ask":1.06,"id":"t1"}"#);
        assert_ne!(
            id,
            key(r#"{"symbol":"A","timestamp":5,"bid":1.05,"ask":1.06,"id":"t2"}"#),
            "ids tell identical quotes apart"
        );
        let seq = key(r#"{"symbol":"A","timestamp":5,"bid":1.05,"ask":1.06,"source":"feed","seq":1}"#);
        assert_ne!(seq, key(r#"{"symbol":"A","timestamp":5,"bid":1.05,"ask":1.06,"source":"feed","seq":2}"#));
        let ns = TickParser { unit: TimeUnit::Ns, ..parser(Preset::Quote) };
        let at = |t: u64| {
            ns.parse_message(&format!(r#"{{"symbol":"A","timestamp":{t},"bid":1,"ask":2}}"#), false).unwrap()
                [0]
            .clone()
        };
        assert_eq!(at(1001).ts, at(1002).ts, "one stored microsecond");
        assert_ne!(at(1001).key, at(1002).key, "two instants");
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(bad("{"), "body");
        assert_eq!(bad(r#"{"timestamp":1,"bid":1,"ask":1,"seq":1}"#), "symbol");
        assert_eq!(bad(r#"{"symbol":"","timestamp":1,"bid":1,"ask":1,"seq":1}"#), "symbol");
        assert_eq!(bad(r#"{"symbol":"TOOLONGSYM","timestamp":1,"bid":1,"ask":1,"seq":1}"#), "symbol");
        assert_eq!(bad(r#"{"symbol":"A","timestamp":1.5,"bid":1,"ask":1,"seq":1}"#), "timestamp");
        assert_eq!(bad(r#"{"symbol":"A","timestamp":"yesterday","bid":1,"ask":1,"seq":1}"#), "timestamp");
        assert_eq!(bad(r#"[{"symbol":"A","timestamp":1,"bid":"NaN","ask":1,"seq":1}]"#), "[0].bid");
        assert_eq!(bad(r#"{"symbol":"A","timestamp":1,"bid":1,"seq":1}"#), "ask");
        assert_eq!(bad(r#"{"symbol":"A","timestamp":1,"bid":1,"ask":1}"#), "seq");
        assert_eq!(bad(r#"{"symbol":"A","timestamp":1,"bid":1,"ask":1,"seq":1,"price":1}"#), "price");
        assert_eq!(
            bad(r#"{"symbol":"A","timestamp":1,"bid":1,"ask":1,"seq":1,"source":"f","BID":2}"#),
            "bid",
            "twice, whatever the case"
        );
        assert_eq!(bad("[]"), "body");
        let trade = parser(Preset::Trade);
        let err =
            trade.parse_message(r#"{"symbol":"A","timestamp":1,"price":1,"volume":-1}"#, false).unwrap_err();
        assert_eq!(err.field, "volume");
    }

    #[test]
    fn ndjson_names_the_line() {
        let p = parser(Preset::Trade);
        let ok = p.parse_ndjson("{\"symbol\":\"A\",\"timestamp\":1,\"price\":1,\"volume\":1}\n\n").unwrap();
        assert_eq!(ok.len(), 1);
        let err = p
            .parse_ndjson("{\"symbol\":\"A\",\"timestamp\":1,\"price\":1,\"volume\":1}\n{\"symbol\":\"A\"}")
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
