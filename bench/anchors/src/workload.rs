//! The anchors' transactions: SQLite hctree's thread test (`update1`, `update10`,
//! `update10_scan10` on a 1,000,000-row table with two expression indexes) and Turso's
//! throughput shape (100-row insert transactions).

use std::path::Path;

use rusqlite::Connection;

/// One anchor workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Update1,
    Update10,
    Update10Scan10,
    Insert100,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Update1 => "update1",
            Workload::Update10 => "update10",
            Workload::Update10Scan10 => "update10_scan10",
            Workload::Insert100 => "insert100",
        }
    }

    pub fn parse(s: &str) -> Workload {
        match s {
            "update1" => Workload::Update1,
            "update10" => Workload::Update10,
            "update10_scan10" => Workload::Update10Scan10,
            "insert100" => Workload::Insert100,
            other => panic!("unknown workload {other}"),
        }
    }
}

/// splitmix64: enough randomness for picking rows, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `n` upper-case hex digits (as SQLite's `hex()` writes them).
    pub fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        while s.len() < n {
            s.push_str(&format!("{:016X}", self.next()));
        }
        s.truncate(n);
        s
    }
}

/// The values of one transaction, drawn before it runs (a re-run repeats them).
#[derive(Clone, Debug)]
pub struct Tx {
    workload: Workload,
    /// Rows to update: (a, new c); for `insert100`, the 100 keys (c unused).
    rows: Vec<(i64, String)>,
    /// Lower bounds of the range scans (16 hex digits).
    scans: Vec<String>,
}

impl Tx {
    pub fn draw(workload: Workload, rng: &mut Rng, rows: i64) -> Tx {
        let (updates, scans) = match workload {
            Workload::Update1 => (1, 0),
            Workload::Update10 => (10, 0),
            Workload::Update10Scan10 => (10, 10),
            Workload::Insert100 => (0, 0),
        };
        let mut tx = Tx { workload, rows: Vec::new(), scans: Vec::new() };
        for _ in 0..updates {
            let a = 1 + (rng.next() % rows as u64) as i64;
            tx.rows.push((a, rng.hex(64)));
        }
        for _ in 0..scans {
            tx.scans.push(rng.hex(16));
        }
        if workload == Workload::Insert100 {
            for _ in 0..100 {
                tx.rows.push(((rng.next() >> 1) as i64, String::new()));
            }
        }
        tx
    }

    /// The transaction's statements (inside the caller's transaction).
    pub fn run(&self, conn: &Connection) -> rusqlite::Result<()> {
        for (i, low) in self.scans.iter().enumerate() {
            let sql = if i % 2 == 0 {
                "SELECT a, b, c FROM tbl WHERE substr(c,1,16) >= ?1 ORDER BY substr(c,1,16) LIMIT 10"
            } else {
                "SELECT a, b, c FROM tbl WHERE substr(c,2,16) >= ?1 ORDER BY substr(c,2,16) LIMIT 10"
            };
            let mut stmt = conn.prepare_cached(sql)?;
            let mut rows = stmt.query([low])?;
            while let Some(row) = rows.next()? {
                let _: i64 = row.get(0)?;
            }
        }
        if self.workload == Workload::Insert100 {
            let mut stmt = conn.prepare_cached("INSERT INTO t (k, v) VALUES (?1, randomblob(100))")?;
            for (k, _) in &self.rows {
                stmt.execute([k])?;
            }
        } else {
            let mut stmt = conn.prepare_cached("UPDATE tbl SET b = randomblob(200), c = ?1 WHERE a = ?2")?;
            for (a, c) in &self.rows {
                stmt.execute(rusqlite::params![c, a])?;
            }
        }
        Ok(())
    }
}

/// hctree's table with `rows` rows and its two indexes, built once into `path` (kept between
/// runs of this benchmark: building a million rows takes a while).
pub fn build_hctree(path: &Path, rows: i64) {
    if path.exists() {
        return;
    }
    let tmp = path.with_extension("building");
    let _ = std::fs::remove_file(&tmp);
    let conn = Connection::open(&tmp).expect("template");
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -200000;
         CREATE TABLE tbl(a INTEGER PRIMARY KEY, b BLOB(200), c CHAR(64));",
    )
    .expect("schema");
    conn.execute(
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?1)
         INSERT INTO tbl SELECT i, randomblob(200), hex(randomblob(32)) FROM s",
        [rows],
    )
    .expect("rows");
    conn.execute_batch(
        "CREATE INDEX tbl_i1 ON tbl(substr(c,1,16)); CREATE INDEX tbl_i2 ON tbl(substr(c,2,16));
         PRAGMA journal_mode = WAL;",
    )
    .expect("indexes");
    drop(conn);
    std::fs::rename(&tmp, path).expect("template in place");
}

/// A fresh copy of the template at `to` (its WAL and shared-memory files removed).
pub fn copy_template(template: &Path, to: &Path) {
    for suffix in ["-wal", "-shm", ".writer-lock"] {
        let mut p = to.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
    std::fs::copy(template, to).expect("copy the template");
}

/// Turso's shape: an empty table for 100-row inserts, in a fresh file.
pub fn create_insert_table(path: &Path) {
    copy_template_clear(path);
    let conn = Connection::open(path).expect("insert table");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, v BLOB);",
    )
    .expect("schema");
}

fn copy_template_clear(path: &Path) {
    for suffix in ["", "-wal", "-shm", ".writer-lock"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}
