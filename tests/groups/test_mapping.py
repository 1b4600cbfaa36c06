"""A user's groups file, read as hostile input: every mistake is one line naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ckptscope.errors import UsageError
from ckptscope.groups import group_table, load_mapping, model_groups
from groups.planted import seed_curve, write


@pytest.fixture
def store(tmp_path: Path):
    curves = {("runs", name): seed_curve(0.0) for name in ("lr-a", "lr-b", "base")}
    return write(tmp_path / "store", curves, steps=(0, 10))


def test_toml_and_json_files_group_models(tmp_path: Path, store) -> None:
    toml = tmp_path / "groups.toml"
    toml.write_text('[models."runs/lr-a"]\nsize = "w64"\nvariant = "lr"\nseed = 0\n'
                    '[models."lr-b"]\nsize = "w64"\nvariant = "lr"\nseed = 1\n')  # fmt: skip
    table = group_table(store, toml).set_index("model")
    assert table.loc["lr-a", "group"] == table.loc["lr-b", "group"] == "runs/w64-lr"
    assert table.loc["lr-b", "seed"] == 1 and table.loc["lr-a", "n_seeds"] == 2
    assert table.loc["base", "group"] == "runs/base"  # not in the file: its name's group
    js = tmp_path / "groups.json"
    js.write_text(json.dumps({"models": {"lr-a": {"seed": 4}}}))
    assert {g.model: g.seed for g in model_groups(store, js)}["lr-a"] == 4


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("g.yaml", "models: {}", "give a .toml or .json file"),
        ("g.toml", "[models\n", "not valid TOML"),
        (
            "g.json",
            '{"models": {"lr-a": {"seed": 1}, "lr-a": {"seed": 2}}}',
            "duplicate key 'lr-a'",
        ),
        ("g.json", '{"models": {}, "extra": 1}', "needs exactly one table, models"),
        ("g.json", '{"models": {"lr-a": {"colour": "red"}}}', "unknown key 'colour'"),
        ("g.json", '{"models": {"lr-a": {"seed": true}}}', "seed must be an integer"),
        ("g.json", '{"models": {"lr-a": {"seed": -1}}}', "seed must be an integer"),
        ("g.json", '{"models": {"lr-a": {"size": ""}}}', "size must be a non-empty string"),
        ("g.json", '{"models": {"lr-a": {"size": "a\\u0000b"}}}', "size must be printable"),
        ("g.json", '{"models": {"lr-a": 3}}', "must be a table"),
        ("g.json", '{"models": {"nope": {"seed": 1}}}', "names no model in the store"),
        ("g.json", b"\xff\xfe", "not valid JSON"),
    ],
)
def test_bad_files_are_refused_in_one_line(tmp_path: Path, store, name: str, text, message: str) -> None:  # fmt: skip
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(UsageError, match=message) as err:
        model_groups(store, path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_file_and_colliding_seeds(tmp_path: Path, store) -> None:
    with pytest.raises(UsageError, match="cannot read it"):
        load_mapping(tmp_path / "absent.toml")
    clash = tmp_path / "clash.json"
    clash.write_text(json.dumps({"models": {"lr-a": {"size": "x"}, "lr-b": {"size": "x"}}}))
    with pytest.raises(UsageError, match="both size 'x', variant 'standard', seed 0"):
        model_groups(store, clash)
