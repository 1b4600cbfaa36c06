"""``ckptscope store check``: verify every file of a store; ``--repair`` quarantines damage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ckptscope.cli._common import user_errors

store_app = typer.Typer(help="Verify and repair a results store.", no_args_is_help=True)

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
    from ckptscope.store.objectstore import is_url

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


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")
