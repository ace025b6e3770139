"""The required tests of the agent state store's retry plan, on sqlretry's StateStore: a real
file, real threads and processes, a real foreign connection holding the lock."""

import logging
import re
import multiprocessing
import sqlite3
import threading
import time

import pytest

import sqlretry
from conftest import held_lock


def hold_then_release(path, seconds):
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("BEGIN EXCLUSIVE")
    held = threading.Event()

    def release():
        held.set()
        time.sleep(seconds)
        conn.execute("ROLLBACK")
        conn.close()

    thread = threading.Thread(target=release)
    thread.start()
    held.wait()
    return thread


class TestRetryLogic:
    def test_retries_on_database_locked(self, db, busy_config, caplog):
        state = sqlretry.StateStore(db, config=busy_config)
        thread = hold_then_release(db, 0.3)
        with caplog.at_level(logging.WARNING, logger="sqlretry"):
            state.save("agent-1", {"turn": 1})
        thread.join()
        assert state.load("agent-1") == {"turn": 1}
        metrics = state.metrics()
        assert metrics["retries"] >= 1, metrics
        assert metrics["successes_after_retry"] == 1, metrics
        retries = [r for r in caplog.records if r.name == "sqlretry" and r.levelno == logging.WARNING]
        assert len(retries) == metrics["retries"], [r.getMessage() for r in caplog.records]

    def test_gives_up_after_max_retries(self, db, busy_config, caplog):
        policy = sqlretry.retry_loop_policy(max_retries=3, base_delay=0.01, max_delay=0.02)
        state = sqlretry.StateStore(db, config=busy_config, policy=policy)
        with held_lock(db), caplog.at_level(logging.WARNING, logger="sqlretry"):
            with pytest.raises(sqlite3.OperationalError) as caught:
                state.save("agent-1", {"turn": 1})
        err = caught.value
        assert isinstance(err, sqlretry.NotCommitted)
        assert err.attempts == 4  # the first attempt and 3 retries
        assert err.reason == "attempts_exhausted"
        assert err.sqlite_code == 5  # SQLITE_BUSY
        assert "database is locked" in str(err)
        assert state.load("agent-1") is None
        assert any(r.levelno == logging.ERROR for r in caplog.records if r.name == "sqlretry")

    def test_exponential_backoff_timing(self, db, busy_config, caplog):
        # The schedule itself, exactly (no clock involved).
        assert sqlretry.retry_loop_policy().delays() == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6])
        assert sqlretry.RetryPolicy(attempts=6, base=0.1, cap=0.3).delays() == pytest.approx(
            [0.1, 0.2, 0.3, 0.3, 0.3])
        # And the sleeps really taken: never shorter than the schedule (a lower bound cannot
        # flake), each logged with its delay.
        policy = sqlretry.retry_loop_policy(max_retries=3, base_delay=0.05, max_delay=1.0)
        state = sqlretry.StateStore(db, config=busy_config, policy=policy)
        start = time.monotonic()
        with held_lock(db), caplog.at_level(logging.WARNING, logger="sqlretry"):
            with pytest.raises(sqlretry.NotCommitted):
                state.save("k", 1)
        assert time.monotonic() - start >= 0.05 + 0.1 + 0.2
        delays = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(delays) == 3, delays
        logged = [float(re.search(r"delay=([0-9.]+)ms", m).group(1)) for m in delays]
        assert logged == pytest.approx([50.0, 100.0, 200.0])

    def test_passes_through_other_errors(self, db):
        store = sqlretry.Store(db)
        store.write(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY)"))
        calls = []

        def bad_sql(conn):
            calls.append(1)
            conn.execute("INSERT INTO missing VALUES (1)")

        with pytest.raises(sqlite3.OperationalError) as caught:
            store.write(bad_sql)
        assert isinstance(caught.value, sqlretry.Rejected)
        assert not isinstance(caught.value, sqlretry.NotCommitted)
        assert "no such table" in str(caught.value)
        assert len(calls) == 1

        store.write(lambda c: c.execute("INSERT INTO t VALUES ('a')"))
        with pytest.raises(sqlite3.IntegrityError) as caught:
            store.write(lambda c: c.execute("INSERT INTO t VALUES ('a')"))
        assert isinstance(caught.value, sqlretry.Rejected)
        assert isinstance(caught.value.original, sqlite3.IntegrityError)
        assert caught.value.extended_code == 1555  # SQLITE_CONSTRAINT_PRIMARYKEY
        assert caught.value.attempts == 1

        class Boom(Exception):
            pass

        boom = Boom("mine")

        def raises(conn):
            calls.append(2)
            raise boom

        with pytest.raises(Boom) as caught:
            store.write(raises)
        assert caught.value is boom
        assert calls.count(2) == 1


def save_many(path, worker, count, errors):
    try:
        state = sqlretry.StateStore(path)  # one instance per worker, as the worker pool does
        for i in range(count):
            state.save(f"agent-{worker}-{i}", {"worker": worker, "turn": i})
        state.close()
    except Exception as exc:  # noqa: BLE001 - collected and asserted on
        errors.append(repr(exc))


def save_many_process(path, worker, count, queue):
    errors = []
    save_many(path, worker, count, errors)
    queue.put(errors)


class TestAgentStateStore:
    @pytest.mark.parametrize("run", range(10))
    def test_concurrent_access(self, db, run):
        sqlretry.StateStore(db).close()
        errors = []
        threads = [threading.Thread(target=save_many, args=(db, w, 200, errors)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, f"Workers had errors: {errors}"
        state = sqlretry.StateStore(db)
        assert len(state.keys()) == 8 * 200
        assert state.load("agent-7-199") == {"worker": 7, "turn": 199}

    def test_concurrent_access_processes(self, db):
        sqlretry.StateStore(db).close()
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        procs = [ctx.Process(target=save_many_process, args=(db, w, 200, queue)) for w in range(8)]
        for p in procs:
            p.start()
        errors = [e for _ in procs for e in queue.get(timeout=120)]
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
        assert not errors, f"Workers had errors: {errors}"
        assert len(sqlretry.StateStore(db).keys()) == 8 * 200

    def test_drop_in_api(self, db):
        state = sqlretry.StateStore(db)
        assert state.load("nope") is None
        assert state.load("nope", default={}) == {}
        state.save("a", [1, "two", None, 3.5])
        state.save("b", {"nested": {"x": True}})
        assert state.load("a") == [1, "two", None, 3.5]
        assert state.keys() == ["a", "b"]
        assert state.delete("a") is True
        assert state.delete("a") is False
        assert state.clear() == 1
        assert state.keys() == []
