"""What bounded streaming needs from the Hub: a revision's file sizes, and fetching them.

A :class:`HubFetcher` serves a :class:`~ckptscope.sources.streaming.Streamer`; it reads the
suite through the small :class:`HubRepos` protocol (repos, cache location, revisions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ckptscope.errors import CheckpointError
from ckptscope.sources.formats import WEIGHT_CANDIDATES, shard_files
from ckptscope.sources.hubcache import HubLocation, fetch_checkpoint_files


class HubRepos(Protocol):
    """The part of a Hub suite a fetcher reads."""

    repos: dict[str, str]
    loc: HubLocation

    def revision(self, model: str, step: int) -> str: ...


class HubFetcher:
    """Fetches one revision's files into the Hugging Face cache for a :class:`Streamer`."""

    def __init__(self, suite: HubRepos) -> None:
        self.suite = suite
        self._plans: dict[tuple[str, int], list[tuple[str, int]]] = {}

    def _plan(self, model: str, step: int) -> list[tuple[str, int]]:
        key = (model, step)
        if key not in self._plans:
            self._plans[key] = self._list(model, step)
        return self._plans[key]

    def _list(self, model: str, step: int) -> list[tuple[str, int]]:
        suite = self.suite
        repo, revision = suite.repos[model], suite.revision(model, step)
        if suite.loc.offline:
            folder, weights = fetch_checkpoint_files(suite.loc, repo, revision)
            ckpt_files = [folder / "config.json", weights]
            if weights.name.endswith(".index.json"):
                ckpt_files += sorted(set(shard_files(weights).values()))
            return [(str(p.relative_to(folder)), p.stat().st_size) for p in ckpt_files]
        from huggingface_hub import HfApi

        tree = {
            f.path: int(f.size)
            for f in HfApi(token=suite.loc.token).list_repo_tree(repo, revision=revision)
            if hasattr(f, "size")
        }
        weights = next((c for c in WEIGHT_CANDIDATES if c in tree), None)
        if weights is None or "config.json" not in tree:
            raise CheckpointError(f"{repo} revision {revision!r}: no config.json or weights")
        files = ["config.json", weights]
        if weights.endswith(".index.json"):
            stem = weights.removesuffix(".index.json").rsplit(".", 1)
            files += [p for p in tree if p.startswith(stem[0] + "-") and p.endswith("." + stem[1])]
        return [(f, tree[f]) for f in files]

    def size(self, model: str, step: int) -> int:
        return sum(size for _, size in self._plan(model, step))

    def fetch(self, model: str, step: int) -> list[Path]:
        from huggingface_hub import try_to_load_from_cache

        suite = self.suite
        repo, revision = suite.repos[model], suite.revision(model, step)
        created = []
        for filename, _ in self._plan(model, step):
            cached = try_to_load_from_cache(
                repo, filename, cache_dir=suite.loc.cache_dir, revision=revision
            )
            path = suite.loc.download(repo, revision, filename)
            if not isinstance(cached, str):  # not in the cache before: ours to delete
                created.append(path)
        return created
