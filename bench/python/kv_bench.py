"""The CLI's kv workload from Python, every way a Python team writes it, side by side.

One operation: read a writer's counter, INSERT OR REPLACE a key (100 bytes of value), write the
counter back as read + 1 — a read-modify-write that loses updates unless it is one transaction.

Forms, with 8 threads and with 8 processes (each for --seconds, alternating over --rounds):
  sqlite3-default     sqlite3.connect(timeout=5), default (deferred, implicit BEGIN before DML)
  sqlite3-loop        the same plus a hand-written retry loop on "database is locked"
                      (max_retries 5, base 0.1 s doubling to 5 s)
  sqlite3-immediate   isolation_level="IMMEDIATE"
  peewee-queue        peewee's SqliteQueueDatabase (threads only; when peewee installs)
  store.write         sqlretry.Store.write (threads share one Store; one per process)
  writer.submit       sqlretry.Writer.submit (threads share one Writer; one per process)
asyncio (--tasks tasks in one loop): aiosqlite (when it installs; BEGIN IMMEDIATE, timeout 5),
  store.write_async, writer.submit_async.
Uncontended: one thread, one INSERT per transaction: sqlite3 vs store.write.

Reported per form: committed, failed, lost (acknowledged but not in the file: rows missing or
counter increments lost, shown rows+increments), committed/s, p99 and max latency of an acknowledged operation.
Usage: python kv_bench.py [--seconds 3] [--rounds 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import sqlite3
import string
import sys
import tempfile
import threading
import time

import sqlretry

try:
    import peewee
    from playhouse.sqliteq import SqliteQueueDatabase
except ImportError:  # optional
    peewee = None
try:
    import aiosqlite
except ImportError:  # optional
    aiosqlite = None

WORKERS = 8
SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kv_counter (writer INTEGER PRIMARY KEY, n INTEGER NOT NULL);
"""
SELECT = "SELECT n FROM kv_counter WHERE writer = ?"
UPSERT = "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)"
UPDATE = "UPDATE kv_counter SET n = ? WHERE writer = ?"


def value() -> str:
    return "".join(random.choices(string.hexdigits, k=100))


def setup(path: str, writers: int) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.executemany("INSERT OR IGNORE INTO kv_counter VALUES (?, 0)", [(w,) for w in range(writers)])
    conn.commit()
    conn.close()


def kv_op(conn, writer: int, key: str) -> None:
    """The transaction body on an sqlretry connection."""
    (n,) = conn.execute(SELECT, (writer,)).fetchone()
    conn.execute(UPSERT, (key, value()))
    conn.execute(UPDATE, (n + 1, writer))


def sqlite3_op(conn, writer: int, key: str) -> None:
    (n,) = conn.execute(SELECT, (writer,)).fetchone()
    conn.execute(UPSERT, (key, value()))
    conn.execute(UPDATE, (n + 1, writer))
    conn.commit()


def with_retry_loop(fn, max_retries=5, base_delay=0.1, max_delay=5.0):
    """The hand-written retry helper being replaced: retry on "database is locked", exponential backoff."""
    for attempt in range(max_retries + 1):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if "database is locked" not in str(exc) or attempt == max_retries:
                raise
            time.sleep(min(base_delay * 2 ** attempt, max_delay))


