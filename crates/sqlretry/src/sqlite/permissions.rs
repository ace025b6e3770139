//! Files sqlretry creates beside a database (the writers' lock file, the dead-letter file) get the
//! database's permission bits, never wider: a `0600` database must not gain a world-readable
//! neighbour holding its rows. (SQLite itself gives `-wal`, `-shm` and journals the database's
//! bits; files it creates as databases of their own get `0644` less the umask.)

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// The mode used when the database's own cannot be read: owner only.
#[cfg(unix)]
const FALLBACK_MODE: u32 = 0o600;

/// The permission bits (`rwx` for owner, group and others) of the file at `db`; owner-only
/// read/write when it cannot be read.
#[cfg(unix)]
pub(crate) fn mode_of(db: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(db).map_or(FALLBACK_MODE, |meta| meta.permissions().mode() & 0o777)
}

/// Opens `path` for writing (never truncating), creating it with `db`'s permission bits (the
/// umask may narrow them further). A file that already exists with bits the database lacks is
/// narrowed to the database's bits (with a warning if that is refused).
///
/// # Errors
///
/// The file cannot be opened or created.
pub(crate) fn open_beside(db: &Path, path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mode = mode_of(db);
        options.mode(mode);
        mode
    };
    let file = options.open(path)?;
    #[cfg(unix)]
    narrow(&file, path, mode);
    #[cfg(not(unix))]
    let _ = db;
    Ok(file)
}

/// Creates `path` (empty) with `db`'s permission bits if it does not exist, or narrows an existing
/// one, so that a library which then opens it (SQLite) keeps those bits.
///
/// # Errors
///
/// As [`open_beside`].
pub(crate) fn create_beside(db: &Path, path: &Path) -> io::Result<()> {
    open_beside(db, path).map(drop)
}

/// Takes from the open file at `path` the permission bits not in `mode`.
#[cfg(unix)]
fn narrow(file: &File, path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    let Ok(meta) = file.metadata() else { return };
    let current = meta.permissions().mode() & 0o777;
    if current & !mode != 0 {
        let narrowed = std::fs::Permissions::from_mode(current & mode);
        if let Err(error) = file.set_permissions(narrowed) {
            tracing::warn!(%error, path = %path.display(), current = format_args!("{current:o}"), wanted = format_args!("{mode:o}"), "cannot narrow the permissions of a file beside the database");
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_with_the_databases_bits_and_an_existing_wider_file_is_narrowed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        std::fs::write(&db, b"").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
        let new = dir.path().join("a.db.new");
        create_beside(&db, &new).unwrap();
        assert_eq!(mode(&new), 0o600);
        let wide = dir.path().join("a.db.wide");
        std::fs::write(&wide, b"kept").unwrap();
        std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o666)).unwrap();
        create_beside(&db, &wide).unwrap();
        assert_eq!(mode(&wide), 0o600);
        assert_eq!(std::fs::read(&wide).unwrap(), b"kept", "never truncated");
        // Narrower than the database stays narrower.
        let narrow = dir.path().join("a.db.narrow");
        std::fs::write(&narrow, b"").unwrap();
        std::fs::set_permissions(&narrow, std::fs::Permissions::from_mode(0o400)).unwrap();
        // (Opening it for writing fails, except for root.)
        let _ = create_beside(&db, &narrow);
        assert_eq!(mode(&narrow), 0o400);
        // A database whose bits cannot be read: owner only.
        assert_eq!(mode_of(&dir.path().join("missing.db")), 0o600);
    }
}
