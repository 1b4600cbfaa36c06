"""TensorBoard event files from a store: scalars as scalars, histograms as real histograms.

Given a folder, each (suite, model) gets its run folder ``DIR/<suite>/<model>`` written by
TensorBoard's own event-file writer (the ``tensorboard`` package, no TensorFlow, no
torch); each step is one event holding that step's scalars and histograms, at
``step`` = the training step. Given a writer (``torch.utils.tensorboard.SummaryWriter``,
or any object with ``add_scalar`` and ``add_histogram_raw``), one model's rows go into it.

Scalars are written as TensorBoard's ``simple_value`` (float32, as every TensorBoard
writer does). A histogram keeps the store's bins between its first and last non-empty
one: bucket ``i`` spans ``[edges[i], edges[i+1])``, with ``min``/``max`` the outer edges
(the store keeps counts, not the sample's extremes) and ``sum``/``sum_squares`` taken at
bin centres. Tags: ``rows.py``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ckptscope.errors import UsageError
from ckptscope.export.base import Exporter
from ckptscope.export.rows import HistogramPoint, StepRows, run_parts
from ckptscope.outputs import output_dir

INSTALL_HINT = (
    "tensorboard export needs the tensorboard package: pip install 'ckptscope[tensorboard]'"
)


def require_tensorboard() -> None:
    """Raise ``UsageError`` (one line naming the extra) when ``tensorboard`` is missing."""
    try:
        import tensorboard.compat.proto.summary_pb2
        import tensorboard.summary.writer.event_file_writer  # noqa: F401
    except ImportError:
        raise UsageError(INSTALL_HINT) from None


class TensorBoardExporter(Exporter):
    """Write store rows as TensorBoard events into a folder (a run per model) or a writer."""

    def __init__(
        self, writer_or_dir: str | os.PathLike[str] | Any, metrics: Sequence[str] | None = None
    ) -> None:
        super().__init__(metrics)
        self._writers: dict[tuple[str, str], Any] = {}
        if isinstance(writer_or_dir, str | os.PathLike):
            require_tensorboard()
            self.root: Path | None = output_dir(writer_or_dir, "TensorBoard folder")
            self.writer = None
        else:
            missing = [
                m for m in ("add_scalar", "add_histogram_raw") if not hasattr(writer_or_dir, m)
            ]
            if missing:
                raise UsageError(
                    f"TensorBoardExporter needs a folder or a SummaryWriter; "
                    f"{type(writer_or_dir).__name__} has no {missing[0]}()"
                )
            self.root = None
            self.writer = writer_or_dir

    def write(self, rows: StepRows) -> None:
        """Log one model's scalars and histograms at ``rows.step``."""
        if self.writer is not None:
            self._one_run(rows)
            for s in rows.scalars:
                self.writer.add_scalar(s.tag, s.value, global_step=rows.step)
            for h in rows.histograms:
                self.writer.add_histogram_raw(h.tag, **_histogram_args(h), global_step=rows.step)
            return
        from tensorboard.compat.proto import event_pb2, summary_pb2

        values = [summary_pb2.Summary.Value(tag=s.tag, simple_value=s.value) for s in rows.scalars]
        values += [
            summary_pb2.Summary.Value(tag=h.tag, histo=_histogram_proto(h)) for h in rows.histograms
        ]
        if not values:
            return
        event = event_pb2.Event(
            wall_time=time.time(), step=rows.step, summary=summary_pb2.Summary(value=values)
        )
        writer = self._run_writer(rows.suite, rows.model)
        writer.add_event(event)
        writer.flush()  # a watched run shows each step as soon as it is written

    def _run_writer(self, suite: str, model: str) -> Any:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        key = (suite, model)
        if key not in self._writers:
            assert self.root is not None
            folder = self.root.joinpath(*run_parts(suite, model))
            output_dir(folder, "TensorBoard run folder")
            self._writers[key] = EventFileWriter(str(folder))
        return self._writers[key]

    def end_run(self, suite: str, model: str) -> None:
        """Close the run folder's event file of (suite, model)."""
        writer = self._writers.pop((suite, model), None)
        if writer is not None:
            writer.close()

    def close(self) -> None:
        """Close every event file this exporter opened; flush a given writer."""
        for key in list(self._writers):
            self.end_run(*key)
        if self.writer is not None:
            self.writer.flush()


def _histogram_args(h: HistogramPoint) -> dict[str, Any]:
    """The fields of a TensorBoard ``HistogramProto`` for ``h`` (``add_histogram_raw``'s).

    TensorBoard reads bucket ``i`` as ``[bucket_limit[i-1], bucket_limit[i])``, the first
    from ``min`` and the last up to ``max``: so ``min`` is the lowest edge and the limits
    are the upper edges.
    """
    return {
        "min": float(h.edges[0]),
        "max": float(h.edges[-1]),
        "num": h.num,
        "sum": h.sum,
        "sum_squares": h.sum_squares,
        "bucket_limits": [float(e) for e in h.edges[1:]],
        "bucket_counts": [float(c) for c in h.counts],
    }


def _histogram_proto(h: HistogramPoint) -> Any:
    from tensorboard.compat.proto import summary_pb2

    args = _histogram_args(h)
    return summary_pb2.HistogramProto(
        min=args["min"],
        max=args["max"],
        num=args["num"],
        sum=args["sum"],
        sum_squares=args["sum_squares"],
        bucket_limit=args["bucket_limits"],
        bucket=args["bucket_counts"],
    )
