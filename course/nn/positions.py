"""Ways to tell a transformer where each token sits (chapter 5).

* :func:`sinusoidal_encoding`: the original transformer's fixed table, added to the
  token embeddings.
* :func:`apply_rope`: rotary position embedding, applied to queries and keys so that
  their dot products depend only on the offset between the two positions.
* :func:`alibi_bias`: ALiBi's linear penalty on distance, added to attention scores.

Learned positions need no helper: they are an ``nn.Embedding(max_positions, d_model)``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def _frequencies(d: int, base: float) -> Tensor:
    """The d // 2 angular frequencies base^(-2i/d), i = 0 .. d/2 - 1, slowest last: (d/2,)."""
    if d % 2:
        raise ValueError(f"positions rotate pairs of dimensions: the size must be even, got {d}")
    return base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)


def sinusoidal_encoding(n_positions: int, d_model: int, base: float = 10000.0) -> Tensor:
    """The fixed sinusoidal position table, shape (n_positions, d_model), float32.

    Row ``p`` holds ``sin(p * w_i)`` in column ``2i`` and ``cos(p * w_i)`` in column
    ``2i + 1``, with ``w_i = base ** (-2i / d_model)``: each pair of columns walks
    round a circle, fast for small ``i`` and slowly for large ``i``.
    """
    _check_sizes(n_positions=n_positions, d_model=d_model)
    angles = torch.arange(n_positions, dtype=torch.float64)[:, None] * _frequencies(d_model, base)
    table = torch.empty(n_positions, d_model, dtype=torch.float64)  # (T, C)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table.float()


def apply_rope(x: Tensor, positions: Tensor | None = None, base: float = 10000.0) -> Tensor:
    """Rotate each pair of features of ``x`` (..., T, D) by an angle that grows with position.

    Pair ``(x[2i], x[2i + 1])`` of the vector at position ``p`` turns by ``p * w_i``
    radians, ``w_i = base ** (-2i / D)`` (the pairs of the RoFormer paper). Apply it to
    queries and keys alike: then ``rope(q, m) . rope(k, n)`` depends on ``m - n`` only.
    ``positions`` (T,) defaults to ``0 .. T-1``; pass ``start + arange(T)`` when the
    tokens continue a cached sequence. Same shape and dtype as ``x``.
    """
    if x.ndim < 2:
        raise ValueError(f"apply_rope expects (..., T, D), got shape {tuple(x.shape)}")
    T, D = x.shape[-2:]
    if positions is None:
        positions = torch.arange(T, device=x.device)
    if positions.shape != (T,):
        raise ValueError(f"positions must have shape ({T},), got {tuple(positions.shape)}")
    angles = positions.to(torch.float64)[:, None] * _frequencies(D, base).to(x.device)  # (T, D/2)
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]  # (..., T, D/2) each
    rotated = torch.empty_like(x)
    rotated[..., 0::2] = even * cos - odd * sin
    rotated[..., 1::2] = even * sin + odd * cos
    return rotated


def alibi_slopes(n_heads: int) -> Tensor:
    """ALiBi's per-head slopes, a geometric sequence: (n_heads,), float32.

    For a power of two ``n`` they are ``2 ** (-8 k / n)``, k = 1 .. n; otherwise the
    slopes of the next lower power of two, then every other slope of twice that many.
    """
    _check_sizes(n_heads=n_heads)
    if n_heads == 0:
        raise ValueError("n_heads must be at least 1")

    def powers_of_two(n: int) -> list[float]:
        return [2.0 ** (-8.0 * k / n) for k in range(1, n + 1)]

    lower = 1 << (n_heads.bit_length() - 1)
    slopes = powers_of_two(lower) + powers_of_two(2 * lower)[0::2][: n_heads - lower]
    return torch.tensor(slopes, dtype=torch.float32)


def alibi_bias(n_heads: int, T: int) -> Tensor:
    """The ALiBi bias to add to causal attention scores: (n_heads, T, T), float32.

    Entry ``[h, i, j]`` is ``-slope_h * (i - j)`` for keys ``j <= i``: the further back a
    key, the larger its penalty. Entries above the diagonal are 0; the causal mask
    hides them anyway.
    """
    _check_sizes(T=T)
    offsets = torch.arange(T)[:, None] - torch.arange(T)[None, :]  # (T, T): i - j
    distance = offsets.clamp(min=0).float()
    return -alibi_slopes(n_heads)[:, None, None] * distance  # (H, T, T)
