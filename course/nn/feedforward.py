"""The position-wise feed-forward network of a transformer block: ReLU, GELU or SwiGLU."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

ACTIVATIONS = ("relu", "gelu", "swiglu")


class FeedForward(nn.Module):
    """Linear -> activation -> Linear, applied to every position on its own.

    ``d_hidden`` defaults to 4 * d_model. For ``"swiglu"`` the hidden layer is
    silu(x W_gate) * (x W_up), a gated unit with a third weight matrix.
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
        d_hidden = 4 * d_model if d_hidden is None else d_hidden
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
