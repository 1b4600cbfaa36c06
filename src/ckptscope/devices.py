"""Torch devices a user names (``--device``): checked once, before any work starts."""

from __future__ import annotations

import os
import sys

from ckptscope.errors import UsageError

#: device types ckptscope runs on
DEVICE_TYPES = ("cpu", "cuda", "mps")


def check_device(device: str, *, local: bool = True) -> str:
    """``device`` if torch can use it here, else one :class:`UsageError` line saying why.

    ``local=False`` checks the name only: a Ray driver may have no GPU while its workers do.
    ``"cpu"`` needs no check (nor torch: a weights sweep on the CPU never imports it).
    """
    if device == "cpu":
        return device
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UsageError(
            f"--device {device!r} is not a torch device; use {', '.join(DEVICE_TYPES)} or cuda:N"
        ) from None
    if dev.type not in DEVICE_TYPES:
        raise UsageError(f"--device {device!r}: ckptscope runs on {', '.join(DEVICE_TYPES)}")
    if not local:
        return device
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else "no visible GPU"
            raise UsageError(
                f"--device {device!r}: CUDA is not available (torch {torch.__version__}, "
                f"{build}); use --device cpu"
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise UsageError(f"--device {device!r}: this machine has {count} CUDA device(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"--device {device!r}: MPS is not available on this machine")
    return device


def cpu_threads() -> int:
    """Threads a CPU computation of ckptscope's own uses (the fused kernels' spans).

    Torch's setting where torch is loaded (``torch.set_num_threads``, ``OMP_NUM_THREADS``),
    else ``OMP_NUM_THREADS``, else the logical CPUs this process may run on (torch's own
    default counts physical cores: on a machine with SMT a sweep without torch runs twice
    the threads, which the memory-bound kernels share without loss).
    """
    torch = sys.modules.get("torch")
    if torch is not None:
        return int(torch.get_num_threads())
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1
