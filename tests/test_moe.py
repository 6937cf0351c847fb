"""course.nn.moe: routing, the load-balancing loss, capacity, and a GPT with experts."""

from __future__ import annotations

import pytest
import torch

from course.nn.feedforward import FeedForward
from course.nn.gpt import GPT, GPTConfig
from course.nn.moe import (
    MoEFeedForward,
    auxiliary_loss,
    expert_capacity,
    load_balancing_loss,
    top_k_routing,
    use_experts,
    within_capacity,
)


def test_one_expert_and_top_1_is_the_dense_feed_forward() -> None:
    torch.manual_seed(0)
    dense = FeedForward(8, 32)
    moe = MoEFeedForward(8, n_experts=1, top_k=1, d_hidden=32, capacity_factor=1.0)
    moe.experts[0].load_state_dict(dense.state_dict())
    x = torch.randn(3, 5, 8)
    torch.testing.assert_close(moe(x), dense(x))
    assert moe.dropped == 0 and moe.tokens_per_expert.tolist() == [15]
    assert moe.aux_loss.item() == pytest.approx(1.0)


def test_top_k_routing_picks_the_most_probable_experts() -> None:
    logits = torch.tensor([[0.0, 2.0, 1.0, -1.0], [3.0, 0.0, 0.0, 2.5]])
    weights, experts, probs = top_k_routing(logits, 2)
    assert experts.tolist() == [[1, 2], [0, 3]]
    torch.testing.assert_close(probs, torch.softmax(logits, -1))
    torch.testing.assert_close(weights, probs.gather(1, experts))
    with pytest.raises(ValueError, match="top_k"):
        top_k_routing(logits, 5)


def test_gradients_reach_only_the_chosen_experts() -> None:
    torch.manual_seed(1)
    moe = MoEFeedForward(8, n_experts=4, top_k=1, d_hidden=16)
    with torch.no_grad():  # every token prefers expert 2, then expert 0
        moe.router.weight.zero_()
        moe.router.weight[2] = 1.0
        moe.router.weight[0] = 0.5
    x = torch.rand(6, 8) + 0.1  # positive features: expert 2 wins for every token
    moe(x).sum().backward()
    touched = [expert.up.weight.grad is not None and expert.up.weight.grad.abs().sum() > 0
               for expert in moe.experts]  # fmt: skip
    assert touched == [False, False, True, False]
    assert moe.router.weight.grad is not None and moe.router.weight.grad.abs().sum() > 0
    moe.zero_grad()
    moe.top_k = 2
    moe(x).sum().backward()
    assert [e.up.weight.grad is not None and bool(e.up.weight.grad.any()) for e in moe.experts] == [
        True, False, True, False,
    ]  # fmt: skip


def test_load_balancing_loss_is_smallest_at_a_uniform_load() -> None:
    E, N = 4, 64
    uniform = torch.full((N, E), 1 / E)
    balanced = torch.arange(N)[:, None] % E  # (N, 1): each expert gets N / E tokens
    assert load_balancing_loss(uniform, balanced).item() == pytest.approx(1.0)
    collapsed = torch.zeros(N, 1, dtype=torch.int64)
    assert load_balancing_loss(torch.eye(E)[collapsed[:, 0]], collapsed).item() == pytest.approx(E)
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):  # confident routers (f = P) with random loads: never below 1
        choice = torch.randint(0, E, (N,), generator=generator) ** torch.randint(1, 3, ())
        choice = choice.clamp(max=E - 1)
        loss = load_balancing_loss(torch.eye(E)[choice], choice[:, None])
        share = torch.bincount(choice, minlength=E) / N
        assert loss.item() == pytest.approx(E * (share**2).sum().item())
        assert loss.item() >= 1.0 - 1e-6
        assert (loss.item() > 1.0 + 1e-6) == bool((share != 1 / E).any())
    logits = torch.randn(N, E, requires_grad=True)  # the gradient flows through P only
    _, experts, probs = top_k_routing(logits, 1)
    load_balancing_loss(probs, experts).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_capacity_drops_the_assignments_past_each_experts_slots() -> None:
    assert expert_capacity(10, 4, 1, 1.0) == 3 and expert_capacity(10, 4, 2, 1.25) == 7
    experts = torch.tensor([[0], [0], [1], [0], [0], [2]])  # (N=6, k=1)
    assert within_capacity(experts, 3, 2)[:, 0].tolist() == [True, True, True, False, False, True]
    two_choices = torch.tensor([[0, 1], [0, 1], [1, 0]])  # first choices get slots first
    assert within_capacity(two_choices, 2, 2).tolist() == [[True, True], [True, False],
                                                           [True, False]]  # fmt: skip
    torch.manual_seed(2)
    moe = MoEFeedForward(4, n_experts=2, top_k=1, d_hidden=8, capacity_factor=0.5)
    with torch.no_grad():
        moe.router.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 0]]))
    x = torch.zeros(8, 4)
    x[:, 0] = 1.0  # all 8 tokens choose expert 0, whose capacity is ceil(0.5 * 8 / 2) = 2
    out = moe(x)
    assert moe.dropped == 6 and moe.tokens_per_expert.tolist() == [8, 0]
    assert out[2:].abs().sum() == 0 and out[:2].abs().sum() > 0  # dropped tokens give 0


def test_a_gpt_with_experts_trains_and_reports_its_aux_loss() -> None:
    torch.manual_seed(3)
    model = GPT(GPTConfig(vocab_size=17, block_size=8, n_layer=2, n_head=2, d_model=16))
    dense_params = model.num_params()
    layers = use_experts(model, n_experts=4, top_k=2, capacity_factor=2.0)
    ffn_params = sum(p.numel() for p in layers[0].experts[0].parameters())
    router_params = layers[0].router.weight.numel()
    assert model.num_params() == dense_params + 2 * (3 * ffn_params + router_params)
    ids = torch.randint(0, 17, (3, 8))
    logits = model(ids)
    assert logits.shape == (3, 8, 17)
    aux = auxiliary_loss(layers)
    assert aux.item() >= 0 and len(layers) == 2
    (logits.logsumexp(-1).mean() + aux).backward()
    assert all(layer.router.weight.grad is not None for layer in layers)
