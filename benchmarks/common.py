"""Shared benchmark plumbing: sizes from env vars, the synthetic suite, machine, timing, RSS.

Every benchmark is sized by environment variables so that ``make bench`` runs the full
figures and ``CKPTSCOPE_BENCH_QUICK=1`` a smoke run of seconds:

* ``CKPTSCOPE_BENCH_QUICK=1``: 2 checkpoints of tiny shapes, 1 repeat (smoke tests);
* ``CKPTSCOPE_BENCH_SHAPES``: ``160m`` (Pythia-160m's shapes, default) or ``tiny``;
* ``CKPTSCOPE_BENCH_CHECKPOINTS``: checkpoints in the suite (default 5);
* ``CKPTSCOPE_BENCH_REPEATS``: repeats of the fast measurements (median; default 3);
* ``CKPTSCOPE_BENCH_DIR``: where generated suites are cached (default
  ``$XDG_CACHE_HOME/ckptscope/bench``, reused when present).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
#: where ``benchmarks.run`` asks a child to leave its result as JSON
RESULT_ENV = "CKPTSCOPE_BENCH_RESULT"


def env_flag(name: str) -> bool:
    """True when the env var is set to something other than '', '0', 'false', 'no'."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def quick() -> bool:
    """Smoke mode: tiny sizes, one repeat."""
    return env_flag("CKPTSCOPE_BENCH_QUICK")


def env_int(name: str, default: int, quick_default: int | None = None) -> int:
    """An integer knob: the env var, else the quick or full default."""
    raw = os.environ.get(name)
    if raw:
        return int(raw)
    return quick_default if quick() and quick_default is not None else default


def repeats() -> int:
    """How many times the fast measurements are repeated (their median is reported)."""
    return env_int("CKPTSCOPE_BENCH_REPEATS", 3, quick_default=1)


def cache_dir() -> Path:
    """Folder for generated suites; survives between runs so they are generated once."""
    raw = os.environ.get("CKPTSCOPE_BENCH_DIR")
    if raw:
        return Path(raw).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ckptscope" / "bench"


# -- the synthetic suite ---------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteSpec:
    """A GPT-NeoX model's shapes and how many fp16 checkpoints of it to generate."""

    name: str
    checkpoints: int
    layers: int
    d_model: int
    heads: int
    vocab: int
    d_mlp: int
    step_every: int = 1000

    def hf_config(self) -> dict[str, Any]:
        """A ``config.json`` that ``GPTNeoXForCausalLM.from_pretrained`` accepts."""
        config = neox_config(self.vocab, self.d_model, self.layers, self.heads, self.d_mlp)
        out = config.to_dict()
        out["architectures"] = ["GPTNeoXForCausalLM"]
        out["torch_dtype"] = out["dtype"] = "float16"
        return out


def neox_config(
    vocab: int, d_model: int, layers: int, heads: int, d_mlp: int, max_positions: int = 2048
) -> Any:
    """A ``GPTNeoXConfig`` with Pythia's settings (parallel residual, 25% rotary, untied)."""
    from transformers import GPTNeoXConfig

    return GPTNeoXConfig(
        vocab_size=vocab,
        hidden_size=d_model,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=d_mlp,
        max_position_embeddings=max_positions,
        rotary_pct=0.25,
        rotary_emb_base=10000,
        use_parallel_residual=True,
        tie_word_embeddings=False,
        bos_token_id=0,
        eos_token_id=0,
        architectures=["GPTNeoXForCausalLM"],
    )


def pythia_160m(checkpoints: int) -> SuiteSpec:
    """Pythia-160m's shapes: ~162M parameters, ~324 MB per fp16 checkpoint."""
    return SuiteSpec("pythia-160m-bench", checkpoints, 12, 768, 12, 50304, 3072)


def tiny(checkpoints: int) -> SuiteSpec:
    """A few-MB model with the same layout, for smoke runs."""
    return SuiteSpec("tiny-bench", checkpoints, 2, 64, 4, 1024, 256)


def spec_from_env() -> SuiteSpec:
    """The suite the weight benchmarks use, from the env vars above."""
    n = env_int("CKPTSCOPE_BENCH_CHECKPOINTS", 5, quick_default=2)
    shapes = os.environ.get("CKPTSCOPE_BENCH_SHAPES") or ("tiny" if quick() else "160m")
    if shapes not in ("160m", "tiny"):
        raise ValueError(f"CKPTSCOPE_BENCH_SHAPES={shapes!r}: expected 160m or tiny")
    return pythia_160m(n) if shapes == "160m" else tiny(n)


def _param_shapes(spec: SuiteSpec) -> list[tuple[str, tuple[int, ...]]]:
    """Parameter names and shapes, from the real HF class built on the meta device."""
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    config = GPTNeoXConfig(**{k: v for k, v in spec.hf_config().items() if k != "architectures"})
    with torch.device("meta"):
        net = GPTNeoXForCausalLM(config)
    # Pythia's files (and ckptscope's adapter) name the unembedding ``embed_out``;
    # transformers 5 renames it to ``lm_head`` on load.
    rename = {"lm_head.weight": "embed_out.weight"}
    return [(rename.get(n, n), tuple(p.shape)) for n, p in net.named_parameters()]


