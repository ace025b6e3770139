"""Writer (group commit), asyncio forms, configuration."""

import asyncio
import sqlite3
import threading

import pytest

import sqlretry


def schema(conn):
    conn.execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER)")


def test_writer_submit_enqueue_and_close(db):
    writer = sqlretry.Writer(db)
    writer.submit(schema)
    assert writer.submit(lambda c, k, v: c.execute("INSERT INTO t VALUES (?, ?)", (k, v)).lastrowid, "a", 1) == 1
    handles = [writer.enqueue(lambda c, i=i: c.execute("INSERT INTO t VALUES (?, ?)", (f"k{i}", i)).rowcount)
               for i in range(100)]
    assert [h.wait(timeout=30) for h in handles] == [1] * 100
    assert all(h.done() for h in handles)
    metrics = writer.close()
    assert metrics["requests_committed"] == 102
    assert metrics["batches_written"] < 102  # grouped
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        writer.submit(schema)
    assert writer.close() == {}


def test_writer_failure_is_alone_in_its_group(db):
    with sqlretry.Writer(db) as writer:
        writer.submit(schema)
        writer.submit(lambda c: c.execute("INSERT INTO t VALUES ('dup', 0)"))

        class Mine(Exception):
            pass

        def fails(conn):
            conn.execute("INSERT INTO t VALUES ('gone', 1)")
            raise Mine()

        handles = [writer.enqueue(lambda c, i=i: c.execute("INSERT INTO t VALUES (?, ?)", (f"ok{i}", i)))
                   for i in range(20)]
        bad = writer.enqueue(fails)
        dup = writer.enqueue(lambda c: c.execute("INSERT INTO t VALUES ('dup', 1)"))
        for h in handles:
            h.wait()
        with pytest.raises(Mine):
            bad.wait()
        with pytest.raises(sqlite3.IntegrityError) as caught:
            dup.wait()
        assert isinstance(caught.value, sqlretry.Rejected)
    store = sqlretry.Store(db)
    keys = {k for (k,) in store.read(lambda c: c.execute("SELECT k FROM t").fetchall())}
    assert keys == {"dup"} | {f"ok{i}" for i in range(20)}


def test_writer_from_many_threads(db):
    with sqlretry.Writer(db) as writer:
        writer.submit(schema)
        errors = []

        def worker(w):
            try:
                for i in range(100):
                    writer.submit(lambda c: c.execute("INSERT INTO t VALUES (?, ?)", (f"{w}-{i}", i)))
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert writer.metrics()["requests_committed"] == 801


def test_asyncio_100_tasks_never_block_the_loop(db):
    store = sqlretry.Store(db)
    store.write(schema)
    writer = sqlretry.Writer(db)

    async def main():
        ticks = 0
        done = asyncio.Event()

        async def heartbeat():
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.001)

        beat = asyncio.create_task(heartbeat())
        stores = [store.write_async(lambda c, i=i: c.execute("INSERT INTO t VALUES (?, ?)", (f"s{i}", i)).rowcount)
                  for i in range(100)]
        writes = [writer.submit_async(lambda c, i=i: c.execute("INSERT INTO t VALUES (?, ?)", (f"w{i}", i)).rowcount)
                  for i in range(100)]
        results = await asyncio.gather(*stores, *writes)
        done.set()
        await beat
        return results, ticks

    results, ticks = asyncio.run(main())
    assert results == [1] * 200
    assert ticks > 1  # the loop ran its other task while the writes waited
    writer.close()
    assert store.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()) == (200,)


def test_async_errors_propagate(db):
    writer = sqlretry.Writer(db)
    writer.submit(schema)

    async def main():
        with pytest.raises(ZeroDivisionError):
            await writer.submit_async(lambda c: 1 / 0)
        with pytest.raises(sqlite3.OperationalError):
            await writer.submit_async(lambda c: c.execute("SELECT * FROM missing"))
        store = sqlretry.Store(db)
        with pytest.raises(KeyError):
            await store.write_async(lambda c: {}["x"])

    asyncio.run(main())
    writer.close()


def test_config_file_and_environment(db, tmp_path, monkeypatch):
    path = tmp_path / "sqlretry.toml"
    path.write_text('[retry.write]\nmax_attempts = 3\ndeadline = "2s"\n')
    assert sqlretry.Store(db, config=str(path)).deadline == pytest.approx(2.0)
    monkeypatch.setenv("SQLRETRY_RETRY_WRITE_DEADLINE", "750ms")
    assert sqlretry.Store(db, config=str(path)).deadline == pytest.approx(0.75)
    assert sqlretry.Store(db, config=str(path), deadline=1.25).deadline == pytest.approx(1.25)
    assert sqlretry.Store(db, policy=sqlretry.RetryPolicy(deadline=3.0)).deadline == pytest.approx(3.0)
    bad = tmp_path / "bad.toml"
    bad.write_text('[retry.write]\nmultiplier = 0.5\n')
    with pytest.raises(ValueError, match="retry.write.multiplier"):
        sqlretry.Store(db, config=str(bad))
    with pytest.raises(ValueError, match="attempts|max_attempts"):
        sqlretry.RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="jitter"):
        sqlretry.RetryPolicy(jitter="sometimes")
    assert sqlretry.RetryPolicy(deadline=float("inf")).deadline == float("inf")


def test_exceptions_are_sqlite3_exceptions():
    assert issubclass(sqlretry.NotCommitted, sqlite3.OperationalError)
    assert issubclass(sqlretry.Rejected, sqlite3.DatabaseError)
