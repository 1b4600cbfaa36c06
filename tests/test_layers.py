"""The import structure: layers point one way and no two modules import each other."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "ckptscope").rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """ckptscope modules ``path`` imports at run time (TYPE_CHECKING blocks left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names = []
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ckptscope"):
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("ckptscope")]
        for name in names:
            while name not in modules and "." in name:
                name = name.rsplit(".", 1)[0]
            if name in modules:
                found.add(name)
                break
    return found


GRAPH = {m: _imports(p, _modules()) - {m} for m, p in _modules().items()}


def _reaches(src: str, prefix: str) -> list[str]:
    return sorted(t for t in GRAPH[src] if t == prefix or t.startswith(prefix + "."))


def test_no_two_modules_import_each_other() -> None:
    pairs = {
        tuple(sorted((a, b)))
        for a, targets in GRAPH.items()
        for b in targets
        if a in GRAPH.get(b, set()) and not (a.startswith(b + ".") or b.startswith(a + "."))
    }
    assert not pairs, pairs


def test_layers_point_one_way() -> None:
    for module in GRAPH:
        if module.startswith("ckptscope.store"):
            assert not _reaches(module, "ckptscope.analyses"), module
        if module == "ckptscope.records":
            assert not _reaches(module, "ckptscope.store") and not _reaches(
                module, "ckptscope.analyses"
            )
        if module.startswith("ckptscope.plots"):
            assert not _reaches(module, "ckptscope.report"), module
            assert not _reaches(module, "ckptscope.figures"), module
        if module.startswith(("ckptscope.analyses", "ckptscope.stats", "ckptscope.linalg")):
            assert not _reaches(module, "ckptscope.cli"), module