def make_suite(spec: SuiteSpec, root: Path | None = None) -> Path:
    """Generate (or reuse) ``<root>/<spec.name>/step<N>/{config.json,model.safetensors}``.

    Deterministic: step 0 is a Pythia-like init (normal std 0.02 matrices, LayerNorm
    weights 1, biases 0); each later step adds ``1e-3 * N(0, 1)`` drift to every tensor.
    """
    import torch
    from safetensors.torch import save_file

    root = (root or cache_dir()) / f"{spec.name}-{spec.checkpoints}"
    stamp = root / "spec.json"
    wanted = json.dumps(asdict(spec), sort_keys=True)
    if stamp.is_file() and stamp.read_text() == wanted:
        return root
    if root.exists():
        shutil.rmtree(root)
    model_dir = root / spec.name
    shapes = _param_shapes(spec)
    config = json.dumps(spec.hf_config(), indent=2)
    gen = torch.Generator().manual_seed(0)
    state: dict[str, torch.Tensor] = {}
    for name, shape in shapes:
        if name.endswith("bias"):
            t = torch.zeros(shape)
        elif len(shape) == 1:
            t = torch.ones(shape)
        else:
            t = torch.randn(shape, generator=gen) * 0.02
        state[name] = t
    for k in range(spec.checkpoints):
        if k:
            for t in state.values():
                t.add_(torch.randn(t.shape, generator=gen), alpha=1e-3)
        folder = model_dir / f"step{k * spec.step_every}"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(config)
        half = {n: t.to(torch.float16) for n, t in state.items()}
        save_file(half, str(folder / "model.safetensors"), metadata={"format": "pt"})
    stamp.write_text(wanted)
    return root


def checkpoint_files(root: Path) -> list[Path]:
    """Every ``model.safetensors`` of a generated suite, in step order per model."""
    return sorted(
        root.glob("*/step*/model.safetensors"),
        key=lambda p: (p.parent.parent.name, int(p.parent.name[4:])),
    )


def evict(paths: Sequence[Path]) -> None:
    """Drop files from the page cache (``POSIX_FADV_DONTNEED``): the next read is cold."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def warm(paths: Sequence[Path]) -> None:
    """Read files once so that they sit in the page cache."""
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass


# -- measurement ------------------------------------------------------------------------------


def timed(
    fn: Callable[[], Any], n: int | None = None, before: Callable[[], Any] | None = None
) -> float:
    """Median wall seconds of ``n`` calls of ``fn`` (``before`` runs untimed before each)."""
    times = []
    for _ in range(n or repeats()):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_measured(cmd: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run a child process; its wall seconds, peak RSS in bytes and output.

    The peak is the child's ``ru_maxrss`` from ``wait4`` (the largest of it and the
    descendants it waited for), unless that is no more than this process's own peak: Linux
    keeps the parent's peak in a child's ``ru_maxrss`` across ``exec``, so a child smaller
    than this process would read as this process's size. Its own peak then is the largest
    ``VmHWM`` (reset at ``exec``) of it and its descendants, sampled from its start, every
    10 ms for a second and every 50 ms after (a child gone before the first sample keeps
    the ``wait4`` figure, an upper bound).
    """
    inherited = self_peak_rss()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd),
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    sampled = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal sampled
        while True:
            sampled = max([sampled, *(vm_hwm(pid) for pid in _tree(proc.pid))])
            # often while a short child may end, then seldom: a few reads of /proc each time
            if stop.wait(0.01 if time.perf_counter() - t0 < 1 else 0.05):
                return

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        out = proc.stdout.read() if proc.stdout else b""
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        stop.set()
        thread.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{text[-3000:]}")
    peak = usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux
    return wall, (peak if peak > inherited or not sampled else sampled), text


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from ``/proc/PID/task/TID/children`` (no scan of /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.scandir(f"/proc/{p}/task"):
                with open(f"{task.path}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):  # gone meanwhile, or no children files here
            pass
    return out


def vm_hwm(pid: int) -> int:
    """Peak RSS in bytes of process ``pid`` since its ``exec`` (``VmHWM``; 0 if gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def self_peak_rss() -> int:
    """This process's peak RSS in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, torch and Python versions: what every result is tied to."""
    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    gpu = "none"
    if torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": ram,
        "gpu": gpu,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def gb(n: float) -> str:
    """Bytes as GB (10^9) with two decimals."""
    return f"{n / 1e9:.2f} GB"


# -- results ----------------------------------------------------------------------------------


@dataclass
class Ratio:
    """A ratio measured side by side in one run, with its target (None: informative)."""

    label: str
    value: float
    target: str | None = None
    met: bool | None = None


@dataclass
class BenchResult:
    """What a benchmark's ``main()`` returns: a table of figures and the ratios."""

    name: str
    setup: str
    rows: list[tuple[str, str]] = field(default_factory=list)  # (measurement, value)
    ratios: list[Ratio] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        """The section this result adds to RESULTS.md."""
        out = [f"### {self.name}", "", self.setup, ""]
        if self.rows:
            out += ["| measurement | value |", "|---|---|"]
            out += [f"| {k} | {v} |" for k, v in self.rows]
            out.append("")
        if self.ratios:
            out += ["| ratio | value | target | met |", "|---|---|---|---|"]
            for r in self.ratios:
                met = "" if r.met is None else ("yes" if r.met else "**no**")
                out.append(f"| {r.label} | {r.value:.2f} | {r.target or ''} | {met} |")
            out.append("")
        out += [f"- {n}" for n in self.notes]
        return "\n".join(out).rstrip() + "\n"

    def emit(self) -> BenchResult:
        """Print the result; hand it to ``benchmarks.run`` when it asked for it."""
        print(self.markdown())
        path = os.environ.get(RESULT_ENV)
        if path:
            Path(path).write_text(json.dumps({"kind": "BenchResult", **asdict(self)}))
        return self


def python() -> str:
    """The interpreter benchmarks start children with (the venv's)."""
    return sys.executable
