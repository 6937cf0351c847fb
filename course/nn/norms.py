"""Layer normalisation and RMS normalisation over the last dimension."""

from __future__ import annotations

import torch
from torch import Tensor, nn

NORMS = ("layer", "rms")


class LayerNorm(nn.Module):
    """(x - mean) / sqrt(var + eps) * weight + bias, statistics over the last dimension.

    The variance is the biased one (divide by C), as in ``nn.LayerNorm``.
    """

    def __init__(self, d_model: int, eps: float = 1e-5, bias: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., C) -> (..., C)."""
        if x.shape[-1] != self.weight.shape[0]:
            raise ValueError(f"expected last size {self.weight.shape[0]}, got {x.shape[-1]}")
        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
        var = x.var(dim=-1, keepdim=True, unbiased=False)  # (..., 1)
        y = (x - mean) * torch.rsqrt(var + self.eps) * self.weight
        return y if self.bias is None else y + self.bias


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight: no centring, no bias (as in ``nn.RMSNorm``)."""

    def __init__(self, d_model: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., C) -> (..., C)."""
        if x.shape[-1] != self.weight.shape[0]:
            raise ValueError(f"expected last size {self.weight.shape[0]}, got {x.shape[-1]}")
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight


def make_norm(kind: str, d_model: int, *, eps: float | None = None, bias: bool = True) -> nn.Module:
    """``"layer"`` -> LayerNorm, ``"rms"`` -> RMSNorm (which never has a bias).

    ``eps=None`` keeps each norm's usual epsilon: 1e-5 for LayerNorm, 1e-6 for RMSNorm.
    """
    if kind == "layer":
        return LayerNorm(d_model, bias=bias) if eps is None else LayerNorm(d_model, eps, bias)
    if kind == "rms":
        return RMSNorm(d_model) if eps is None else RMSNorm(d_model, eps)
    raise ValueError(f"norm must be 'layer' or 'rms', not {kind!r}")
