"""Store-level errors: a write the filesystem refuses becomes one line naming the store."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager

from ckptscope.errors import CkptscopeError

#: errno values that mean "this store cannot be written now": full, read-only, forbidden
WRITE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}
)


class StoreError(CkptscopeError):
    """The store cannot be written (disk full, read-only, no permission) or is damaged."""


@contextmanager
def write_errors(location: str, what: str) -> Iterator[None]:
    """Turn a full-disk or read-only ``OSError`` raised inside into a :class:`StoreError`.

    The message is one line: ``store <location>: <errno text> (<what>)``.
    """
    try:
        yield
    except OSError as err:
        if err.errno not in WRITE_ERRNOS:
            raise
        raise StoreError(f"store {location}: {os.strerror(err.errno)} ({what})") from None


class StoreSchemaError(StoreError):
    """The store's schema is not the one this ckptscope reads (``layout.SCHEMA_VERSION``)."""


class StoreBusy(StoreError):
    """Another process holds the store's lock (a sweep, or a compaction or migration)."""
