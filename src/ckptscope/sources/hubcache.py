"""The Hugging Face cache: where it is, offline mode, and fetching one revision's files.

Only the files one checkpoint needs (``config.json``, a shard index, weights; safetensors
preferred, ``.bin`` as fallback) are downloaded. Offline (``HF_HUB_OFFLINE=1`` or
``offline=True``) only the cache is read, and a missing file names repo and revision.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ckptscope.errors import CheckpointError, first_line
from ckptscope.sources.checks import read_shard_index
from ckptscope.sources.formats import (
    SAFETENSORS_INDEX,
    TORCH_BIN_INDEX,
    WEIGHT_CANDIDATES,
)

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
)
_TRUE = {"1", "true", "yes", "on"}


def hub_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The Hub cache in use, read from the environment now (not at import time)."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def hub_offline(offline: bool | None = None) -> bool:
    """Whether to read the cache only: ``offline`` if given, else HF_HUB_OFFLINE now."""
    if offline is not None:
        return offline
    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return env.strip().lower() in _TRUE


def repo_cache_folder(repo: str, cache_dir: Path) -> Path:
    """``<cache>/models--org--name``."""
    return cache_dir / ("models--" + repo.replace("/", "--"))


def model_name(repo: str) -> str:
    """A model's name in the suite: the repo's name without its owner."""
    return repo.rsplit("/", 1)[-1]


def hub_endpoint() -> str:
    """The Hub endpoint in use (``HF_ENDPOINT``, read now)."""
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT") or constants.ENDPOINT


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the Hub cannot be reached (one TCP connect, no retries), or None if it can.

    Behind a proxy (``HTTPS_PROXY``/``HTTP_PROXY``, as requests reads them) the proxy is
    what gets probed: it is what the downloads will connect to.
    """
    import socket
    import urllib.request
    from urllib.parse import urlsplit

    url = urlsplit(hub_endpoint())
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(url.hostname or ""):
        url = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    host = url.hostname or ""
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as err:
        return (err.strerror or str(err) or type(err).__name__).splitlines()[0]


@dataclass(frozen=True)
class HubLocation:
    """Where a suite reads from: cache folder, offline flag and token (picklable)."""

    cache_dir: str
    offline: bool
    token: str | None = None

    def download(
        self, repo: str, revision: str, filename: str, *, local_only: bool = False
    ) -> Path:
        """One file of one revision, from the cache or the Hub; CheckpointError if absent."""
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import (
            EntryNotFoundError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        offline = self.offline or local_only
        try:
            return Path(
                hf_hub_download(
                    repo,
                    filename,
                    revision=revision,
                    cache_dir=self.cache_dir,
                    local_files_only=offline,
                    token=self.token,
                )
            )
        except LocalEntryNotFoundError:
            raise FileNotFoundError(
                f"{repo} revision {revision!r}: {filename} is not in the Hugging Face cache "
                f"{self.cache_dir}" + (" (offline mode: HF_HUB_OFFLINE=1)" if self.offline else "")
            ) from None
        except EntryNotFoundError:
            raise FileNotFoundError(f"{repo} revision {revision!r} has no {filename}") from None
        except RevisionNotFoundError:
            raise CheckpointError(f"{repo} has no revision {revision!r}") from None
        except RepositoryNotFoundError:
            raise CheckpointError(f"no Hub repo {repo!r} (or no access to it)") from None
        except Exception as err:  # network errors: one line naming what was fetched
            first = first_line(err)
            raise CheckpointError(
                f"{repo} revision {revision!r}: cannot fetch {filename} ({first})"
            ) from None

    def try_download(self, repo: str, revision: str, filename: str, **kw: Any) -> Path | None:
        """Like ``download`` but None when the file does not exist (or is not cached)."""
        try:
            return self.download(repo, revision, filename, **kw)
        except FileNotFoundError:
            return None


def fetch_checkpoint_files(
    loc: HubLocation, repo: str, revision: str, *, local_only: bool = False
) -> tuple[Path, Path]:
    """Fetch config and weights of one revision; returns (snapshot folder, weights path)."""
    try:
        config = loc.download(repo, revision, "config.json", local_only=local_only)
    except FileNotFoundError as err:
        raise CheckpointError(str(err)) from None
    for candidate in WEIGHT_CANDIDATES:
        path = loc.try_download(repo, revision, candidate, local_only=local_only)
        if path is None:
            continue
        if candidate in (SAFETENSORS_INDEX, TORCH_BIN_INDEX):
            weight_map = read_shard_index(path)
            for name, shard in weight_map.items():
                if Path(shard).is_absolute() or ".." in Path(shard).parts:
                    raise CheckpointError(
                        f"{path}: tensor {name!r} maps to {shard!r}, outside the checkpoint folder"
                    )
            shards = sorted(set(weight_map.values()))
            for shard in shards:
                try:
                    loc.download(repo, revision, shard, local_only=local_only)
                except FileNotFoundError as err:
                    raise CheckpointError(str(err)) from None
        return config.parent, path
    where = "in the Hugging Face cache" if (loc.offline or local_only) else "in the repo"
    raise CheckpointError(
        f"{repo} revision {revision!r}: no weights {where} "
        f"(looked for {', '.join(WEIGHT_CANDIDATES)})"
    )
