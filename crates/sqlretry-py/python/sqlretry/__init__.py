"""sqlretry: SQLite writes that survive concurrency, from Python.

The engine is the ``sqlretry`` Rust library: every write is one ``BEGIN IMMEDIATE`` transaction,
re-run whole when the database is busy or locked, bounded by one deadline (5 s by default), and
acknowledged only after ``COMMIT``. Writers of one process take turns instead of fighting over
SQLite's lock; a :class:`Writer` commits many callers' writes in one transaction (group commit).

>>> import sqlretry, tempfile, os
>>> store = sqlretry.Store(os.path.join(tempfile.mkdtemp(), "app.db"))
>>> store.write(lambda conn: conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"))  # doctest: +ELLIPSIS
<sqlretry.Cursor object at ...>
>>> store.write(lambda conn: conn.execute("INSERT INTO t VALUES (?, ?)", ("a", 1)).rowcount)
1
>>> store.read(lambda conn: conn.execute("SELECT v FROM t WHERE k = :k", {"k": "a"}).fetchone())
(1,)

Errors: :class:`NotCommitted` (a ``sqlite3.OperationalError``) when the transaction could not
commit in time; :class:`Rejected` (also the ``sqlite3`` class of the error) for a permanent error
in the function's statements; the function's own exception unchanged (rolled back, not retried).

Settings: :class:`RetryPolicy`, or ``config=`` a TOML file as the command line reads it, plus the
``SQLRETRY_…`` environment variables. Retries and give-ups are logged through ``logging``
(logger ``"sqlretry"``).
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any, Callable, List, Optional, TypeVar

from . import _native
from ._errors import NotCommitted, Rejected, UsedAfterFork
from ._native import Connection, Cursor, Outcome, Pending, RetryPolicy

__all__ = [
    "Connection",
    "Cursor",
    "NotCommitted",
    "Outcome",
    "Pending",
    "Rejected",
    "RetryPolicy",
    "StateStore",
    "Store",
    "UsedAfterFork",
    "Writer",
    "retry_loop_policy",
]

__version__ = "0.1.0"

T = TypeVar("T")

DEFAULT_DEADLINE: float = _native.DEFAULT_DEADLINE


def retry_loop_policy(max_retries: int = 5, base_delay: float = 0.1, max_delay: float = 5.0,
                   deadline: float = 5.0) -> RetryPolicy:
    """The policy of a hand-written retry loop with the three usual knobs.

    ``max_retries`` retries after the first attempt (``attempts = max_retries + 1``), sleeping
    ``base_delay`` seconds doubling up to ``max_delay``, no jitter; and, unlike the loop, a total
    ``deadline`` (seconds, attempts and sleeps together; ``math.inf`` for none), so that a stuck
    file is reported instead of waited for.
    """
    return RetryPolicy(attempts=max_retries + 1, base=base_delay, cap=max_delay, multiplier=2.0,
                       jitter="none", deadline=deadline)


class Store(_native.Store):
    """One SQLite file: ``write(fn)`` runs ``fn(conn)`` in one ``BEGIN IMMEDIATE`` transaction,
    re-run whole on a busy or locked database until ``deadline`` seconds (default 5).

    ``Store(path, *, deadline=None, policy=None, config=None)``: ``policy`` a :class:`RetryPolicy`,
    ``config`` the path of a TOML configuration file (the ``SQLRETRY_…`` variables apply on top).
    Safe to share between threads; open a new one in a child process.

    The function may run more than once (a busy file re-runs it whole): keep side effects outside
    the database out of it, and slow work (a network call) before the write — see
    ``write_if_version``. Do not call ``write`` on the same store from inside the function: it
    would wait for its own turn until the deadline. From the main thread, a write that has to wait
    runs its function on a helper thread, so that Ctrl-C can interrupt the wait.
    """

    def transaction(self, func: Callable[..., T]) -> Callable[..., T]:
        """Decorator: calling the function runs it as ``store.write(func, *args, **kwargs)``; it
        receives the connection first."""

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> T:
            return self.write(func, *args, **kwargs)

        return run

    async def write_async(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``write`` for asyncio: runs on the loop's default executor, never blocking the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(self.write, func, *args, **kwargs))

    async def read_async(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``read`` for asyncio: runs on the loop's default executor."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(self.read, func, *args, **kwargs))

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Writer(_native.Writer):
    """One writer per file: many callers' functions committed in one transaction (group commit),
    each in a savepoint of its own (a failing function is rolled back alone).

    ``Writer(path, *, deadline=None, policy=None, config=None, max_group=None, window=None)``.
    """

    async def submit_async(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``submit`` for asyncio: awaits the commit without blocking the loop (the result comes
        back through ``loop.call_soon_threadsafe``). Cancelling the await does not cancel the
        write."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        pending = self.enqueue(func, *args, **kwargs)

        def resolve() -> None:
            if future.cancelled():
                return
            try:
                future.set_result(pending.wait())
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task as it is
                future.set_exception(exc)

        def done() -> None:
            try:
                loop.call_soon_threadsafe(resolve)
            except RuntimeError:
                pass  # the loop is closed: nobody awaits the result any more

        pending._notify(done)
        return await future

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_MISSING = object()


class StateStore:
    """Key → JSON value in one SQLite file, every write a whole transaction retried under the
    state-store policy: a drop-in for a hand-written ``AgentStateStore`` with a retry loop.

    ``StateStore(path, *, deadline=None, policy=None, config=None)``; by default writes follow
    the library's state-store policy (5 attempts, 0.1 s doubling, 5 s in all; ``[retry.state_store]``
    in the configuration file). Many instances, threads and processes may share one file.
    """

    def __init__(self, path: Any, *, deadline: Optional[float] = None,
                 policy: Optional[RetryPolicy] = None, config: Any = None) -> None:
        self._native = _native.StateStore(path, deadline=deadline, policy=policy, config=config)

    def save(self, key: str, value: Any) -> None:
        """Saves ``value`` (anything ``json.dumps`` takes) under ``key``, replacing what was there."""
        self._native.save_bytes(key, json.dumps(value).encode())

    def load(self, key: str, default: Any = None) -> Any:
        """The value under ``key``, or ``default``."""
        raw = self._native.load_bytes(key)
        return default if raw is None else json.loads(raw)

    def delete(self, key: str) -> bool:
        """Deletes ``key``; whether it was there."""
        return self._native.delete(key)

    def clear(self) -> int:
        """Deletes every key; how many there were."""
        return self._native.clear()

    def keys(self) -> List[str]:
        """Every key, sorted."""
        return self._native.keys()

    def metrics(self) -> dict:
        """Counters of the writes: calls, retries, successes after a retry, give-ups by reason."""
        return self._native.metrics()

    def close(self) -> None:
        """Closes the connections (idempotent)."""
        self._native.close()

    def __enter__(self) -> "StateStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
