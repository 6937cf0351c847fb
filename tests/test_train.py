"""Tests of course.train: batches, schedule, loss estimates, the loop, checkpoints."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from course import markov
from course.nn.gpt import GPT, GPTConfig
from course.train import (
    TrainConfig,
    char_corpus,
    estimate_loss,
    generate,
    get_batch,
    learning_rate,
    load_checkpoint,
    save_checkpoint,
    train,
)


def _tiny_model(vocab_size: int = 7, block_size: int = 8) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=1, d_model=16))


def test_get_batch_windows_and_shift() -> None:
    ids = torch.arange(100)
    x, y = get_batch(ids, 8, 5, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 8) and x.dtype == torch.int64
    assert torch.equal(y, x + 1)  # targets are the next tokens
    assert torch.equal(x[:, 1:], x[:, :-1] + 1)  # contiguous windows
    assert int(y.max()) <= 99


def test_get_batch_reaches_the_last_window_and_is_seeded() -> None:
    ids = torch.arange(10)
    x, _ = get_batch(ids, 9, 200, torch.Generator().manual_seed(1))
    assert set(x[:, 0].tolist()) == {0}  # only one window fits
    a = get_batch(torch.arange(50), 4, 3, torch.Generator().manual_seed(2))
    b = get_batch(torch.arange(50), 4, 3, torch.Generator().manual_seed(2))
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))


@pytest.mark.parametrize(
    ("ids", "block", "batch"),
    [(torch.arange(8), 8, 2), (torch.zeros(2, 9), 4, 2), (torch.arange(9), 0, 2)],
)
def test_get_batch_rejects_bad_input(ids: torch.Tensor, block: int, batch: int) -> None:
    with pytest.raises(ValueError):
        get_batch(ids, block, batch)


def test_learning_rate_warmup_peak_and_floor() -> None:
    kw = {"max_lr": 1.0, "min_lr": 0.1, "warmup": 10, "total": 110}
    assert learning_rate(0, **kw) == pytest.approx(0.1)
    assert learning_rate(9, **kw) == pytest.approx(1.0)
    assert learning_rate(60, **kw) == pytest.approx(0.55)  # half-way down the cosine
    assert learning_rate(110, **kw) == pytest.approx(0.1)
    assert learning_rate(500, **kw) == pytest.approx(0.1)
    rates = [learning_rate(s, **kw) for s in range(10, 111)]
    assert all(a >= b for a, b in itertools.pairwise(rates))
    with pytest.raises(ValueError):
        learning_rate(0, max_lr=1.0, min_lr=2.0, warmup=1, total=5)


def test_estimate_loss_of_a_uniform_model_is_log_vocab() -> None:
    model = _tiny_model()
    torch.nn.init.zeros_(model.tok_emb.weight)  # tied head: all logits zero
    model.train()
    loss = estimate_loss(model, torch.arange(7).repeat(10), 8, 4, 3)
    assert loss == pytest.approx(math.log(7), abs=1e-5)
    assert model.training  # mode restored


def test_train_learns_a_repeating_sequence() -> None:
    ids = torch.arange(7).repeat(50)  # 0 1 2 ... 6 0 1 ...: perfectly predictable
    model = _tiny_model()
    config = TrainConfig(steps=60, batch_size=8, max_lr=1e-2, warmup=5, eval_every=20)
    history = train(model, ids, ids, config, progress=False)
    assert len(history.train_loss) == len(history.lr) == 60
    assert history.eval_step == [20, 40, 60]
    assert history.eval_val[-1] < 0.2 < math.log(7) - 1
    assert max(history.lr) == pytest.approx(1e-2)


def test_checkpoint_round_trip_gives_identical_logits(tmp_path) -> None:
    model = _tiny_model()
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, note="x")
    loaded, record = load_checkpoint(path)
    idx = torch.randint(7, (2, 8))
    model.eval()
    assert torch.equal(model(idx), loaded(idx))
    assert record == {"note": "x"}
    assert loaded.head.weight is loaded.tok_emb.weight  # tying survives


def test_generate_extends_the_prompt_deterministically() -> None:
    model = _tiny_model(block_size=4)
    prompt = torch.tensor([1, 2, 3])
    a = generate(model, prompt, 10, generator=torch.Generator().manual_seed(0))
    b = generate(model, prompt, 10, generator=torch.Generator().manual_seed(0))
    assert a.shape == (13,) and torch.equal(a, b) and torch.equal(a[:3], prompt)


def test_char_corpus_uses_the_baseline_split() -> None:
    corpus = char_corpus()
    baseline = markov.char_bigram_baseline()
    assert corpus.alphabet == baseline.alphabet
    assert (len(corpus.train), len(corpus.validation)) == (
        baseline.train_chars,
        baseline.validation_chars,
    )
    assert corpus.decode(corpus.encode("def f(x):")) == "def f(x):"
