"""Graded tests for lab 13, "Mixture of experts" (15 points).

Each test receives `nb`, the executed notebook's namespace, and checks behaviour only:
the router's choices and weights and the load-balancing loss against the course's
references, and the layer against a dense feed-forward network and the course's
`MoEFeedForward` with the same weights.
"""

from __future__ import annotations

import torch

from course.grading import assert_close, must_raise, question
from course.nn.feedforward import FeedForward
from course.nn.moe import MoEFeedForward, load_balancing_loss, top_k_routing

#: The notebook may import the dense feed-forward network, never course/nn/moe.py.
COURSE_MODULES = ("nn/__init__.py", "nn/feedforward.py")


def _reference_top_k_router(router_logits, k):
    probs = torch.softmax(router_logits, dim=-1)
    return probs.topk(k, dim=-1)


def _reference_load_balancing_loss(probs, experts):
    n_experts = probs.shape[-1]
    share = torch.bincount(experts.flatten(), minlength=n_experts).to(probs.dtype)
    return n_experts * (share / experts.numel() * probs.mean(dim=0)).sum()


EARLIER = {
    "top_k_router": _reference_top_k_router,
    "load_balancing_loss": _reference_load_balancing_loss,
}


def _randomise(module: torch.nn.Module, seed: int) -> None:
    """Weights large enough that the router's choices differ from token to token."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)


# --- Question 1: top_k_router -----------------------------------------------------------


@question("q1", points=3)
def test_top_k_router_matches_the_reference(nb):
    generator = torch.Generator().manual_seed(1)
    for N, E, k in [(1, 2, 1), (7, 4, 2), (33, 8, 3), (5, 6, 6)]:
        logits = torch.randn(N, E, generator=generator)
        got = nb.top_k_router(logits, k)
        expected_weights, expected_experts, _ = top_k_routing(logits, k)
        assert isinstance(got, tuple | list) and len(got) == 2, (
            f"top_k_router should return (weights, experts), got {type(got).__name__}"
        )
        weights, experts = got
        assert experts.shape == (N, k) and experts.dtype == torch.int64, (
            f"experts for {N} tokens and k = {k} should be int64 of shape ({N}, {k}), got "
            f"{experts.dtype} {tuple(experts.shape)}"
        )
        assert torch.equal(experts, expected_experts), (
            f"with {E} experts and k = {k}, the chosen experts should be "
            f"{expected_experts.tolist()}, got {experts.tolist()}. Hint: most probable first."
        )
        assert_close(
            weights,
            expected_weights,
            what=f"the weights of {N} tokens, {E} experts, k = {k}",
            hint="the softmax over all experts, read at the chosen ones (not renormalised)",
            rtol=0,
            atol=1e-6,
        )


@question("q1", points=1, hidden=True)
def test_top_k_router_rejects_an_impossible_k(nb):
    logits = torch.randn(3, 4)
    nb.top_k_router(logits, 4)  # a valid call returns first
    must_raise(lambda: nb.top_k_router(logits, 0), "top_k_router with k = 0")
    must_raise(lambda: nb.top_k_router(logits, 5), "top_k_router with k = 5 of 4 experts")


# --- Question 2: load_balancing_loss ----------------------------------------------------


@question("q2", points=3)
def test_load_balancing_loss_matches_the_reference(nb):
    generator = torch.Generator().manual_seed(2)
    for N, E, k in [(16, 4, 1), (50, 8, 2), (9, 3, 3)]:
        probs = torch.softmax(2 * torch.randn(N, E, generator=generator), dim=-1)
        experts = torch.randint(0, E, (N, k), generator=generator)
        got = nb.load_balancing_loss(probs, experts)
        expected = load_balancing_loss(probs, experts)
        assert isinstance(got, torch.Tensor) and got.shape == (), (
            f"the loss should be a 0-dimensional tensor, got "
            f"{getattr(got, 'shape', type(got).__name__)}"
        )
        assert_close(
            got,
            expected,
            what=f"the loss of {N} tokens, {E} experts, k = {k} (random, unrelated choices)",
            hint="f counts the assignments in experts, P averages probs; E * sum(f * P)",
            rtol=0,
            atol=1e-5,
        )


@question("q2", points=1, hidden=True)
def test_load_balancing_loss_is_one_when_uniform_and_e_when_collapsed(nb):
    E, N = 4, 12
    uniform = nb.load_balancing_loss(torch.full((N, E), 1 / E), torch.arange(N)[:, None] % E)
    collapsed = nb.load_balancing_loss(torch.eye(E)[[0] * N], torch.zeros(N, 1, dtype=torch.long))
    assert abs(float(uniform) - 1.0) < 1e-6, f"a uniform load should give 1, got {float(uniform)}"
    assert abs(float(collapsed) - E) < 1e-6, (
        f"every token sent to one expert with probability 1 should give E = {E}, got "
        f"{float(collapsed)}"
    )


# --- Question 3: MoE ------------------------------------------------------------------------


@question("q3", points=2)
def test_one_expert_top_1_equals_the_dense_network(nb):
    with nb.replacing(**EARLIER):
        layer = nb.MoE(12, 1, 1, 40)
        dense = FeedForward(12, 40)
        _randomise(dense, 3)
        layer.experts[0].load_state_dict(dense.state_dict())
        x = torch.randn(2, 7, 12, generator=torch.Generator().manual_seed(4))
        got = layer(x)
    assert_close(
        got,
        dense(x).detach(),
        what="MoE(12, 1 expert, top_k=1) on a (2, 7, 12) input",
        hint="with one expert its weight is 1: the layer must return expert(x), same shape",
        rtol=1e-5,
        atol=1e-5,
    )


def _against_the_course(nb, n_experts: int, top_k: int, seed: int) -> tuple:
    reference = MoEFeedForward(16, n_experts, top_k, d_hidden=24)
    _randomise(reference, seed)
    layer = nb.MoE(16, n_experts, top_k, 24)
    names = sorted(layer.state_dict())
    assert names == sorted(reference.state_dict()), (
        f"MoE's parameters should be {sorted(reference.state_dict())}, got {names}"
    )
    layer.load_state_dict(reference.state_dict())
    x = torch.randn(3, 11, 16, generator=torch.Generator().manual_seed(seed + 1))
    got = layer(x)
    with torch.no_grad():
        expected = reference(x)
    return layer, reference, got, expected


@question("q3", points=3)
def test_moe_matches_the_course_layer(nb):
    with nb.replacing(**EARLIER):
        for n_experts, top_k, seed in [(4, 1, 5), (4, 2, 6), (6, 3, 7)]:
            _, reference, got, expected = _against_the_course(nb, n_experts, top_k, seed)
            assert (reference.tokens_per_expert > 0).sum() > 1  # the case really routes
            assert_close(
                got,
                expected,
                what=f"MoE with {n_experts} experts, top_k={top_k}, on a (3, 11, 16) input",
                hint="each token adds weight * expert(token) for each of its top_k experts",
                rtol=1e-5,
                atol=1e-5,
            )


@question("q3", points=2, hidden=True)
def test_moe_keeps_its_load_balancing_loss(nb):
    with nb.replacing(**EARLIER):
        layer, reference, _, _ = _against_the_course(nb, 4, 2, 8)
        aux = layer.aux_loss
    assert_close(
        aux,
        reference.aux_loss.detach(),
        what="MoE.aux_loss after a call with 4 experts, top_k=2",
        hint="load_balancing_loss(softmax of the router's scores, the chosen experts)",
        rtol=0,
        atol=1e-5,
    )
