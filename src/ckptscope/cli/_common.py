"""Helpers shared by the command modules."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ckptscope.errors import CkptscopeError

F = TypeVar("F", bound=Callable[..., Any])

#: ``--groups-file``: the option of every command that groups a store's models
GroupsFile = Annotated[
    Path | None,
    typer.Option(help="TOML/JSON file giving models' size, variant, seed (docs/comparisons.md)."),
]


def user_errors(fn: F) -> F:
    """Turn a CkptscopeError (or ValueError from bad input) into one line and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (CkptscopeError, ValueError, FileNotFoundError, PermissionError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(code=1) from None

    return wrapper  # type: ignore[return-value]
