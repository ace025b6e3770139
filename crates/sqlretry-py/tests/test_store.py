"""Store: the connection API, errors, deadlines, the optimistic write, threads, processes,
Ctrl-C and fork, on real files."""

import logging
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import sqlretry
from conftest import held_lock

SLACK = 1.5  # seconds: scheduling on a loaded machine, never a measure of speed


@pytest.fixture
def store(db):
    s = sqlretry.Store(db)
    s.write(lambda c: c.executescript(
        "CREATE TABLE kv (k TEXT PRIMARY KEY, v); CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER);"
        "INSERT INTO counter VALUES (1, 0);"))
    yield s
    s.close()


def test_types_round_trip_both_ways(store):
    values = [("int", 2**62), ("neg", -1), ("float", 1.5), ("str", "héllo"), ("bytes", b"\x00\xff"),
              ("none", None), ("bool", True)]
    store.write(lambda c: c.executemany("INSERT INTO kv VALUES (?, ?)", values))
    rows = dict(store.read(lambda c: c.execute("SELECT k, v FROM kv").fetchall()))
    assert rows == {"int": 2**62, "neg": -1, "float": 1.5, "str": "héllo", "bytes": b"\x00\xff",
                    "none": None, "bool": 1}
    assert type(rows["bytes"]) is bytes


def test_cursor_like_sqlite3(store):
    def work(conn):
        cur = conn.execute("INSERT INTO kv VALUES (:k, :v)", {"k": "a", "v": 1})
        assert (cur.rowcount, cur.lastrowid) == (1, 1)
        cur = conn.executemany("INSERT INTO kv VALUES (?, ?)", [("b", 2), ("c", 3)])
        assert cur.rowcount == 2
        cur = conn.execute("SELECT k, v FROM kv ORDER BY k")
        assert cur.description[0][0] == "k" and cur.description[1][0] == "v"
        assert cur.rowcount == -1
        assert cur.fetchone() == ("a", 1)
        assert cur.fetchmany(1) == [("b", 2)]
        assert list(cur) == [("c", 3)]
        assert cur.fetchone() is None
        return conn.execute("UPDATE kv SET v = v + 10").rowcount

    assert store.write(work) == 3
    assert store.read(lambda c: [r for r in c.execute("SELECT v FROM kv ORDER BY v")]) == [(11,), (12,), (13,)]


def test_bad_parameters_are_programming_errors(store):
    with pytest.raises(sqlite3.ProgrammingError, match="not supported"):
        store.write(lambda c: c.execute("INSERT INTO kv VALUES (?, ?)", ("a", object())))
    with pytest.raises(sqlite3.ProgrammingError):
        store.write(lambda c: c.execute("INSERT INTO kv VALUES (?, ?)", ("a",)))


def test_connection_outside_its_transaction_is_refused(store):
    kept = store.write(lambda c: c)
    with pytest.raises(sqlite3.ProgrammingError, match="transaction that has ended"):
        kept.execute("SELECT 1")


def test_exception_in_fn_rolls_back_and_propagates(store):
    class Mine(Exception):
        pass

    err = Mine()

    def half(conn):
        conn.execute("INSERT INTO kv VALUES ('x', 1)")
        raise err

    with pytest.raises(Mine) as caught:
        store.write(half)
    assert caught.value is err
    assert store.read(lambda c: c.execute("SELECT count(*) FROM kv").fetchone()) == (0,)
    # The connection is clean for the next write.
    store.write(lambda c: c.execute("INSERT INTO kv VALUES ('y', 2)"))
    assert store.read(lambda c: c.execute("SELECT k FROM kv").fetchall()) == [("y",)]


def test_args_kwargs_and_transaction_decorator(store):
    @store.transaction
    def put(conn, key, *, value):
        conn.execute("INSERT INTO kv VALUES (?, ?)", (key, value))
        return key

    assert put("a", value=1) == "a"
    assert store.write(lambda c, k: c.execute("SELECT v FROM kv WHERE k = ?", (k,)).fetchone()[0], "a") == 1
    assert put.__name__ == "put"


