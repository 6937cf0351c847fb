"""The shared assertions of the graded tests: they pass what is right, and teach when not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course.grading import assert_close


def _message(got: object, expected: object, **options: object) -> str:
    with pytest.raises(AssertionError) as failure:
        assert_close(got, expected, what="the output", hint="divide by sqrt(d)", **options)
    return str(failure.value)


def test_close_values_of_any_kind_pass():
    assert_close(torch.ones(2, 3, dtype=torch.float32), np.ones((2, 3)), what="x")
    assert_close([1.0, 2.0], (1.0, 2.0 + 1e-9), what="x")
    assert_close(torch.tensor([1.0], dtype=torch.bfloat16), [1.0], what="x")
    assert_close(0.5, np.float64(0.5), what="x", rtol=0, atol=0)


def test_a_large_array_shows_its_shape_and_first_differences_not_a_dump():
    expected = torch.zeros(64, 64)
    got = expected.clone()
    got[3, 5], got[40, 1] = 1.0, -2.0
    message = _message(got, expected, atol=1e-6)
    assert "2 of 4096 entries of shape (64, 64)" in message
    assert "at (3, 5) expected 0, got 1" in message and "at (40, 1) expected 0, got -2" in message
    assert "largest difference 2" in message and message.endswith("Hint: divide by sqrt(d)")
    assert len(message) < 400


def test_wrong_shape_scalar_nan_and_non_numbers_each_get_their_sentence():
    assert "expected shape (3,), got shape (2,)" in _message(np.ones(2), np.ones(3))
    assert "expected 2, got 1" in _message(1.0, 2.0)
    assert "got nan" in _message([float("nan")], [1.0])
    assert "expected numbers, got str" in _message("oops", 1.0)