class Worker:
    """One worker of one form: opens what it needs, runs operations until `until`."""

    def __init__(self, form: str, path: str, writer: int, shared):
        self.form, self.path, self.writer, self.shared = form, path, writer, shared

    def run(self, until: float):
        form, w = self.form, self.writer
        lat, failed, seq = [], 0, 0
        conn = None
        if form.startswith("sqlite3"):
            iso = "IMMEDIATE" if form == "sqlite3-immediate" else ""
            conn = sqlite3.connect(self.path, timeout=5, isolation_level=iso, check_same_thread=False)
            conn.execute("PRAGMA synchronous=NORMAL")
        store = self.shared if form in ("store.write", "writer.submit") else None
        if store is None and form == "store.write":
            store = sqlretry.Store(self.path)
        while time.monotonic() < until:
            key = f"{form}-{os.getpid()}-{w}-{seq}"
            seq += 1
            t0 = time.monotonic()
            try:
                if form in ("sqlite3-default", "sqlite3-immediate"):
                    try:
                        sqlite3_op(conn, w, key)
                    except Exception:
                        conn.rollback()
                        raise
                elif form == "sqlite3-loop":
                    def attempt():
                        try:
                            sqlite3_op(conn, w, key)
                        except Exception:
                            conn.rollback()
                            raise
                    with_retry_loop(attempt)
                elif form == "peewee-queue":
                    db = self.shared
                    (n,) = db.execute_sql(SELECT, (w,)).fetchone()
                    db.execute_sql(UPSERT, (key, value()))
                    db.execute_sql(UPDATE, (n + 1, w))
                elif form == "store.write":
                    store.write(kv_op, w, key)
                elif form == "writer.submit":
                    store.submit(kv_op, w, key)
                lat.append(time.monotonic() - t0)
            except Exception:
                failed += 1
        if conn is not None:
            conn.close()
        return len(lat), failed, lat


def run_threads(form: str, path: str, seconds: float):
    shared = None
    if form == "store.write":
        shared = sqlretry.Store(path)
    elif form == "writer.submit":
        shared = sqlretry.Writer(path)
    elif form == "peewee-queue":
        shared = SqliteQueueDatabase(path, pragmas={"journal_mode": "wal", "synchronous": "normal"})
        shared.start()
    results = [None] * WORKERS
    until = time.monotonic() + seconds

    def go(i):
        results[i] = Worker(form, path, i, shared).run(until)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(WORKERS)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    if form == "writer.submit":
        shared.close()
    elif form == "store.write":
        shared.close()
    elif form == "peewee-queue":
        shared.stop()
        shared.close()
    return results, elapsed


def process_main(form, path, writer, start_at, seconds, queue):
    shared = None
    if form == "writer.submit":
        shared = sqlretry.Writer(path)
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)
    result = Worker(form, path, writer, shared).run(time.monotonic() + seconds)
    if shared is not None:
        shared.close()
    queue.put((writer, result))


def run_processes(form: str, path: str, seconds: float):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    start_at = time.time() + 2.0  # after every child imported
    procs = [ctx.Process(target=process_main, args=(form, path, i, start_at, seconds, queue))
             for i in range(WORKERS)]
    for p in procs:
        p.start()
    results = [None] * WORKERS
    for _ in procs:
        i, r = queue.get(timeout=seconds + 120)
        results[i] = r
    for p in procs:
        p.join()
    return results, seconds


async def run_async(form: str, path: str, seconds: float, tasks: int):
    until = time.monotonic() + seconds
    lat, failed = [], 0
    store = sqlretry.Store(path) if form == "store.write_async" else None
    writer = sqlretry.Writer(path) if form == "writer.submit_async" else None

    async def task(i):
        nonlocal failed
        conn = None
        if form == "aiosqlite":
            conn = await aiosqlite.connect(path, timeout=5, isolation_level=None)
            await conn.execute("PRAGMA synchronous=NORMAL")
        seq = 0
        while time.monotonic() < until:
            key = f"{form}-{i}-{seq}"
            seq += 1
            w = i % WORKERS
            t0 = time.monotonic()
            try:
                if form == "aiosqlite":
                    await conn.execute("BEGIN IMMEDIATE")
                    try:
                        async with conn.execute(SELECT, (w,)) as cur:
                            (n,) = await cur.fetchone()
                        await conn.execute(UPSERT, (key, value()))
                        await conn.execute(UPDATE, (n + 1, w))
                        await conn.execute("COMMIT")
                    except Exception:
                        await conn.execute("ROLLBACK")
                        raise
                elif form == "store.write_async":
                    await store.write_async(kv_op, w, key)
                else:
                    await writer.submit_async(kv_op, w, key)
                lat.append(time.monotonic() - t0)
            except Exception:
                failed += 1
        if conn is not None:
            await conn.close()

    start = time.monotonic()
    await asyncio.gather(*(task(i) for i in range(tasks)))
    elapsed = time.monotonic() - start
    if writer is not None:
        writer.close()
    if store is not None:
        store.close()
    return [(len(lat), failed, lat)], elapsed


