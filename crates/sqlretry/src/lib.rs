//! sqlretry: writes to SQLite that survive concurrency.
