"""``ckptscope store check|compact|migrate``: verify, compact and migrate a results store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ckptscope.cli._common import user_errors

store_app = typer.Typer(
    help="Verify, repair, compact and migrate a results store.", no_args_is_help=True
)

#: exit code of ``store check`` when damaged files were found (0: clean, 1: bad usage)
EXIT_DAMAGED = 3


@store_app.command("check")
@user_errors
def check(
    store: Annotated[str, typer.Argument(help="Store folder (a local path).")],
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Move damaged task folders to STORE/quarantine (the next sweep recomputes "
            "them) and remove every staging leftover in STORE/.tmp; run while no sweep writes.",
        ),
    ] = False,
) -> None:
    """Verify every Parquet file of STORE against the sizes and sha256 recorded at commit.

    Exit codes: 0 every file is whole; 3 damaged files were found (one line each, on
    stderr; with --repair they were quarantined); 1 bad usage.
    """
    from ckptscope.store import Store
    from ckptscope.store.check import check_store
    from ckptscope.store.layout import is_url

    if is_url(store):
        raise ValueError(f"store check works on local folders only, not {store}")
    root = Path(Store(store, create=False).location)
    report = check_store(root, repair=repair)
    for path, reason in sorted(report.damaged.items()):
        typer.echo(f"damaged {path}: {reason}", err=True)
    summary = f"store {root}: {report.checked} folders/files checked, {len(report.damaged)} damaged"
    if repair:
        summary += (
            f"; {len(report.quarantined)} moved to {root / 'quarantine'}, "
            f"{len(report.tmp_removed)} staging leftovers removed"
        )
    typer.echo(summary)
    raise typer.Exit(code=EXIT_DAMAGED if report.damaged else 0)


@store_app.command("compact")
@user_errors
def compact(
    store: Annotated[str, typer.Argument(help="Store folder or fsspec URL.")],
    suite: Annotated[
        str | None, typer.Option("--suite", help="Compact this suite only (default: all).")
    ] = None,
    rewrite: Annotated[
        bool,
        typer.Option(
            "--rewrite",
            help="Write each suite's compacted files anew even with no new task: a store "
            "compacted by an older ckptscope gets a file per kind of arrays and a row group "
            "per step, which its figures read faster.",
        ),
    ] = False,
) -> None:
    """Merge each suite's per-task files into a few Parquet files (store/compact.py).

    Safe at any moment: a crash leaves the old files or the new ones visible, never both.
    Refused (exit 1, one line) while a sweep writes into STORE.
    """
    from ckptscope.store import Store, store_location

    opened = Store(store_location(store), create=False)
    merged = opened.compact(suite, rewrite=rewrite)
    for name, n in sorted(merged.items()):
        typer.echo(f"suite {name}: {n} task folders merged")
    typer.echo(f"store {opened.location}: compacted {len(merged)} suite(s)")


@store_app.command("migrate")
@user_errors
def migrate(
    store: Annotated[str, typer.Argument(help="Store folder or fsspec URL.")],
) -> None:
    """Rewrite a store written by ckptscope 0.1 (schema 1) to this one's (store/migrate.py).

    Run while no sweep writes; a migration that stops midway is finished by running it again.
    """
    from ckptscope.store.migrate import migrate_store

    n = migrate_store(store)
    from ckptscope.store.layout import SCHEMA_VERSION

    typer.echo(f"store {store}: migrated to schema {SCHEMA_VERSION} ({n} folders rewritten)")


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")
