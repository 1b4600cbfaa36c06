"""What the views share: the weight matrices they read, and the keys of one run."""

from __future__ import annotations

#: the whole matrices whose norms and updates the views read, in drawing order
#: (embed/unembed have no block)
COMPONENTS = ("embed", "qkv", "q", "k", "v", "attn_out", "mlp_in", "mlp_gate", "mlp_out",
              "unembed")  # fmt: skip
#: one run: two suites may hold a model of the same name, and figures never merge them
RUN = ["suite", "model"]