def summarize(form, mode, results, elapsed, path, counter_before):
    committed = sum(r[0] for r in results)
    failed = sum(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])
    conn = sqlite3.connect(path)
    counter_after = conn.execute("SELECT sum(n) FROM kv_counter").fetchone()[0]
    rows = conn.execute("SELECT count(*) FROM kv WHERE key LIKE ?", (form + "-%",)).fetchone()[0]
    conn.close()
    lost_rows = max(0, committed - rows)
    lost_increments = max(0, committed - (counter_after - counter_before))
    lost = lost_rows + lost_increments
    p99 = lat[int(0.99 * (len(lat) - 1))] if lat else float("nan")
    return {"mode": mode, "form": form, "committed": committed, "failed": failed, "lost": lost,
            "lost_rows": lost_rows, "lost_increments": lost_increments,
            "per_s": committed / elapsed, "p99_ms": p99 * 1e3, "max_ms": (lat[-1] if lat else float("nan")) * 1e3}


def counter_sum(path):
    conn = sqlite3.connect(path)
    n = conn.execute("SELECT sum(n) FROM kv_counter").fetchone()[0]
    conn.close()
    return n


def uncontended(path: str, n: int):
    """Seconds per one-INSERT transaction: plain sqlite3 vs store.write (alternating batches)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                       "CREATE TABLE IF NOT EXISTS one (id INTEGER PRIMARY KEY, v TEXT)")
    store = sqlretry.Store(path)
    plain, ours = [], []
    for _ in range(10):
        t0 = time.perf_counter()
        for _ in range(n):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO one (v) VALUES (?)", ("x",))
            conn.execute("COMMIT")
        plain.append((time.perf_counter() - t0) / n)
        t0 = time.perf_counter()
        for _ in range(n):
            store.write(lambda c: c.execute("INSERT INTO one (v) VALUES (?)", ("x",)))
        ours.append((time.perf_counter() - t0) / n)
    conn.close()
    store.close()
    plain.sort()
    ours.sort()
    return plain[len(plain) // 2], ours[len(ours) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=32)
    ap.add_argument("--json")
    args = ap.parse_args()
    thread_forms = ["sqlite3-default", "sqlite3-loop", "sqlite3-immediate"] + (
        ["peewee-queue"] if peewee else []) + ["store.write", "writer.submit"]
    process_forms = ["sqlite3-default", "sqlite3-loop", "sqlite3-immediate", "store.write", "writer.submit"]
    async_forms = (["aiosqlite"] if aiosqlite else []) + ["store.write_async", "writer.submit_async"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(args.rounds):
            order = (lambda xs: xs if rnd % 2 == 0 else list(reversed(xs)))
            for mode, forms in (("threads", thread_forms), ("processes", process_forms), ("asyncio", async_forms)):
                for form in order(forms):
                    path = os.path.join(tmp, f"{mode}-{form}-{rnd}.db")
                    setup(path, WORKERS)
                    before = counter_sum(path)
                    if mode == "threads":
                        results, elapsed = run_threads(form, path, args.seconds)
                    elif mode == "processes":
                        results, elapsed = run_processes(form, path, args.seconds)
                    else:
                        results, elapsed = asyncio.run(run_async(form, path, args.seconds, args.tasks))
                    row = summarize(form, mode, results, elapsed, path, before)
                    row["round"] = rnd
                    rows.append(row)
                    print(f"{mode:9} {form:20} committed {row['committed']:6} failed {row['failed']:5} "
                          f"lost {row['lost_rows']:5}+{row['lost_increments']:5} {row['per_s']:8.0f}/s p99 {row['p99_ms']:8.1f} ms "
                          f"max {row['max_ms']:8.1f} ms", flush=True)
        plain, ours = uncontended(os.path.join(tmp, "uncontended.db"), 2000)
        print(f"uncontended one-INSERT transaction: sqlite3 {plain * 1e6:.1f} us, store.write {ours * 1e6:.1f} us,"
              f" ratio {ours / plain:.2f}x", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "uncontended_us": {"sqlite3": plain * 1e6, "store.write": ours * 1e6}}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
