"""The position-wise feed-forward network of a transformer block: ReLU, GELU or SwiGLU."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

ACTIVATIONS = ("relu", "gelu", "swiglu")
#: SwiGLU's hidden width is rounded up to a multiple of this (LLaMA rounds to 256, which
#: would inflate the course's narrow models; 8 keeps GPU matrix shapes aligned).
SWIGLU_MULTIPLE = 8


def default_hidden(d_model: int, activation: str) -> int:
    """4 * d_model, or for SwiGLU 2/3 of that rounded up to a multiple of SWIGLU_MULTIPLE.

    SwiGLU has three weight matrices instead of two: at 2/3 of the width it costs about
    the 8 * d_model**2 parameters of a 4 * d_model GELU network.
    """
    if activation != "swiglu":
        return 4 * d_model
    return -(-8 * d_model // (3 * SWIGLU_MULTIPLE)) * SWIGLU_MULTIPLE


class FeedForward(nn.Module):
    """Linear -> activation -> Linear, applied to every position on its own.

    ``d_hidden`` defaults to :func:`default_hidden`. For ``"swiglu"`` the hidden layer is
    silu(x W_gate) * (x W_up), a gated unit with a third weight matrix, then W_down.
    """

    def __init__(
        self,
        d_model: int,
        d_hidden: int | None = None,
        activation: str = "gelu",
        *,
        dropout: float = 0.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, not {activation!r}")
        d_hidden = default_hidden(d_model, activation) if d_hidden is None else d_hidden
        self.activation = activation
        self.up = nn.Linear(d_model, d_hidden, bias=bias)
        self.gate = nn.Linear(d_model, d_hidden, bias=bias) if activation == "swiglu" else None
        self.down = nn.Linear(d_hidden, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., C) -> (..., C)."""
        h = self.up(x)  # (..., d_hidden)
        if self.gate is not None:
            h = F.silu(self.gate(x)) * h
        elif self.activation == "relu":
            h = F.relu(h)
        else:
            h = F.gelu(h)
        return self.dropout(self.down(h))  # (..., C)
