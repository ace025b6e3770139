//! The read endpoints against the real server: pages that neither skip nor repeat ticks sharing a
//! timestamp, the three formats, candles against a hand-computed fixture (quotes on the mid,
//! trades on the price with volume), the symbol list, and each bad parameter named.
#![allow(clippy::unwrap_used)]

mod serve_common;

use serde_json::{Value, json};
use serve_common::{Server, header, http, http_full};

fn post(server: &Server, body: &Value) {
    let (status, answer) = http(&server.addr, "POST", "/api/ticks", &body.to_string(), &[]);
    assert_eq!(status, 200, "{answer}");
}

fn get(server: &Server, path: &str) -> (u16, String, String) {
    http_full(&server.addr, "GET", path, b"", &[])
}

fn get_json(server: &Server, path: &str) -> Value {
    let (status, _, body) = get(server, path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

#[test]
fn pages_across_equal_timestamps_neither_skip_nor_repeat() {
    let server = Server::start(&[], &[]);
    // 25 quotes in one millisecond between two others, in four messages.
    let mut sent = vec![json!({"symbol": "S", "timestamp": 10, "bid": 0.5, "ask": 0.6})];
    sent.extend((0..25).map(
        |i| json!({"symbol": "S", "timestamp": 20, "bid": 1.0 + f64::from(i), "ask": 2.0 + f64::from(i)}),
    ));
    sent.push(json!({"symbol": "S", "timestamp": 30, "bid": 99.0, "ask": 100.0}));
    sent.push(json!({"symbol": "OTHER", "timestamp": 20, "bid": 1.0, "ask": 2.0}));
    for chunk in sent.chunks(7) {
        post(&server, &Value::Array(chunk.to_vec()));
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/ticks?symbol=S&limit=4&cursor={c}"),
            None => "/api/ticks?symbol=S&limit=4".to_owned(),
        };
        let (status, head, body) = get(&server, &path);
        assert_eq!(status, 200, "{body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(header(&head, "x-next-cursor"), page["next_cursor"].as_str(), "header and body agree");
        seen.extend(
            page["ticks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (t["ts"].as_i64().unwrap(), t["bid"].as_f64().unwrap())),
        );
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 20, "pages never end");
    }
    assert_eq!(pages, 7, "27 ticks in pages of 4");
    let expected: Vec<(i64, f64)> = [(10_000, 0.5)]
        .into_iter()
        .chain((0..25).map(|i| (20_000, 1.0 + f64::from(i))))
        .chain([(30_000, 99.0)])
        .collect();
    assert_eq!(seen, expected, "in time order, equal timestamps in arrival order, each once");

    // A range, and the other formats.
    let ranged = get_json(&server, "/api/ticks?symbol=S&from=20&to=30&limit=100");
    assert_eq!(ranged["ticks"].as_array().unwrap().len(), 25);
    assert_eq!(ranged["next_cursor"], Value::Null);
    let (status, head, ndjson) = http_full(
        &server.addr,
        "GET",
        "/api/ticks?symbol=S&limit=100",
        b"",
        &[("Accept", "application/x-ndjson")],
    );
    assert_eq!((status, header(&head, "content-type")), (200, Some("application/x-ndjson")));
    assert_eq!(ndjson.lines().count(), 27);
    assert_eq!(serde_json::from_str::<Value>(ndjson.lines().last().unwrap()).unwrap()["bid"], 99.0);
    let (_, head, csv) = get(&server, "/api/ticks?symbol=S&format=csv&limit=2");
    assert!(header(&head, "content-type").unwrap().starts_with("text/csv"));
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        ["symbol,ts,bid,ask,spread,lp_source", "S,10000,0.5,0.6,0.09999999999999998,", "S,20000,1,2,1,"]
    );
    assert!(header(&head, "x-next-cursor").is_some());

    let symbols = get_json(&server, "/api/symbols");
    assert_eq!(
        symbols["symbols"],
        json!([
            {"symbol": "OTHER", "first_ts": 20_000, "last_ts": 20_000, "count": 1},
            {"symbol": "S", "first_ts": 10_000, "last_ts": 30_000, "count": 27},
        ])
    );
}

#[test]
fn candles_match_a_hand_computed_fixture() {
    let server = Server::start(&[], &[]);
    // Mids: minute 0 — 1.1, 1.3, 1.0, then 1.2 in the same millisecond (the close: it came
    // last); minute 1 — 2.0, 1.5. A minute with no tick has no candle.
    post(
        &server,
        &json!([
            {"symbol": "C", "timestamp": 0, "bid": 1.0, "ask": 1.2},
            {"symbol": "C", "timestamp": 10_000, "bid": 1.2, "ask": 1.4},
            {"symbol": "C", "timestamp": 30_000, "bid": 0.9, "ask": 1.1},
            {"symbol": "C", "timestamp": 30_000, "bid": 1.1, "ask": 1.3},
            {"symbol": "C", "timestamp": 60_000, "bid": 1.9, "ask": 2.1},
            {"symbol": "C", "timestamp": 119_999, "bid": 1.4, "ask": 1.6},
            {"symbol": "C", "timestamp": 240_000, "bid": 3.0, "ask": 3.0},
        ]),
    );
    let answer = get_json(&server, "/api/candles?symbol=C&interval=1m&from=0&to=180000");
    let candles = answer["candles"].as_array().unwrap();
    let expected = [(0, 1.1, 1.3, 1.0, 1.2, 4), (60_000_000, 2.0, 2.0, 1.5, 1.5, 2)];
    assert_eq!(candles.len(), expected.len(), "{answer}");
    for (c, (start, open, high, low, close, count)) in candles.iter().zip(expected) {
        assert_eq!(c["start"], start, "{c}");
        for (name, want) in [("open", open), ("high", high), ("low", low), ("close", close)] {
            assert!((c[name].as_f64().unwrap() - want).abs() < 1e-9, "{name}: {c}");
        }
        assert_eq!(c["count"], count, "{c}");
        assert!(c.get("volume").is_none(), "quotes have no volume: {c}");
    }
    let hourly = get_json(&server, "/api/candles?symbol=C&interval=1h");
    assert_eq!(hourly["candles"][0]["count"], 7);

    let trades = Server::start(&[], &[("SQLRETRY_SERVE_MODEL", "trade")]);
    post(
        &trades,
        &json!([
            {"symbol": "T", "timestamp": 1_000, "price": 10.0, "volume": 1.0},
            {"symbol": "T", "timestamp": 1_500, "price": 12.0, "volume": 2.5},
            {"symbol": "T", "timestamp": 2_000, "price": 11.0, "volume": 0.5},
        ]),
    );
    let answer = get_json(&trades, "/api/candles?symbol=T&interval=1s");
    assert_eq!(
        answer["candles"],
        json!([
            {"start": 1_000_000, "open": 10.0, "high": 12.0, "low": 10.0, "close": 12.0, "count": 2, "volume": 3.5},
            {"start": 2_000_000, "open": 11.0, "high": 11.0, "low": 11.0, "close": 11.0, "count": 1, "volume": 0.5},
        ])
    );
}

#[test]
fn each_bad_parameter_is_named() {
    let server =
        Server::start(&[], &[("SQLRETRY_SERVE_READ_LIMIT_MAX", "50"), ("SQLRETRY_SERVE_READ_LIMIT", "10")]);
    for (path, field) in [
        ("/api/ticks", "symbol"),
        ("/api/ticks?symbol=", "symbol"),
        ("/api/ticks?symbol=S&limit=0", "limit"),
        ("/api/ticks?symbol=S&limit=51", "limit"),
        ("/api/ticks?symbol=S&limit=ten", "limit"),
        ("/api/ticks?symbol=S&cursor=abc", "cursor"),
        ("/api/ticks?symbol=S&from=yesterday", "from"),
        ("/api/ticks?symbol=S&from=10&to=5", "to"),
        ("/api/ticks?symbol=S&format=xml", "format"),
        ("/api/ticks?symbol=S&symbol=T", "symbol"),
        ("/api/candles?symbol=S", "interval"),
        ("/api/candles?symbol=S&interval=2m", "interval"),
        ("/api/candles?interval=1m", "symbol"),
        ("/api/candles?symbol=S&interval=1s&from=0&to=2024-12-07T00:00:00Z", "interval"),
    ] {
        let (status, _, body) = get(&server, path);
        assert_eq!(status, 400, "{path}: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["field"], field, "{path}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    // The configured default limit.
    post(
        &server,
        &Value::Array((0..15).map(|i| json!({"symbol": "S", "timestamp": i, "bid": 1, "ask": 2})).collect()),
    );
    assert_eq!(get_json(&server, "/api/ticks?symbol=S")["ticks"].as_array().unwrap().len(), 10);
}
