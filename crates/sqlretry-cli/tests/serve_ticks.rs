//! The tick model against the real server: every distinct tick stored (several in one
//! millisecond), exact resends acknowledged as duplicates and stored once (also after a
//! reconnect), timestamps in each unit and as RFC 3339, the trade preset and custom columns, and a
//! table of another shape refused at start.
#![allow(clippy::unwrap_used)]

mod serve_common;

use std::process::Command;

use serde_json::{Value, json};
use serve_common::{Server, http, ws_connect, ws_next, ws_send};

fn post(server: &Server, body: &Value) -> Value {
    let (status, answer) = http(&server.addr, "POST", "/api/ticks", &body.to_string(), &[]);
    assert_eq!(status, 200, "{body}: {answer}");
    serde_json::from_str(&answer).unwrap()
}

fn stored(server: &Server, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
    let conn = rusqlite::Connection::open(&server.db).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get(i)).collect()).unwrap().map(Result::unwrap).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_distinct_tick_is_stored_and_a_resend_only_once() {
    let server = Server::start(&[], &[]);
    // Three different quotes in one millisecond, and one identical to the first.
    let same_ms = json!([
        {"symbol": "EURUSD", "timestamp": 1_733_600_000_000_i64, "bid": 1.05, "ask": 1.0502},
        {"symbol": "EURUSD", "timestamp": 1_733_600_000_000_i64, "bid": 1.06, "ask": 1.0602},
        {"symbol": "EURUSD", "timestamp": 1_733_600_000_000_i64, "bid": 1.05, "ask": 1.0502, "lp_source": "LP2"},
    ]);
    assert_eq!(post(&server, &same_ms), json!({"ticks": 3, "new": 3, "duplicates": 0}));
    assert_eq!(post(&server, &same_ms), json!({"ticks": 3, "new": 0, "duplicates": 3}), "an exact resend");
    // Identical quotes that the client tells apart by id are two ticks; their resend is none.
    let ids = json!([
        {"symbol": "EURUSD", "timestamp": 5, "bid": 1.0, "ask": 1.1, "id": "a"},
        {"symbol": "EURUSD", "timestamp": 5, "bid": 1.0, "ask": 1.1, "id": "b"},
    ]);
    assert_eq!(post(&server, &ids)["new"], 2);
    assert_eq!(post(&server, &ids)["duplicates"], 2);
    assert_eq!(server.rows(), 5);
    // The spread is computed when absent; the timestamp is stored in microseconds.
    let rows = stored(&server, "SELECT ts, spread FROM ticks WHERE bid = 1.06");
    let rusqlite::types::Value::Real(spread) = rows[0][1] else { panic!("{rows:?}") };
    assert_eq!(rows[0][0], rusqlite::types::Value::Integer(1_733_600_000_000_000));
    assert!((spread - 0.0002).abs() < 1e-12, "{spread}");

    // Over WebSocket: a message, then the same message after a reconnect (its ack was lost, say).
    let message = json!([
        {"symbol": "GBPUSD", "timestamp": 7, "bid": 1.2, "ask": 1.3, "source": "feed-1", "seq": 1},
        {"symbol": "GBPUSD", "timestamp": 7, "bid": 1.2, "ask": 1.3, "source": "feed-1", "seq": 2},
    ])
    .to_string();
    let mut ws = ws_connect(&server.ws_url()).await;
    ws_send(&mut ws, message.clone()).await;
    assert_eq!(ws_next(&mut ws).await.unwrap()["new"], 2);
    drop(ws);
    let mut ws = ws_connect(&server.ws_url()).await;
    ws_send(&mut ws, message).await;
    let ack = ws_next(&mut ws).await.unwrap();
    assert_eq!(
        (ack["type"].as_str(), ack["new"].as_u64(), ack["duplicates"].as_u64()),
        (Some("ack"), Some(0), Some(2)),
        "{ack}"
    );
    assert_eq!(
        stored(&server, "SELECT count(*) FROM ticks WHERE symbol = 'GBPUSD'")[0][0],
        rusqlite::types::Value::Integer(2)
    );
}

#[test]
fn timestamps_in_each_unit_and_rfc3339_are_stored_in_microseconds() {
    for (unit, sent, micros) in [
        ("s", json!(1_733_600_000), 1_733_600_000_000_000_i64),
        ("ms", json!(1_733_600_000_123_i64), 1_733_600_000_123_000),
        ("us", json!(1_733_600_000_123_456_i64), 1_733_600_000_123_456),
        ("ns", json!(1_733_600_000_123_456_789_i64), 1_733_600_000_123_456),
    ] {
        let server = Server::start(&[], &[("SQLRETRY_SERVE_TIMESTAMP_UNIT", unit)]);
        post(&server, &json!({"symbol": "A", "timestamp": sent, "bid": 1, "ask": 2}));
        // Go's time.Time marshals to RFC 3339 with the zone's offset.
        post(
            &server,
            &json!({"Symbol": "B", "Timestamp": "2024-12-07T20:33:20.123456+01:00", "Bid": 1, "Ask": 2, "LP": "x"}),
        );
        let rows = stored(&server, "SELECT symbol, ts FROM ticks ORDER BY symbol");
        assert_eq!(rows[0][1], rusqlite::types::Value::Integer(micros), "{unit}");
        assert_eq!(rows[1][1], rusqlite::types::Value::Integer(1_733_600_000_123_456), "{unit}");
    }
}

#[test]
fn the_trade_preset_and_custom_columns() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        "[serve]\nmodel = \"trade\"\n[[serve.columns]]\nname = \"venue\"\ntype = \"text\"\nrequired = true\n",
    )
    .unwrap();
    let server = Server::start(&["--config", config.to_str().unwrap()], &[]);
    let trade = json!({"symbol": "BTC", "timestamp": 1, "price": "42000.5", "volume": 0.1, "side": "buy", "venue": "X"});
    assert_eq!(post(&server, &trade)["new"], 1);
    let (status, answer) = http(
        &server.addr,
        "POST",
        "/api/ticks",
        &json!({"symbol": "BTC", "timestamp": 2, "price": 1, "volume": 1}).to_string(),
        &[],
    );
    assert_eq!(status, 400);
    assert_eq!(serde_json::from_str::<Value>(&answer).unwrap()["field"], "venue");
    let rows = stored(&server, "SELECT price, volume, side, venue FROM ticks");
    assert_eq!(rows[0][0], rusqlite::types::Value::Real(42000.5));
    assert_eq!(rows[0][3], rusqlite::types::Value::Text("X".into()));
}

#[test]
fn a_table_of_another_shape_is_refused_at_start_naming_the_columns() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ticks.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE ticks (symbol TEXT NOT NULL, timestamp INTEGER NOT NULL, price REAL NOT NULL, volume REAL NOT NULL, PRIMARY KEY (symbol, timestamp)) WITHOUT ROWID")
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sqlretry"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for named in [
        "missing column `ts`",
        "missing column `bid`",
        "missing column `tick_key`",
        "`price` (REAL NOT NULL) is not in the model",
    ] {
        assert!(stderr.contains(named), "{named}: {stderr}");
    }
    assert!(String::from_utf8_lossy(&out.stdout).is_empty(), "never listened");
}
