"""Raw-name tables shared by the adapters: ``{block}`` templates <-> canonical components."""

from __future__ import annotations

import re

from ckptscope.adapters.base import Component
from ckptscope.errors import CheckpointError


class NameTable:
    """Maps ``<template>.<weight|bias>`` names to components, and back.

    ``entries`` maps a raw module path (``{block}`` for the block index) to a component;
    ``ignore`` lists regexes of non-parameter buffers (rotary ``inv_freq``, causal masks).
    A name matching neither is an error: every parameter must map exactly once.
    """

    def __init__(self, arch: str, entries: dict[str, str], ignore: tuple[str, ...]) -> None:
        self.arch = arch
        self._to_raw = {comp: template for template, comp in entries.items()}
        self._patterns = [
            (
                re.compile(
                    re.escape(t).replace(re.escape("{block}"), r"(\d+)") + r"\.(weight|bias)$"
                ),
                c,
            )
            for t, c in entries.items()
        ]
        self._ignore = [re.compile(p) for p in ignore]

    def canonical(self, raw: str) -> Component | None:
        """The component of a raw name; None for buffers; CheckpointError when unknown."""
        for pattern, comp in self._patterns:
            m = pattern.match(raw)
            if m:
                groups = m.groups()
                block = int(groups[0]) if len(groups) == 2 else None
                return Component(comp, block, groups[-1])
        if any(p.search(raw) for p in self._ignore):
            return None
        raise CheckpointError(f"unrecognised {self.arch} tensor {raw!r}")

    def raw_name(self, comp: Component) -> str:
        """The raw name of a component (inverse of ``canonical``)."""
        template = self._to_raw.get(comp.component)
        if template is None or ("{block}" in template) != (comp.block is not None):
            raise KeyError(f"{self.arch} has no component {comp.label()}")
        return f"{template.format(block=comp.block)}.{comp.param}"

    def components(self) -> list[str]:
        """The component names this table knows."""
        return list(self._to_raw)
