"""Analysis options: one frozen dataclass per analysis, one ``--set NAME=VALUE`` style.

An analysis declares ``Options``, a frozen dataclass whose fields are the option names it
reads (flat: ``--set n_seqs=8 --set spectra_method=gram32``) with their defaults; its
``__post_init__`` checks each value with :func:`require_int` and friends. The sweep parses
every chosen analysis's options once, before any task runs (:func:`parse`), so a value
that is out of range is one line and exit code 1, never a failed task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def names(cls: type) -> frozenset[str]:
    """The option names a dataclass of options declares."""
    return frozenset(f.name for f in fields(cls))


def parse(cls: type[T], extra: Mapping[str, Any]) -> T:
    """The options dataclass ``cls`` from the sweep's options (its own names only)."""
    return cls(**{k: v for k, v in extra.items() if k in names(cls)})


def require_int(name: str, value: Any, minimum: int, *, none: bool = False) -> None:
    """``value`` must be an int >= ``minimum`` (or None when ``none``)."""
    if value is None and none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"option {name}={value!r} must be an integer >= {minimum}")


def require_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"option {name}={value!r} must be true or false")


def require_choice(name: str, value: Any, choices: tuple[str, ...], *, none: bool = True) -> None:
    if value is None and none:
        return
    if value not in choices:
        raise ValueError(f"option {name}={value!r}; choices: {', '.join(choices)}")
