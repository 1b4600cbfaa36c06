"""Checkpoints on the Hugging Face Hub, one revision per training step.

Only the files one checkpoint needs (``config.json``, a shard index, weights; safetensors
preferred, ``.bin`` as fallback) are downloaded, into the standard Hugging Face cache.
Offline mode (``HF_HUB_OFFLINE=1`` or ``offline=True``) reads the cache only and names the
repo and revision that are missing. Revisions are listed with ``HfApi.list_repo_refs`` when
online; offline, Pythia's schedule comes from the registry and other repos' from the
revisions present in the cache.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ckptscope.errors import CheckpointError, UsageError
from ckptscope.sources.base import Checkpoint, Suite
from ckptscope.sources.folder_checkpoint import FolderCheckpoint
from ckptscope.sources.hub_fetcher import HubFetcher
from ckptscope.sources.hubcache import (
    TOKENIZER_FILES,
    HubLocation,
    fetch_checkpoint_files,
    hub_cache_dir,
    hub_endpoint,
    hub_offline,
    hub_unreachable,
    model_name,
    repo_cache_folder,
)
from ckptscope.sources.pythia import pythia_steps, step_revision
from ckptscope.sources.steps import parse_step

log = logging.getLogger(__name__)


class HubCheckpoint(FolderCheckpoint):
    """A checkpoint in the Hub cache; fetches tokenizer files only when asked for them."""

    def __init__(
        self,
        model: str,
        step: int,
        folder: Path,
        weights: Path,
        *,
        loc: HubLocation,
        repo: str,
        revision: str,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(model, step, folder, weights=weights)
        self.repo, self.revision, self._loc = repo, revision, loc
        self._on_close = on_close

    def tokenizer_dir(self) -> Path | None:
        if not (self.folder / "tokenizer.json").is_file():
            for name in TOKENIZER_FILES:
                self._loc.try_download(self.repo, self.revision, name)
        return super().tokenizer_dir()

    def close(self) -> None:
        super().close()
        if self._on_close is not None:  # streaming: the checkpoint may now be evicted
            on_close, self._on_close = self._on_close, None
            on_close()


class HubSuite(Suite):
    """Models from Hub repos, one revision per training step (e.g. Pythia's ``stepN``).

    ``max_disk`` (bytes or ``"20GB"``) turns on bounded streaming: see
    :mod:`ckptscope.sources.streaming` and :meth:`prefetch` / :meth:`release`.
    """

    def __init__(
        self,
        repos: list[str],
        *,
        name: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        offline: bool | None = None,
        token: str | None = None,
        revisions: dict[str, dict[int, str]] | None = None,
        max_disk: int | str | None = None,
    ) -> None:
        if not repos:
            raise UsageError("no Hub repos given")
        self.repos = {model_name(r): r for r in repos}
        self.name = name or ",".join(self.repos)
        self.loc = HubLocation(str(hub_cache_dir(cache_dir)), hub_offline(offline), token)
        self._revisions: dict[str, dict[int, str]] = dict(revisions or {})
        self._cache_only = False
        self._unreachable: str | None = None  # why the Hub could not be reached, once probed
        self._streamer: Any = None
        self.max_disk = None
        if max_disk is not None:
            from ckptscope.sources.streaming import Streamer, parse_bytes

            self.max_disk = parse_bytes(max_disk)
            self._streamer = Streamer(HubFetcher(self), self.max_disk)

    # -- revisions ------------------------------------------------------------------
    def _repo(self, model: str) -> str:
        try:
            return self.repos[model]
        except KeyError:
            raise UsageError(
                f"no model {model!r} in suite {self.name!r}; models: {', '.join(self.repos)}"
            ) from None

    def revisions(self, model: str) -> dict[int, str]:
        """Step -> revision name for one model (listed once, then remembered)."""
        repo = self._repo(model)
        if model not in self._revisions:
            self._revisions[model] = self._list_revisions(repo)
        return self._revisions[model]

    def _hub_down(self) -> str | None:
        """Why the Hub is unreachable (probed once per suite; no retries), or None."""
        if self._unreachable is None:
            self._unreachable = hub_unreachable() or ""
        return self._unreachable or None

    def _list_revisions(self, repo: str) -> dict[int, str]:
        if not self.loc.offline and not self._cache_only and self._hub_down() is None:
            from huggingface_hub import HfApi

            try:
                refs = HfApi(token=self.loc.token).list_repo_refs(repo)
                found = {}
                for branch in refs.branches:
                    step = parse_step(branch.name)
                    if step is not None:
                        found[step] = branch.name
                if found:
                    return found
                raise CheckpointError(f"{repo}: no revisions named like step1000 or stepN-tokensM")
            except CheckpointError:
                raise
            except Exception as err:
                log.warning("cannot list revisions of %s (%s); using the cache", repo, err)
        known = pythia_steps(repo)
        if known is not None:
            return {s: f"step{s}" for s in known}
        refs_dir = repo_cache_folder(repo, Path(self.loc.cache_dir)) / "refs"
        found = {}
        for ref in sorted(refs_dir.iterdir()) if refs_dir.is_dir() else []:
            step = parse_step(ref.name)
            if step is not None:
                found[step] = ref.name
        if not found:
            raise CheckpointError(
                f"{repo}: no step revisions in the Hugging Face cache {self.loc.cache_dir}, "
                "and the Hub was not asked (offline mode, or unreachable); run once online"
            )
        return found

    def revision(self, model: str, step: int) -> str:
        """The revision holding ``step`` of ``model``."""
        revs = self._revisions.get(model)
        if revs is None:
            known = step_revision(self._repo(model), step)
            if known is not None and step in (pythia_steps(self._repo(model)) or []):
                return known
            revs = self.revisions(model)
        if step not in revs:
            raise CheckpointError(f"{self._repo(model)}: no revision for step {step}")
        return revs[step]

    def _cached(self, model: str, step: int) -> bool:
        try:
            fetch_checkpoint_files(
                self.loc, self._repo(model), self.revision(model, step), local_only=True
            )
        except (CheckpointError, FileNotFoundError):
            return False
        return True

    def preflight(self, steps_by_model: dict[str, list[int]]) -> None:
        """Online with no network: refuse when a checkpoint is not cached, else read the cache.

        Offline (``HF_HUB_OFFLINE=1``) nothing is refused here: a checkpoint missing from
        the cache fails its own task, naming repo and revision.
        """
        if self.loc.offline or self._cache_only:
            return
        why = self._hub_down()
        if why is None:
            return  # online: whatever the cache lacks is downloaded
        wanted = [(m, s) for m, steps in steps_by_model.items() for s in steps]
        missing = [(m, s) for m, s in wanted if not self._cached(m, s)]
        if missing:
            model, step = missing[0]
            raise UsageError(
                f"the Hugging Face Hub ({hub_endpoint()}) is unreachable ({why}) and the cache "
                f"{self.loc.cache_dir} lacks {len(missing)} of the {len(wanted)} checkpoints to "
                f"sweep (first: {self._repo(model)} {self.revision(model, step)}); connect, or "
                "set HF_HUB_OFFLINE=1 to sweep what the cache holds"
            )
        log.warning("the Hugging Face Hub is unreachable (%s): reading the cache only", why)
        self._cache_only = True
        self.loc = dataclasses.replace(self.loc, offline=True)  # tokenizer files too

    # -- Suite ------------------------------------------------------------------------
    def models(self) -> list[str]:
        return list(self.repos)

    def steps(self, model: str) -> list[int]:
        return sorted(self.revisions(model))

    def open(self, model: str, step: int) -> Checkpoint:
        repo, revision = self._repo(model), self.revision(model, step)
        streamer = self._streamer
        if streamer is None:
            folder, weights = fetch_checkpoint_files(
                self.loc, repo, revision, local_only=self._cache_only
            )
            return HubCheckpoint(
                model, step, folder, weights, loc=self.loc, repo=repo, revision=revision
            )
        streamer.acquire(model, step)  # held until the checkpoint is closed
        try:
            folder, weights = fetch_checkpoint_files(self.loc, repo, revision, local_only=True)
        except BaseException:
            streamer.done_with(model, step)
            raise
        return HubCheckpoint(
            model, step, folder, weights, loc=self.loc, repo=repo, revision=revision,
            on_close=functools.partial(streamer.done_with, model, step),
        )  # fmt: skip

    # -- streaming hooks (no-ops without max_disk) --------------------------------------
    def prefetch(self, model: str, step: int) -> None:
        """Start fetching a checkpoint in the background (streaming mode), else nothing."""
        if self._streamer is not None:
            self._streamer.prefetch(model, step)

    def release(self, model: str, step: int) -> None:
        """Say a checkpoint is no longer needed; streaming mode deletes its files."""
        if self._streamer is not None:
            self._streamer.release(model, step)

    def close(self) -> None:
        """Stop the background fetcher (streaming mode)."""
        if self._streamer is not None:
            self._streamer.close()

    def describe(self) -> dict[str, Any]:
        return {
            "suite": self.name,
            "source": "hub",
            "repos": dict(self.repos),
            "cache_dir": self.loc.cache_dir,
            "max_disk": self.max_disk,
        }

    def __getstate__(self) -> dict[str, Any]:
        # Worker copies read only what the parent's streamer has fetched: no threads, no
        # downloads of their own that would escape the disk budget.
        state = dict(self.__dict__)
        if state.get("_streamer") is not None:
            state["_streamer"] = None
            state["_cache_only"] = True
        return state
