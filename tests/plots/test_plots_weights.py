import pandas as pd
from PIL import Image

from ckptscope.plots.weights import WEIGHT_FIGURES, plot_weight_figure


def _rows(components, metric="norm"):
    rows = []
    for model in ("w128", "w64"):
        for comp in components:
            for block in range(3):
                for step in (0, 1, 2, 4):
                    rows.append(
                        dict(
                            suite="s",
                            model=model,
                            step=step,
                            component=comp,
                            block=block,
                            param="weight",
                            metric=metric,
                            value=1.0 + step * (block + 1),
                        )
                    )
    return pd.DataFrame(rows)


def test_llama_components_fill_the_attention_figure(tmp_path):
    (path,) = plot_weight_figure("F8", _rows(["q", "k", "v", "attn_out"]), tmp_path)
    with Image.open(path) as im:
        width, height = im.size
    (neox,) = plot_weight_figure("F8", _rows(["qkv", "attn_out"]), tmp_path / "neox")
    with Image.open(neox) as im:
        assert im.size[1] < height  # two rows of panels, not four
    assert width > 0


def test_figures_without_their_rows_draw_nothing(tmp_path):
    assert plot_weight_figure("F7", _rows(["qkv"]), tmp_path) == []
    assert plot_weight_figure("F14", _rows(["qkv"]), tmp_path) == []
    assert set(WEIGHT_FIGURES) >= {"F7", "F8", "F9", "F10", "F11", "F12", "F14"}
