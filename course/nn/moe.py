"""A mixture-of-experts feed-forward layer (chapter 13): a router sends each token to k experts.

The layer holds ``n_experts`` feed-forward networks and a linear router. For each token
the router's softmax gives a probability per expert; the token goes to its ``top_k``
experts, and the layer returns their outputs weighted by those probabilities (the
Switch Transformer's choice for k = 1 (Fedus et al., 2022); the probabilities are not
renormalised over the k chosen, so the router always gets a gradient). An expert takes
at most ``capacity`` tokens per batch; the assignments past it are dropped, and those
tokens skip the layer through the residual connection.

:func:`load_balancing_loss` is the auxiliary loss that keeps the router from sending
everything to a few experts (Shazeer et al. 2017; Fedus et al. 2022).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from course.nn.feedforward import FeedForward


def top_k_routing(router_logits: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """Each token's k most probable experts.

    router_logits (N, E) -> (weights (N, k), experts (N, k) int64, probs (N, E)), where
    ``probs`` is the softmax over experts and ``weights`` its k largest entries, best first.
    """
    n_experts = router_logits.shape[-1]
    if not 1 <= k <= n_experts:
        raise ValueError(f"top_k must be in 1..{n_experts}, got {k}")
    probs = torch.softmax(router_logits.float(), dim=-1)  # (N, E)
    weights, experts = probs.topk(k, dim=-1)  # (N, k)
    return weights, experts, probs


def load_balancing_loss(probs: Tensor, experts: Tensor) -> Tensor:
    """Switch Transformer's auxiliary loss, E * sum_i f_i * P_i: a scalar.

    ``f_i`` is the share of the (token, choice) assignments ``experts`` (N, k) that went
    to expert i, ``P_i`` the mean router probability of expert i over the N tokens of
    ``probs`` (N, E). Only ``P`` carries a gradient. The loss is 1 when both are uniform
    (1 / E each); when the router's probabilities agree with its choices (f = P) it is
    E * sum_i f_i ** 2, which is at least 1, with equality only at a uniform load, and
    reaches E when every token picks the same expert.
    """
    n_experts = probs.shape[-1]
    counts = torch.bincount(experts.flatten(), minlength=n_experts)  # (E,)
    share = counts.to(probs.dtype) / experts.numel()  # f: (E,), no gradient
    mean_prob = probs.mean(dim=0)  # P: (E,)
    return n_experts * (share * mean_prob).sum()


def expert_capacity(n_tokens: int, n_experts: int, k: int, capacity_factor: float) -> int:
    """Slots per expert: ceil(capacity_factor * n_tokens * k / n_experts)."""
    return math.ceil(capacity_factor * n_tokens * k / n_experts)


def within_capacity(experts: Tensor, n_experts: int, capacity: int) -> Tensor:
    """Which assignments (N, k) fit in their expert's ``capacity`` slots: (N, k) bool.

    Slots are handed out first choices first (all tokens' first choice, then all second
    choices, as in GShard), in token order within a choice.
    """
    by_choice = experts.T.flatten()  # (k * N,): choice 0 of every token, then choice 1, ...
    one_hot = nn.functional.one_hot(by_choice, n_experts)  # (k * N, E)
    position = (one_hot.cumsum(dim=0) - 1)[torch.arange(len(by_choice)), by_choice]  # (k * N,)
    return (position < capacity).reshape(experts.T.shape).T  # (N, k)


class MoEFeedForward(nn.Module):
    """A drop-in replacement for :class:`course.nn.feedforward.FeedForward`.

    ``forward`` keeps, for the last batch, ``aux_loss`` (the load-balancing loss),
    ``tokens_per_expert`` (E,) (assignments before the capacity limit) and ``dropped``
    (assignments past it).
    """

    def __init__(
        self,
        d_model: int,
        n_experts: int,
        top_k: int = 1,
        *,
        d_hidden: int | None = None,
        activation: str = "gelu",
        capacity_factor: float | None = None,
    ) -> None:
        super().__init__()
        if not 1 <= top_k <= n_experts:
            raise ValueError(f"top_k must be in 1..{n_experts}, got {top_k}")
        self.top_k = top_k
        self.capacity_factor = capacity_factor
        self.router = nn.Linear(d_model, n_experts, bias=False)
        self.experts = nn.ModuleList(
            FeedForward(d_model, d_hidden, activation) for _ in range(n_experts)
        )
        self.aux_loss = torch.zeros(())
        self.tokens_per_expert = torch.zeros(n_experts, dtype=torch.int64)
        self.dropped = 0

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., C) -> (..., C)."""
        tokens = x.reshape(-1, x.shape[-1])  # (N, C)
        n_experts = len(self.experts)
        weights, experts, probs = top_k_routing(self.router(tokens), self.top_k)  # (N, k)
        keep = torch.ones_like(experts, dtype=torch.bool)
        if self.capacity_factor is not None:
            capacity = expert_capacity(len(tokens), n_experts, self.top_k, self.capacity_factor)
            keep = within_capacity(experts, n_experts, capacity)
        out = torch.zeros_like(tokens)  # (N, C)
        for index, expert in enumerate(self.experts):
            token, choice = torch.nonzero((experts == index) & keep, as_tuple=True)
            if len(token):  # each expert runs on its own tokens only
                gate = weights[token, choice, None].to(tokens.dtype)  # (n, 1)
                out.index_add_(0, token, gate * expert(tokens[token]))
        self.aux_loss = load_balancing_loss(probs, experts)
        self.tokens_per_expert = torch.bincount(experts.flatten(), minlength=n_experts).cpu()
        self.dropped = int((~keep).sum())
        return out.reshape(x.shape)


def use_experts(
    model: nn.Module,
    n_experts: int,
    top_k: int = 1,
    *,
    capacity_factor: float | None = None,
    generator: torch.Generator | None = None,
) -> list[MoEFeedForward]:
    """Replace the feed-forward network of every block of ``model`` by a mixture of experts.

    Each expert has the shape of the network it replaces; all new weights are drawn
    from N(0, 0.02) with zero biases, as the GPT initialises its own. Returns the layers.
    """
    layers = []
    for block in model.blocks:
        dense: FeedForward = block.ffn
        layer = MoEFeedForward(
            dense.up.in_features, n_experts, top_k, d_hidden=dense.up.out_features,
            activation=dense.activation, capacity_factor=capacity_factor,
        )  # fmt: skip
        for linear in layer.modules():
            if isinstance(linear, nn.Linear):
                with torch.no_grad():
                    linear.weight.normal_(0.0, 0.02, generator=generator)
                    if linear.bias is not None:
                        linear.bias.zero_()
        block.ffn = layer.to(next(dense.parameters()).device)
        layers.append(layer)
    return layers


def auxiliary_loss(layers: list[MoEFeedForward]) -> Tensor:
    """The sum of the layers' load-balancing losses from their last forward pass."""
    return torch.stack([layer.aux_loss for layer in layers]).sum()
