"""Tests of course.train: batches, schedule, loss estimates, the loop, checkpoints."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from course import markov
from course import train as course_train
from course.nn.gpt import GPT, GPTConfig
from course.train import (
    TrainConfig,
    char_corpus,
    estimate_loss,
    generate,
    get_batch,
    learning_rate,
    load_checkpoint,
    resume_training,
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


MODERN = {"positions": "rope", "norm": "rms", "activation": "swiglu", "n_kv_head": 2}
MODERN |= {"bias": False, "tie_head": False, "dropout": 0.1}  # dropout draws random numbers


def _modern_model() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=4, d_model=16, **MODERN))


def test_stopping_and_resuming_gives_the_weights_of_one_uninterrupted_run(tmp_path) -> None:
    ids = torch.arange(7).repeat(30)
    config = TrainConfig(steps=12, batch_size=4, warmup=3, eval_every=5, eval_batches=1)
    config = TrainConfig(**{**config.__dict__, "grad_accum": 2, "seed": 3})
    straight = _modern_model()
    whole = train(straight, ids, ids, config, progress=False)
    path = tmp_path / "run.pt"
    first = train(_modern_model(), ids, ids, config, progress=False, checkpoint=path, until=7)
    assert len(first.lr) == 7 and first.eval_step == [5, 7]  # an evaluation at the stop
    torch.rand(100)  # the session ends: whatever ran since moved the global generator
    resumed, history = resume_training(path, ids, ids, progress=False)
    for (name, a), b in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), f"{name} differs after stop and resume"
    assert history.lr == whole.lr and history.train_loss == whole.train_loss
    assert history.grad_norm == whole.grad_norm and history.eval_val[-1] == whole.eval_val[-1]
    assert history.timed_steps == 12 - 2  # each call's first step is warm-up
    model, record = load_checkpoint(path)  # a training checkpoint is also a model checkpoint
    assert record["step"] == 12 and model.config == straight.config


def test_checkpoints_every_few_steps_and_refuses_a_different_run(tmp_path, monkeypatch) -> None:
    ids = torch.arange(7).repeat(30)
    config = TrainConfig(steps=10, batch_size=2, warmup=2, eval_every=None)
    written = []
    write = course_train._write_training_state
    monkeypatch.setattr(
        course_train,
        "_write_training_state",
        lambda *args: written.append(len(args[6].lr)) or write(*args),
    )
    path = tmp_path / "run.pt"
    history = train(_tiny_model(), ids, ids, config, False, checkpoint=path, checkpoint_every=4)
    assert written == [4, 8, 10] and history.eval_step == []
    other = TrainConfig(**{**config.__dict__, "max_lr": 1e-2})
    with pytest.raises(ValueError, match="trained with"):
        train(_tiny_model(), ids, ids, other, False, checkpoint=path, resume=True)
    with pytest.raises(ValueError, match="until"):
        train(_tiny_model(), ids, ids, config, False, until=11)
    save_checkpoint(path, _tiny_model())
    with pytest.raises(ValueError, match="weights only"):
        resume_training(path, ids, ids, progress=False)


def test_checkpoints_load_for_any_configuration(tmp_path) -> None:
    model = _modern_model().eval()
    save_checkpoint(tmp_path / "m.pt", model)
    loaded, _ = load_checkpoint(tmp_path / "m.pt")
    idx = torch.randint(7, (2, 8))
    assert loaded.config == model.config and torch.equal(loaded(idx), model(idx))
    assert loaded.head.weight is not loaded.tok_emb.weight
    old = torch.load(tmp_path / "m.pt", weights_only=True)  # a checkpoint of before the
    tiny = _tiny_model()  # new fields: its config dict lacks them, its head is implied
    old["config"] = {k: v for k, v in tiny.config.__dict__.items() if k != "positions"}
    old["state_dict"] = {k: v for k, v in tiny.state_dict().items() if k != "head.weight"}
    torch.save(old, tmp_path / "old.pt")
    assert torch.equal(load_checkpoint(tmp_path / "old.pt")[0](idx), tiny.eval()(idx))


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
