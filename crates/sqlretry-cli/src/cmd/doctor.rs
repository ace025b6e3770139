//! `sqlretry doctor PATH`: what a user needs to know about a database file, read-only.
//!
//! The file is opened with `SQLITE_OPEN_READ_ONLY` and never created; a missing file is a usage error.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rusqlite::{Connection, OpenFlags};

use crate::args::DoctorArgs;
use crate::error::CliError;

/// A WAL file this many times the database (and over [`WAL_RATIO_MIN_BYTES`]) suggests the same.
const WAL_WARN_RATIO: u64 = 4;
/// Below this size a WAL file is never called large (a fresh WAL is ~4 MiB before its first checkpoint).
const WAL_RATIO_MIN_BYTES: u64 = 16 * 1024 * 1024;
/// File system types on which SQLite's locking is unreliable.
const NETWORK_FS: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "9p",
    "fuse.sshfs",
    "sshfs",
    "afs",
    "ceph",
    "fuse.ceph",
    "glusterfs",
    "fuse.glusterfs",
    "lustre",
    "gpfs",
    "ncpfs",
    "davfs",
    "fuse.davfs2",
    "fuse.rclone",
    "fuse.s3fs",
    "virtiofs",
];

/// What doctor found.
#[derive(Debug, serde::Serialize)]
pub struct Diagnosis {
    /// The file inspected (as given).
    pub path: PathBuf,
    /// `PRAGMA journal_mode`.
    pub journal_mode: String,
    /// `PRAGMA page_size`, bytes.
    pub page_size: u64,
    /// `PRAGMA page_count`.
    pub page_count: u64,
    /// Size of the database file on disk, bytes.
    pub db_bytes: u64,
    /// Size of `PATH-wal`, bytes (0 when absent).
    pub wal_bytes: u64,
    /// The WAL size above which the WAL counts as starving (`--wal-limit`).
    pub wal_limit_bytes: u64,
    /// `PRAGMA freelist_count` (unused pages).
    pub freelist_count: u64,
    /// `PRAGMA quick_check` returned `ok`.
    pub quick_check_ok: bool,
    /// `PRAGMA quick_check`'s messages when it did not return `ok`.
    pub quick_check: Vec<String>,
    /// `PRAGMA user_version`: the application's schema version.
    pub user_version: i64,
    /// The file system type the file lives on, when known (Linux `/proc/mounts`).
    pub filesystem: Option<String>,
    /// Things to fix or look at.
    pub warnings: Vec<String>,
}

