//! `GET /api/candles?symbol=&interval=1s|1m|5m|1h|1d&from=&to=`: open, high, low and close per
//! interval — on the mid (bid + ask) / 2 for quotes, on `price` for trades — with the count of
//! ticks and, where the model has one, the summed volume. Open and close are the first and last
//! ticks of the interval in time order (arrival order among equal timestamps). Intervals start at
//! multiples of their length since the Unix epoch (UTC days).

use std::sync::Arc;

use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::super::routes::bad_request;
use super::super::tick::BadInput;
use super::ReadState;
use super::params;

/// Most candles one answer may hold.
const MAX_CANDLES: i64 = 100_000;

/// One interval's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candle {
    /// The interval's start, microseconds since the epoch.
    pub start: i64,
    /// The first tick's price.
    pub open: f64,
    /// The highest.
    pub high: f64,
    /// The lowest.
    pub low: f64,
    /// The last tick's price.
    pub close: f64,
    /// Ticks in the interval.
    pub count: u64,
    /// Summed volume, when the model has a volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<f64>,
}

/// The answer, fields in this order.
#[derive(Debug, Serialize)]
struct Answer {
    symbol: String,
    interval: String,
    candles: Vec<Candle>,
}

/// Folds `(ts, price, volume)` rows, in time order, into candles of `bucket` microseconds.
pub fn fold(rows: impl IntoIterator<Item = (i64, f64, Option<f64>)>, bucket: i64) -> Vec<Candle> {
    let mut out: Vec<Candle> = Vec::new();
    for (ts, price, volume) in rows {
        let start = ts - ts.rem_euclid(bucket);
        match out.last_mut() {
            Some(c) if c.start == start => {
                c.high = c.high.max(price);
                c.low = c.low.min(price);
                c.close = price;
                c.count += 1;
                if let (Some(sum), Some(v)) = (c.volume.as_mut(), volume) {
                    *sum += v;
                }
            }
            _ => out.push(Candle {
                start,
                open: price,
                high: price,
                low: price,
                close: price,
                count: 1,
                volume,
            }),
        }
    }
    out
}

fn interval(text: &str) -> Option<i64> {
    Some(match text {
        "1s" => 1_000_000,
        "1m" => 60_000_000,
        "5m" => 300_000_000,
        "1h" => 3_600_000_000,
        "1d" => 86_400_000_000,
        _ => return None,
    })
}

/// The candles of one symbol.
pub async fn get(State(state): State<Arc<ReadState>>, uri: Uri) -> Response {
    let asked = (|| {
        let p = params::parse_query(uri.query())?;
        let symbol = params::required(&p, "symbol")?.to_owned();
        let name = params::required(&p, "interval")?.to_owned();
        let bucket =
            interval(&name).ok_or_else(|| BadInput::new("interval", "must be 1s, 1m, 5m, 1h or 1d"))?;
        let (from, to) = params::range(&p, state.unit)?;
        if from != i64::MIN && to != i64::MAX && (to - from) / bucket > MAX_CANDLES {
            return Err(BadInput::new(
                "interval",
                format!("more than {MAX_CANDLES} candles from `from` to `to`"),
            ));
        }
        Ok((symbol, name, bucket, from, to))
    })();
    let (symbol, name, bucket, from, to) = match asked {
        Ok(asked) => asked,
        Err(bad) => return bad_request(&bad),
    };
    let has = |c: &str| state.model.columns.iter().any(|k| k.name == c);
    let price = if has("price") {
        "price"
    } else if has("bid") && has("ask") {
        "(bid + ask) / 2.0"
    } else {
        return bad_request(&BadInput::new(
            "symbol",
            "the tick model has no price (price, or bid and ask) to make candles of",
        ));
    };
    let volume = if has("volume") { "volume" } else { "NULL" };
    let sql = format!(
        "SELECT ts, {price}, {volume} FROM ticks WHERE symbol = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts, rowid"
    );
    let query_symbol = symbol.clone();
    let folded = state
        .pool
        .run(move |conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params![query_symbol, from, to], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Option<f64>>(1)?, r.get::<_, Option<f64>>(2)?))
            })?;
            let mut priced = Vec::new();
            for row in rows {
                let (ts, price, volume) = row?;
                if let Some(price) = price {
                    priced.push((ts, price, volume));
                }
            }
            Ok(fold(priced, bucket))
        })
        .await;
    match folded {
        Ok(candles) if candles.len() as i64 > MAX_CANDLES => bad_request(&BadInput::new(
            "interval",
            format!("more than {MAX_CANDLES} candles; narrow `from` and `to`"),
        )),
        Ok(candles) => axum::Json(Answer { symbol, interval: name, candles }).into_response(),
        Err(e) => super::failed(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candles_fold_in_time_order() {
        let rows = [
            (0, 1.0, Some(2.0)),
            (10, 3.0, Some(1.0)),
            (59_999_999, 0.5, None),
            (60_000_000, 2.0, Some(4.0)),
            (-1, 9.0, None),
        ];
        let c = fold(rows[..4].iter().copied(), 60_000_000);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].open, c[0].high, c[0].low, c[0].close, c[0].count, c[0].volume),
            (1.0, 3.0, 0.5, 0.5, 3, Some(3.0))
        );
        assert_eq!((c[1].start, c[1].open, c[1].count), (60_000_000, 2.0, 1));
        assert_eq!(fold([rows[4]], 60_000_000)[0].start, -60_000_000, "before the epoch: the interval below");
    }
}