def test_foreign_exclusive_past_the_deadline_is_not_committed(db):
    store = sqlretry.Store(db, deadline=0.5)
    store.write(lambda c: c.execute("CREATE TABLE t (x)"))
    ran = []
    with held_lock(db):
        start = time.monotonic()
        with pytest.raises(sqlite3.OperationalError) as caught:
            store.write(lambda c: ran.append(1) or c.execute("INSERT INTO t VALUES (1)"))
        elapsed = time.monotonic() - start
    assert isinstance(caught.value, sqlretry.NotCommitted)
    assert caught.value.reason == "deadline_exceeded"
    assert caught.value.sqlite_code == 5
    assert 0.4 <= elapsed <= 0.5 + SLACK, elapsed
    assert not ran, "the function never runs without the lock"
    assert store.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()) == (0,)


def test_same_from_another_thread(db):
    store = sqlretry.Store(db, deadline=0.3)
    store.write(lambda c: c.execute("CREATE TABLE t (x)"))
    out = {}

    def worker():
        start = time.monotonic()
        try:
            store.write(lambda c: c.execute("INSERT INTO t VALUES (1)"))
        except sqlite3.OperationalError as exc:
            out["err"], out["elapsed"] = exc, time.monotonic() - start

    with held_lock(db):
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert isinstance(out["err"], sqlretry.NotCommitted)
    assert out["elapsed"] <= 0.3 + SLACK


def test_gil_released_while_waiting(db):
    store = sqlretry.Store(db, deadline=0.5)
    store.write(lambda c: c.execute("CREATE TABLE t (x)"))
    ticks = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks[0] += 1

    t = threading.Thread(target=spin)
    with held_lock(db):
        t.start()
        time.sleep(0.05)
        before = ticks[0]
        with pytest.raises(sqlretry.NotCommitted):
            store.write(lambda c: c.execute("INSERT INTO t VALUES (1)"))
        during = ticks[0] - before
    stop.set()
    t.join()
    assert during > 10_000, during  # the other thread ran all along


def test_lock_released_in_time_commits(db):
    store = sqlretry.Store(db)
    store.write(lambda c: c.execute("CREATE TABLE t (x)"))
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN EXCLUSIVE")
    timer = threading.Timer(0.3, lambda: conn.execute("COMMIT"))
    timer.start()
    store.write(lambda c: c.execute("INSERT INTO t VALUES (1)"))
    timer.join()
    conn.close()
    assert store.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()) == (1,)


def test_slow_work_then_write(db, caplog):
    store = sqlretry.Store(db)
    store.write(lambda c: c.executescript(
        "CREATE TABLE entries (id INTEGER PRIMARY KEY, body TEXT, parsed TEXT, version INTEGER NOT NULL);"
        "INSERT INTO entries VALUES (1, 'raw', NULL, 1); INSERT INTO entries VALUES (2, 'raw', NULL, 1);"))

    def read_entry(entry):
        return store.read(lambda c: c.execute("SELECT body, version FROM entries WHERE id = ?", (entry,)).fetchone())

    def current(entry):
        return lambda c: c.execute("SELECT version FROM entries WHERE id = ?", (entry,)).fetchone()

    def apply(entry, parsed):
        return lambda c: c.execute(
            "UPDATE entries SET parsed = ?, version = version + 1 WHERE id = ?", (parsed, entry)).rowcount

    # Entry 1: unchanged during the slow work -> written.
    body, version = read_entry(1)
    time.sleep(0.05)  # the LLM call, outside any transaction
    outcome = store.write_if_version(version, current(1), apply(1, body.upper()))
    assert outcome.written and outcome.value == 1 and bool(outcome)

    # Entry 2: changed by someone else during the slow work -> skipped, not an error, warned.
    body, version = read_entry(2)
    other = threading.Thread(target=lambda: store.write(
        lambda c: c.execute("UPDATE entries SET body = 'edited', version = version + 1 WHERE id = 2")))
    other.start()
    other.join()
    with caplog.at_level(logging.WARNING, logger="sqlretry"):
        outcome = store.write_if_version(version, current(2), apply(2, body.upper()))
    assert not outcome.written
    assert (outcome.reason, outcome.expected, outcome.found) == ("changed", 1, 2)
    assert any("skipped" in r.getMessage() for r in caplog.records)
    assert store.read(lambda c: c.execute("SELECT parsed FROM entries WHERE id = 2").fetchone()) == (None,)

    # Deleted meanwhile -> skipped with that reason.
    store.write(lambda c: c.execute("DELETE FROM entries WHERE id = 2"))
    outcome = store.write_if_version(2, current(2), apply(2, "x"))
    assert (outcome.written, outcome.reason) == (False, "deleted")