/// Runs `sqlretry doctor`: prints the diagnosis; exit 0 when quick_check passes, 1 otherwise.
///
/// # Errors
/// The file does not exist or is not a file (usage, exit 2), or SQLite cannot read it: not a
/// database, truncated or damaged (exit 1, naming the file and SQLite's code).
pub fn run(args: DoctorArgs) -> Result<ExitCode, CliError> {
    let diagnosis = diagnose(&args.path, args.wal_limit)?;
    if args.json {
        let line =
            serde_json::to_string(&diagnosis).map_err(|e| CliError::Worker(format!("encoding JSON: {e}")))?;
        println!("{line}");
    } else {
        print!("{}", render(&diagnosis));
    }
    Ok(if diagnosis.quick_check_ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Inspects the file at `path` without writing to it.
///
/// # Errors
/// See [`run`].
pub fn diagnose(path: &Path, wal_limit_bytes: u64) -> Result<Diagnosis, CliError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::usage("PATH", format!("cannot read {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(CliError::usage("PATH", format!("{} is not a file", path.display())));
    }
    let header = read_header(path)?;
    let header_says_wal = header.get(18..20) == Some(&[2, 2][..]);
    let wal_path = side_file(path, "-wal");
    let shm_exists = side_file(path, "-shm").exists();
    // A WAL file with no -wal/-shm beside it is not open anywhere and has no WAL content: open it
    // immutable, so SQLite does not create -wal/-shm files next to it. Otherwise plain read-only.
    let immutable = header_says_wal && !wal_path.exists() && !shm_exists && path.to_str().is_some();
    let conn = open_read_only(path, immutable)?;
    let int = |pragma: &str| -> Result<i64, CliError> {
        conn.pragma_query_value(None, pragma, |row| row.get::<_, i64>(0))
            .map_err(damaged(path, &format!("PRAGMA {pragma}")))
    };
    let journal_mode: String = if immutable {
        // An immutable connection reports "delete"; WAL mode is persistent in the header.
        "wal".to_owned()
    } else {
        conn.pragma_query_value(None, "journal_mode", |row| row.get(0))
            .map_err(damaged(path, "PRAGMA journal_mode"))?
    };
    let page_size = u64::try_from(int("page_size")?).unwrap_or(0);
    let page_count = u64::try_from(int("page_count")?).unwrap_or(0);
    let freelist_count = u64::try_from(int("freelist_count")?).unwrap_or(0);
    let user_version = int("user_version")?;
    let mut stmt = conn.prepare("PRAGMA quick_check").map_err(damaged(path, "PRAGMA quick_check"))?;
    let quick: Vec<String> = stmt
        .query_map([], |row| row.get(0))
        .and_then(|rows| rows.collect())
        .map_err(damaged(path, "PRAGMA quick_check"))?;
    let quick_check_ok = quick.len() == 1 && quick[0] == "ok";
    let wal_bytes = std::fs::metadata(&wal_path).map(|m| m.len()).unwrap_or(0);
    let db_bytes = meta.len();
    let filesystem = filesystem_of(path);

    let mut warnings = Vec::new();
    if !journal_mode.eq_ignore_ascii_case("wal") {
        warnings.push(format!(
            "journal_mode is {journal_mode}, not WAL: readers and the writer block each other; \
             set PRAGMA journal_mode=WAL once"
        ));
    }
    if wal_bytes > wal_limit_bytes
        || (wal_bytes > WAL_RATIO_MIN_BYTES && wal_bytes > WAL_WARN_RATIO * db_bytes)
    {
        warnings.push(format!(
            "the WAL file is {wal_bytes} bytes (limit {wal_limit_bytes}; {}× the database): \
             checkpoints may not be running (a long-lived reader, or wal_autocheckpoint disabled)",
            wal_bytes.checked_div(db_bytes).unwrap_or(0)
        ));
    }
    if let Some(fs) = &filesystem
        && NETWORK_FS.contains(&fs.as_str())
    {
        warnings.push(format!(
            "the file is on a network file system ({fs}): SQLite's locks are unreliable there and WAL \
             does not work across machines; keep the database on a local disk"
        ));
    }
    if !quick_check_ok {
        warnings.push("PRAGMA quick_check found problems: the file is damaged".to_owned());
    }
    Ok(Diagnosis {
        path: path.to_path_buf(),
        journal_mode,
        page_size,
        page_count,
        db_bytes,
        wal_bytes,
        wal_limit_bytes,
        freelist_count,
        quick_check_ok,
        quick_check: if quick_check_ok { Vec::new() } else { quick },
        user_version,
        filesystem,
        warnings,
    })
}

/// `PATH` with a suffix appended (`PATH-wal`, `PATH-shm`).
fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The first 100 bytes of the file (fewer for a short file), checked for SQLite's magic string.
fn read_header(path: &Path) -> Result<Vec<u8>, CliError> {
    use std::io::Read as _;
    let mut header = Vec::with_capacity(100);
    std::fs::File::open(path)
        .and_then(|file| file.take(100).read_to_end(&mut header))
        .map_err(|e| CliError::usage("PATH", format!("cannot read {}: {e}", path.display())))?;
    if !header.is_empty() && !header.starts_with(b"SQLite format 3\0") {
        let notadb = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_NOTADB),
            Some("no SQLite header".to_owned()),
        );
        return Err(damaged(path, "reading the header")(notadb));
    }
    Ok(header)
}

/// A SQLite error while inspecting `path`: the message names the file, what was being done and
/// SQLite's code (`SQLITE_CORRUPT (11)`, `SQLITE_NOTADB (26)`); exit 1.
fn damaged(path: &Path, what: &str) -> impl FnOnce(rusqlite::Error) -> CliError {
    let path = path.display().to_string();
    let what = what.to_owned();
    move |error| {
        let code = sqlretry::sqlite::extended_code(&error)
            .map(|c| format!(" ({} {c})", sqlretry::sqlite::code_name(c)))
            .unwrap_or_default();
        CliError::sqlite(format!("{path}: {what}{code}"))(error)
    }
}

