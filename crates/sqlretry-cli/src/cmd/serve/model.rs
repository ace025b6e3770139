//! The tick model: which columns the `ticks` table stores, from `[serve]` (a preset and custom
//! columns), the table and index that hold them, and the check that an existing table is the
//! one configured (refused at start otherwise, naming the missing or mismatched columns).
//!
//! Every table has `symbol`, `ts` (integer microseconds since the Unix epoch) and `tick_key` (a
//! tick's identity, see `tick.rs`); the preset and custom columns come between `ts` and
//! `tick_key`. One unique index on `(symbol, ts, tick_key)` both refuses exact resends
//! (`INSERT OR IGNORE`) and serves the reads (a symbol's ticks in time order); rows sharing a
//! timestamp keep their arrival order in `rowid`.

use serde::{Deserialize, Serialize};

/// The stored columns' presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Quotes: `bid`, `ask`, `spread` (computed as ask − bid when absent), `lp_source`.
    #[default]
    Quote,
    /// Trades: `price`, `volume`, `side`.
    Trade,
    /// Only `symbol`, `ts` and the custom columns.
    Custom,
}

/// A column's SQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// A finite number (JSON number or decimal string), `REAL`.
    Real,
    /// A whole number, `INTEGER`.
    Integer,
    /// A string, `TEXT`.
    Text,
}

impl ColumnType {
    /// The declared SQL type.
    pub fn sql(self) -> &'static str {
        match self {
            ColumnType::Real => "REAL",
            ColumnType::Integer => "INTEGER",
            ColumnType::Text => "TEXT",
        }
    }
}

/// `[[serve.columns]]`: one stored column beyond the preset's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnConfig {
    /// The column's name, also the tick's JSON field (lowercase letters, digits, `_`).
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: ColumnType,
    /// Whether a tick without it is refused (default false: stored as NULL).
    #[serde(default)]
    pub required: bool,
}

/// How a value column is filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fill {
    /// From the tick's field of the column's name.
    Field,
    /// `ask − bid` when the tick has no `spread`.
    Spread,
}

/// One stored value column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Name and JSON field.
    pub name: String,
    /// Type.
    pub kind: ColumnType,
    /// Refused when missing.
    pub required: bool,
    /// Where its value comes from.
    pub fill: Fill,
    /// Other JSON names accepted for the field (`lp` for `lp_source`).
    pub aliases: &'static [&'static str],
    /// Must not be negative (`volume`).
    pub non_negative: bool,
}

impl Column {
    fn new(name: &str, kind: ColumnType, required: bool) -> Self {
        Column { name: name.to_owned(), kind, required, fill: Fill::Field, aliases: &[], non_negative: false }
    }
}

/// Names a custom column may not take: the fixed columns and the tick's identity fields.
const RESERVED: &[&str] = &["symbol", "ts", "timestamp", "time", "tick_key", "id", "source", "seq", "rowid"];

/// The stored columns, compiled from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The preset it started from.
    pub preset: Preset,
    /// The value columns between `ts` and `tick_key`, in order.
    pub columns: Vec<Column>,
    /// `INSERT OR IGNORE INTO ticks (...) VALUES (...)`.
    pub insert_sql: String,
}

impl Model {
    /// The preset's columns and then `custom` ones.
    ///
    /// # Errors
    ///
    /// A message naming the custom column at fault (a bad or reserved name, a repeated one).
    pub fn new(preset: Preset, custom: &[ColumnConfig]) -> Result<Self, String> {
        let mut columns = match preset {
            Preset::Quote => vec![
                Column::new("bid", ColumnType::Real, true),
                Column::new("ask", ColumnType::Real, true),
                Column { fill: Fill::Spread, ..Column::new("spread", ColumnType::Real, true) },
                Column { aliases: &["lp"], ..Column::new("lp_source", ColumnType::Text, false) },
            ],
            Preset::Trade => vec![
                Column::new("price", ColumnType::Real, true),
                Column { non_negative: true, ..Column::new("volume", ColumnType::Real, true) },
                Column::new("side", ColumnType::Text, false),
            ],
            Preset::Custom => Vec::new(),
        };
        for (i, c) in custom.iter().enumerate() {
            let valid = !c.name.is_empty()
                && c.name.len() <= 64
                && c.name.starts_with(|ch: char| ch.is_ascii_lowercase() || ch == '_')
                && c.name.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
            if !valid {
                return Err(format!(
                    "serve.columns[{i}].name: `{}` is not lowercase letters, digits and _",
                    c.name
                ));
            }
            if RESERVED.contains(&c.name.as_str())
                || columns.iter().any(|k| k.name == c.name || k.aliases.contains(&c.name.as_str()))
            {
                return Err(format!(
                    "serve.columns[{i}].name: `{}` is already a column or a reserved field",
                    c.name
                ));
            }
            columns.push(Column::new(&c.name, c.kind, c.required));
        }
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let all = [&["symbol", "ts"][..], &names, &["tick_key"]].concat();
        let params: Vec<String> = (1..=all.len()).map(|i| format!("?{i}")).collect();
        let insert_sql =
            format!("INSERT OR IGNORE INTO ticks ({}) VALUES ({})", all.join(", "), params.join(", "));
        Ok(Model { preset, columns, insert_sql })
    }

