"""course.nn.softmax against torch.softmax."""

from __future__ import annotations

import pytest
import torch

from course.nn.softmax import softmax


@pytest.mark.parametrize(
    ("shape", "dim"), [((5,), -1), ((3, 7), 0), ((2, 4, 6), 1), ((2, 4, 6), -1)]
)
def test_softmax_matches_torch(shape: tuple[int, ...], dim: int) -> None:
    logits = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 5
    torch.testing.assert_close(softmax(logits, dim), torch.softmax(logits, dim))


def test_softmax_survives_huge_scores_and_masks() -> None:
    logits = torch.tensor([[1000.0, 999.0, float("-inf")], [-1000.0, -1001.0, -1002.0]])
    got = softmax(logits)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, torch.softmax(logits, -1))
    assert got[0, 2] == 0


def test_softmax_of_an_all_masked_row_is_zeros_not_nan() -> None:
    got = softmax(torch.full((2, 3), float("-inf")))
    assert torch.equal(got, torch.zeros(2, 3))


def test_softmax_gradient_matches_torch() -> None:
    logits = torch.randn(4, 5, requires_grad=True)
    weights = torch.randn(4, 5)
    (softmax(logits) * weights).sum().backward()
    mine = logits.grad.clone()
    logits.grad = None
    (torch.softmax(logits, -1) * weights).sum().backward()
    torch.testing.assert_close(mine, logits.grad)


def test_softmax_rejects_integer_tensors_and_lists() -> None:
    with pytest.raises(TypeError, match="floating-point"):
        softmax(torch.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        softmax([1.0, 2.0])  # type: ignore[arg-type]