/// Opens `path` read-only (never creating it), optionally as `immutable=1`.
fn open_read_only(path: &Path, immutable: bool) -> Result<Connection, CliError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let opened = if immutable && let Some(text) = path.to_str() {
        let mut uri = String::from("file:");
        for byte in text.bytes() {
            match byte {
                b'?' | b'#' | b'%' | 0x80.. => {
                    let _ = write!(uri, "%{byte:02X}");
                }
                _ => uri.push(char::from(byte)),
            }
        }
        uri.push_str("?immutable=1");
        Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
    } else {
        Connection::open_with_flags(path, flags)
    };
    opened.map_err(damaged(path, "opening read-only"))
}

/// The human-readable report.
fn render(d: &Diagnosis) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", d.path.display());
    let _ = writeln!(out, "  journal mode     {}", d.journal_mode);
    let _ = writeln!(out, "  page size        {} bytes", d.page_size);
    let _ = writeln!(out, "  page count       {} ({} bytes on disk)", d.page_count, d.db_bytes);
    let _ = writeln!(out, "  WAL file         {} bytes (limit {})", d.wal_bytes, d.wal_limit_bytes);
    let _ = writeln!(out, "  freelist         {} pages", d.freelist_count);
    let _ = writeln!(
        out,
        "  quick_check      {}",
        if d.quick_check_ok { "ok".to_owned() } else { d.quick_check.join("; ") }
    );
    let _ = writeln!(out, "  schema version   {} (user_version)", d.user_version);
    let _ = writeln!(out, "  file system      {}", d.filesystem.as_deref().unwrap_or("unknown"));
    if d.warnings.is_empty() {
        let _ = writeln!(out, "no warnings");
    }
    for w in &d.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

/// The file system type of the mount holding `path` (Linux: longest mount point prefix in /proc/mounts).
fn filesystem_of(path: &Path) -> Option<String> {
    let canonical = std::fs::canonicalize(path).ok()?;
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mount_type(&mounts, &canonical)
}

/// The type of the longest mount point in `mounts` (the /proc/mounts format) that contains `path`.
fn mount_type(mounts: &str, path: &Path) -> Option<String> {
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _device = fields.next()?;
            let mount_point = unescape_mount(fields.next()?);
            let fs_type = fields.next()?;
            path.starts_with(&mount_point).then(|| (mount_point.components().count(), fs_type.to_owned()))
        })
        .max_by_key(|(depth, _)| *depth)
        .map(|(_, fs_type)| fs_type)
}

/// Decodes /proc/mounts' octal escapes (`\040` is a space).
fn unescape_mount(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(digits) = bytes.get(i + 1..i + 4)
            && let Ok(digits) = std::str::from_utf8(digits)
            && let Ok(code) = u8::from_str_radix(digits, 8)
        {
            out.push(code);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    PathBuf::from(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
/dev/sda1 / ext4 rw,relatime 0 0
server:/export /mnt/data nfs4 rw 0 0
//host/share /mnt/data/win\\040share cifs rw 0 0
tmpfs /tmp tmpfs rw 0 0
";

    #[test]
    fn longest_mount_point_wins() {
        assert_eq!(mount_type(MOUNTS, Path::new("/home/a/x.db")).as_deref(), Some("ext4"));
        assert_eq!(mount_type(MOUNTS, Path::new("/mnt/data/x.db")).as_deref(), Some("nfs4"));
        assert_eq!(mount_type(MOUNTS, Path::new("/mnt/data/win share/x.db")).as_deref(), Some("cifs"));
        // A prefix by characters only is not a mount point prefix.
        assert_eq!(mount_type(MOUNTS, Path::new("/mnt/database/x.db")).as_deref(), Some("ext4"));
    }

    #[test]
    fn missing_file_is_usage_and_not_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing.db");
        let err = diagnose(&path, sqlretry::sqlite::DEFAULT_WAL_LIMIT).expect_err("missing");
        assert!(matches!(err, CliError::Usage { .. }));
        assert!(!path.exists());
    }
}
