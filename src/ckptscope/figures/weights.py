"""Weight-statistic figures F7-F12, F14 and update sizes, from the ``weights`` analysis."""

from __future__ import annotations

from ckptscope.figures.kinds import line_spec


def _keys(components: tuple[str, ...] | list[str], metric: str, param: str = "weight"):
    return [(c, param, metric) for c in components]


line_spec(
    "F7",
    "MLP weight norms",
    "weights",
    "The post (Pythia): MLP norms rise, peak, then decline under weight decay; less so "
    "in larger models.",
    "weights",
    _keys(("mlp_in", "mlp_gate", "mlp_out"), "norm"),
    overlay=True,
)
line_spec(
    "F8",
    "Attention weight norms",
    "weights",
    "The post (Pythia): attention norms behave alike with more spread; late blocks' QKV "
    "grows most.",
    "weights",
    _keys(("qkv", "q", "k", "v", "attn_out"), "norm"),
    overlay=True,
)
line_spec(
    "F9",
    "MLP bias norms",
    "weights",
    "The post (Pythia): MLP biases rise and level off well above their zero init.",
    "weights",
    _keys(("mlp_in", "mlp_out"), "norm", "bias"),
    overlay=True,
)
line_spec(
    "F10",
    "LayerNorm weight and bias norms",
    "weights",
    "The post (Pythia): LayerNorm weights rise or fall by depth; biases rise, most in "
    "early blocks.",
    "weights",
    [
        ("ln1", "weight", "norm"),
        ("ln1", "bias", "norm"),
        ("ln2", "weight", "norm"),
        ("ln2", "bias", "norm"),
    ],
    overlay=True,
)
line_spec(
    "F11",
    "Distance from the first checkpoint",
    "weights",
    "The post (Pythia): distance from init tracks the norms; block 0's MLP in moves least.",
    "weights",
    _keys(("attn_out", "qkv", "q", "k", "v", "mlp_in", "mlp_gate", "mlp_out"), "dist_init"),
    overlay=True,
)
line_spec(
    "F12",
    "Unembedding and final LayerNorm norms",
    "weights",
    "The post (Pythia): unembedding and final LayerNorm norms are idiosyncratic per size.",
    "weights",
    [("unembed", "weight", "norm"), ("ln_final", "weight", "norm"), ("ln_final", "bias", "norm")],
)
line_spec(
    "F14",
    "Embedding norm",
    "weights",
    "The post (Pythia): the embedding norm rises, then slowly decays.",
    "weights",
    [("embed", "weight", "norm")],
)
line_spec(
    "update",
    "Update size per step: relative distance from the previous checkpoint / steps between",
    "weights",
    "Not a figure of the post: how far each matrix moves per training step, i.e. its relative "
    "distance from the previous swept checkpoint divided by the steps between the two "
    "(derivation update_rates), so uneven checkpoint spacing does not show as a sawtooth.",
    "weights",
    _keys(("qkv", "q", "k", "v", "attn_out", "mlp_in", "mlp_out"), "rel_dist_prev_per_step"),
    log_y={"rel_dist_prev_per_step"},
)