    /// The table and its index, created when absent.
    pub fn schema_sql(&self) -> String {
        let mut sql = String::from(
            "CREATE TABLE IF NOT EXISTS ticks (\n    symbol TEXT NOT NULL,\n    ts INTEGER NOT NULL,\n",
        );
        for c in &self.columns {
            let null = if c.required { " NOT NULL" } else { "" };
            sql.push_str(&format!("    {} {}{null},\n", c.name, c.kind.sql()));
        }
        sql.push_str("    tick_key BLOB NOT NULL\n);\n");
        sql.push_str(INDEX_SQL);
        sql
    }

    /// Checks that the file's `ticks` table (if there is one) is this model's.
    ///
    /// # Errors
    ///
    /// A message naming each missing column, each column of another type or nullability, and
    /// each extra column a write would leave without a value.
    pub fn verify(&self, conn: &rusqlite::Connection) -> Result<(), String> {
        let mut stmt = conn
            .prepare(
                "SELECT name, type, \"notnull\", dflt_value IS NOT NULL, pk FROM pragma_table_info('ticks')",
            )
            .map_err(|e| e.to_string())?;
        let found: Vec<(String, String, bool, bool)> = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?)))
            .and_then(Iterator::collect)
            .map_err(|e| e.to_string())?;
        if found.is_empty() {
            return Ok(());
        }
        let expected: Vec<(&str, &str, bool)> = [("symbol", "TEXT", true), ("ts", "INTEGER", true)]
            .into_iter()
            .chain(self.columns.iter().map(|c| (c.name.as_str(), c.kind.sql(), c.required)))
            .chain([("tick_key", "BLOB", true)])
            .collect();
        let mut problems = Vec::new();
        for (name, kind, not_null) in &expected {
            match found.iter().find(|f| f.0.eq_ignore_ascii_case(name)) {
                None => problems.push(format!("missing column `{name}` ({kind})")),
                Some(f) if !f.1.eq_ignore_ascii_case(kind) || f.2 != *not_null => problems.push(format!(
                    "column `{name}` is {}{} (the model stores {kind}{})",
                    f.1,
                    if f.2 { " NOT NULL" } else { "" },
                    if *not_null { " NOT NULL" } else { "" }
                )),
                Some(_) => {}
            }
        }
        for (name, kind, not_null, has_default) in &found {
            if *not_null && !has_default && !expected.iter().any(|e| e.0.eq_ignore_ascii_case(name)) {
                problems.push(format!("column `{name}` ({kind} NOT NULL) is not in the model"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the ticks table does not match the configured tick model ({:?}): {}",
                self.preset,
                problems.join("; ")
            ))
        }
    }
}

/// The index that refuses exact resends and serves the reads.
const INDEX_SQL: &str =
    "CREATE UNIQUE INDEX IF NOT EXISTS ticks_symbol_ts_key ON ticks (symbol, ts, tick_key);\n";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_custom_columns_make_the_table() {
        let quote = Model::new(Preset::Quote, &[]).unwrap();
        assert_eq!(
            quote.insert_sql,
            "INSERT OR IGNORE INTO ticks (symbol, ts, bid, ask, spread, lp_source, tick_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        );
        let custom = [ColumnConfig { name: "venue".into(), kind: ColumnType::Text, required: true }];
        let trade = Model::new(Preset::Trade, &custom).unwrap();
        assert!(trade.schema_sql().contains("venue TEXT NOT NULL"), "{}", trade.schema_sql());
        let bad = [ColumnConfig { name: "Bad-Name".into(), kind: ColumnType::Real, required: false }];
        assert!(Model::new(Preset::Custom, &bad).unwrap_err().contains("serve.columns[0].name"));
        let taken = [ColumnConfig { name: "lp".into(), kind: ColumnType::Real, required: false }];
        assert!(Model::new(Preset::Quote, &taken).is_err());
    }

    #[test]
    fn a_table_of_another_shape_is_named() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let quote = Model::new(Preset::Quote, &[]).unwrap();
        quote.verify(&conn).unwrap();
        conn.execute_batch(&quote.schema_sql()).unwrap();
        quote.verify(&conn).unwrap();
        let err = Model::new(Preset::Trade, &[]).unwrap().verify(&conn).unwrap_err();
        assert!(
            err.contains("missing column `price`")
                && err.contains("`bid` (REAL NOT NULL) is not in the model"),
            "{err}"
        );
    }
}
