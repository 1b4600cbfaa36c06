"""The ``ckptscope`` command: one typer sub-app per command group, each in its own module.

Commands only parse options and call library functions; a :class:`CkptscopeError` becomes
one line on stderr and exit code 1.
"""

from __future__ import annotations

import gc
import importlib
import logging
import pkgutil
import sys

import typer

from ckptscope import __version__
from ckptscope.errors import CkptscopeError

app = typer.Typer(
    name="ckptscope",
    help="How a language model's internals evolve over training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ckptscope {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


# Every other module of this package defines ``register(app)`` adding its command group.
for _mod in pkgutil.iter_modules(importlib.import_module("ckptscope.cli").__path__):
    if not _mod.name.startswith("_") and _mod.name != "app":
        importlib.import_module(f"ckptscope.cli.{_mod.name}").register(app)


def main() -> None:
    """Console-script entry point."""
    try:
        app(standalone_mode=True)
    except CkptscopeError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(1)
    finally:
        # The command is done: the interpreter's last collections would only walk every
        # object torch and numba created (0.4 s of a weight sweep's exit). Exit handlers
        # and reference-count finalisers still run; only cyclic garbage is left to the OS.
        gc.freeze()