def test_metrics_snapshot(store):
    store.write(lambda c: c.execute("INSERT INTO kv VALUES ('a', 1)"))
    m = store.metrics()
    assert m["write"]["calls"] >= 2
    assert m["write"]["gave_up_deadline"] == 0
    assert m["lock_hold"]["count"] >= 2
    assert set(m) == {"write", "read", "lock_hold"}


def test_reads_are_query_only(store):
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only|attempt to write"):
        store.read(lambda c: c.execute("INSERT INTO kv VALUES ('a', 1)"))


def increment(conn):
    (n,) = conn.execute("SELECT n FROM counter WHERE id = 1").fetchone()
    conn.execute("UPDATE counter SET n = ? WHERE id = 1", (n + 1,))


def count_up(path, times):
    store = sqlretry.Store(path)
    for _ in range(times):
        store.write(increment)
    store.close()


def test_read_modify_write_from_8_threads_loses_nothing(store, db):
    threads = [threading.Thread(target=count_up, args=(db, 200)) for _ in range(8)]
    shared = [threading.Thread(target=lambda: [store.write(increment) for _ in range(200)]) for _ in range(4)]
    for t in threads + shared:
        t.start()
    for t in threads + shared:
        t.join()
    assert store.read(lambda c: c.execute("SELECT n FROM counter").fetchone()) == (12 * 200,)


def test_read_modify_write_from_8_processes_loses_nothing(store, db):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=count_up, args=(db, 200)) for _ in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert store.read(lambda c: c.execute("SELECT n FROM counter").fetchone()) == (8 * 200,)


CTRL_C_CHILD = textwrap.dedent("""
    import sys, time, sqlretry
    store = sqlretry.Store(sys.argv[1], deadline=60)
    print("waiting", flush=True)
    start = time.monotonic()
    try:
        store.write(lambda c: c.execute("INSERT INTO t VALUES (1)"))
    except KeyboardInterrupt:
        print("interrupted after %.3f" % (time.monotonic() - start), flush=True)
        store.close()
        sys.exit(42)
    print("not interrupted", flush=True)
""")


def test_ctrl_c_during_a_wait_raises_keyboard_interrupt(db):
    sqlretry.Store(db).write(lambda c: c.execute("CREATE TABLE t (x)"))
    with held_lock(db):
        child = subprocess.Popen([sys.executable, "-c", CTRL_C_CHILD, db], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "waiting"
        time.sleep(0.5)  # the child is now waiting for the lock (deadline 60 s)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=30)
        took = time.monotonic() - sent
    assert child.returncode == 42, out
    assert "interrupted" in out
    assert took < 0.5 + SLACK, took
    # Nothing was committed after the interrupt, even once the lock was free.
    time.sleep(0.2)
    assert sqlretry.Store(db).read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()) == (0,)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_store_used_after_fork_raises_a_clear_error(store):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            store.write(increment)
        except sqlretry.UsedAfterFork as exc:
            code = 0 if "after fork()" in str(exc) else 2
        except BaseException:  # noqa: BLE001
            code = 3
        os.write(write, bytes([code]))
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    os.close(write)
    assert os.read(read, 1) == b"\x00"
    assert os.waitstatus_to_exitcode(status) == 0
    os.close(read)
    # The parent's store is unaffected.
    store.write(increment)
    assert store.read(lambda c: c.execute("SELECT n FROM counter").fetchone()) == (1,)


def test_closed_store_refuses(db):
    store = sqlretry.Store(db)
    store.close()
    store.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        store.write(lambda c: None)
