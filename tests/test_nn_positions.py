"""course.nn.positions: sinusoidal table, RoPE and ALiBi, checked by their defining properties."""

from __future__ import annotations

import math

import pytest
import torch

from course.nn.positions import alibi_bias, alibi_slopes, apply_rope, sinusoidal_encoding


def test_sinusoidal_encoding_values_shape_and_dtype() -> None:
    table = sinusoidal_encoding(50, 16)
    assert table.shape == (50, 16) and table.dtype == torch.float32
    p, i = 7, 3
    angle = p / 10000 ** (2 * i / 16)
    assert math.isclose(table[p, 2 * i].item(), math.sin(angle), abs_tol=1e-6)
    assert math.isclose(table[p, 2 * i + 1].item(), math.cos(angle), abs_tol=1e-6)
    torch.testing.assert_close(table[0, 1::2], torch.ones(8))


def test_sinusoidal_shift_is_a_linear_map() -> None:
    table = sinusoidal_encoding(40, 8).double()
    shift = 5
    # Least squares finds one matrix M with table[p] @ M = table[p + shift] for every p.
    M = torch.linalg.lstsq(table[:-shift], table[shift:]).solution
    torch.testing.assert_close(table[:-shift] @ M, table[shift:], atol=1e-5, rtol=0)


def test_sinusoidal_rejects_odd_width_and_negative_sizes() -> None:
    with pytest.raises(ValueError, match="even"):
        sinusoidal_encoding(4, 5)
    with pytest.raises(ValueError, match="non-negative"):
        sinusoidal_encoding(-1, 4)


def test_rope_keeps_lengths_and_position_zero() -> None:
    x = torch.randn(2, 3, 10, 8)
    rotated = apply_rope(x)
    assert rotated.shape == x.shape and rotated.dtype == x.dtype
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(rotated[..., 0, :], x[..., 0, :])


def test_rope_dot_products_depend_only_on_the_offset() -> None:
    q, k = torch.randn(16, dtype=torch.float64), torch.randn(16, dtype=torch.float64)

    def score(m: int, n: int) -> float:
        qm = apply_rope(q[None, :], torch.tensor([m]))[0]
        kn = apply_rope(k[None, :], torch.tensor([n]))[0]
        return float(qm @ kn)

    for m, n, shift in [(3, 1, 7), (10, 4, 100), (0, 5, 33)]:
        assert math.isclose(score(m, n), score(m + shift, n + shift), abs_tol=1e-9)


def test_rope_positions_continue_a_sequence() -> None:
    x = torch.randn(1, 12, 4)
    whole = apply_rope(x)
    tail = apply_rope(x[:, 8:], positions=torch.arange(8, 12))
    torch.testing.assert_close(tail, whole[:, 8:])
    with pytest.raises(ValueError, match="positions"):
        apply_rope(x, positions=torch.arange(3))
    with pytest.raises(ValueError, match="even"):
        apply_rope(torch.randn(4, 3))


def test_alibi_slopes_follow_the_paper() -> None:
    torch.testing.assert_close(alibi_slopes(8), torch.tensor([2.0 ** (-k) for k in range(1, 9)]))
    six = alibi_slopes(6)
    expected = [2.0 ** (-2 * k) for k in range(1, 5)] + [2.0**-1, 2.0**-3]
    torch.testing.assert_close(six, torch.tensor(expected))
    with pytest.raises(ValueError):
        alibi_slopes(0)


def test_alibi_bias_penalises_distance_linearly() -> None:
    bias = alibi_bias(4, 5)
    assert bias.shape == (4, 5, 5)
    slopes = alibi_slopes(4)
    assert torch.equal(bias[:, 4, 4], torch.zeros(4))
    torch.testing.assert_close(bias[:, 4, 1], -3 * slopes)
    assert torch.equal(bias[:, 1, 3], torch.zeros(4))
