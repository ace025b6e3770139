"""The exceptions sqlretry raises, built on ``sqlite3``'s so that existing handlers keep working.

- :class:`NotCommitted` is a ``sqlite3.OperationalError``: ``except sqlite3.OperationalError``
  (the handler of "database is locked") still catches a write that could not commit.
- :class:`Rejected` is a ``sqlite3.DatabaseError``; each one raised is also the ``sqlite3`` class
  of its error (``IntegrityError`` for a constraint, ``OperationalError`` for bad SQL, ...), so
  ``except sqlite3.IntegrityError`` still catches a duplicate key.
"""

from __future__ import annotations

import sqlite3
from typing import Dict, Optional, Type

__all__ = ["NotCommitted", "Rejected", "UsedAfterFork"]


class NotCommitted(sqlite3.OperationalError):
    """The transaction did not commit: nothing of the write is in the database.

    Attributes: ``sqlite_code`` (primary result code, e.g. 5 for SQLITE_BUSY, or ``None`` when
    no SQLite error was involved), ``extended_code``, ``sqlite_errorname``, ``attempts`` (how many
    times the transaction ran), ``elapsed`` (seconds) and ``reason``: ``"deadline_exceeded"``,
    ``"attempts_exhausted"``, ``"budget_exhausted"``, ``"permanent"`` (e.g. a full disk at
    COMMIT), ``"closed"`` or ``"full"`` (a writer shut down or its queue full).
    """

    sqlite_code: Optional[int]
    extended_code: Optional[int]
    attempts: int
    elapsed: float
    reason: str


class Rejected(sqlite3.DatabaseError):
    """A statement of the write failed with a permanent SQLite error (a constraint, bad SQL): the
    write was rolled back and not retried.

    ``original`` is the exception the statement raised inside the function (also the
    ``__cause__``); ``sqlite_code``, ``extended_code``, ``sqlite_errorname`` and ``attempts`` as
    on :class:`NotCommitted`.
    """

    sqlite_code: Optional[int]
    extended_code: Optional[int]
    attempts: int
    original: Optional[BaseException]


class UsedAfterFork(RuntimeError):
    """A Store, Writer or StateStore opened in a parent process was used in a child after
    ``fork()``: open a new one in the child."""


# Primary result code -> the sqlite3 class CPython's module raises for it.
_CLASSES: Dict[int, Type[sqlite3.DatabaseError]] = {
    1: sqlite3.OperationalError,  # SQLITE_ERROR (SQL error, missing table)
    2: sqlite3.InternalError,
    3: sqlite3.OperationalError,  # PERM
    4: sqlite3.OperationalError,  # ABORT
    5: sqlite3.OperationalError,  # BUSY
    6: sqlite3.OperationalError,  # LOCKED
    8: sqlite3.OperationalError,  # READONLY
    9: sqlite3.OperationalError,  # INTERRUPT
    10: sqlite3.OperationalError,  # IOERR
    11: sqlite3.DatabaseError,  # CORRUPT
    12: sqlite3.OperationalError,  # NOTFOUND
    13: sqlite3.OperationalError,  # FULL
    14: sqlite3.OperationalError,  # CANTOPEN
    15: sqlite3.OperationalError,  # PROTOCOL
    16: sqlite3.OperationalError,  # EMPTY
    17: sqlite3.OperationalError,  # SCHEMA
    18: sqlite3.DataError,  # TOOBIG
    19: sqlite3.IntegrityError,  # CONSTRAINT
    20: sqlite3.IntegrityError,  # MISMATCH
    21: sqlite3.InterfaceError,  # MISUSE
    25: sqlite3.InterfaceError,  # RANGE
    26: sqlite3.DatabaseError,  # NOTADB
}

_REJECTED: Dict[type, type] = {}


def _class_for(code: Optional[int]) -> Type[sqlite3.DatabaseError]:
    if code is None:
        return sqlite3.ProgrammingError
    return _CLASSES.get(code, sqlite3.DatabaseError)


def _tag(exc: BaseException, code, extended, name) -> None:
    exc.sqlite_code = code
    exc.extended_code = extended
    exc.sqlite_errorcode = extended
    exc.sqlite_errorname = name


def _sqlite_error(message, code, extended, name):
    exc = _class_for(code)(message)
    _tag(exc, code, extended, name)
    return exc


def _programming_error(message):
    return sqlite3.ProgrammingError(message)


def _used_after_fork(message):
    return UsedAfterFork(message)


def _rejected(message, code, extended, name, attempts, original):
    base = _class_for(code)
    cls = _REJECTED.get(base)
    if cls is None:
        cls = Rejected if base is sqlite3.DatabaseError else type("Rejected", (Rejected, base), {
            "__module__": "sqlretry",
            "__doc__": Rejected.__doc__,
        })
        _REJECTED[base] = cls
    exc = cls(message)
    _tag(exc, code, extended, name)
    exc.attempts = attempts
    exc.original = original
    exc.__cause__ = original
    return exc


def _not_committed(message, code, extended, name, attempts, elapsed, reason):
    exc = NotCommitted(message)
    _tag(exc, code, extended, name)
    exc.attempts = attempts
    exc.elapsed = elapsed
    exc.reason = reason
    return exc
