"""Shared fixtures: a fresh database file per test, and a foreign ``sqlite3`` connection that
holds the database's lock (as another program would)."""

import contextlib
import sqlite3
import threading

import pytest


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "test.db")


@pytest.fixture
def busy_config(tmp_path):
    """A configuration file with SQLite's own lock wait off, so that every refused BEGIN is a
    retry of the engine (and shows in the metrics and the log)."""
    path = tmp_path / "sqlretry.toml"
    path.write_text('[sqlite]\nbusy_timeout = "0s"\n')
    return str(path)


@contextlib.contextmanager
def held_lock(path, mode="EXCLUSIVE"):
    """Holds ``BEGIN <mode>`` on ``path`` from a plain sqlite3 connection until the block ends."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"BEGIN {mode}")
    try:
        yield conn
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def release_later(conn, seconds):
    """Commits ``conn``'s transaction after ``seconds`` on another thread."""
    def release():
        threading.Event().wait(seconds)
        conn.execute("COMMIT")

    thread = threading.Thread(target=release)
    thread.start()
    return thread
