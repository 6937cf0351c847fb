"""A decoder-only transformer (GPT): embeddings, a stack of causal pre-LN blocks, a head.

The one model of the course, from chapter 6 to the GPU lab: ``GPTConfig.attention``
picks the attention kernel (``naive``, ``sdpa`` or ``triton``), and ``forward`` takes a
:class:`course.nn.kv_cache.KVCache` to generate one position at a time. Its other fields
turn the GPT-2-style default into today's decoder (LLaMA-style): RoPE, RMSNorm, SwiGLU,
grouped-query attention, no biases, an untied output layer, e.g.
``GPTConfig(V, positions="rope", norm="rms", activation="swiglu", n_kv_head=2,
bias=False, tie_head=False)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from course.nn.attention import BACKENDS, AttentionFn
from course.nn.blocks import Block
from course.nn.feedforward import ACTIVATIONS, default_hidden
from course.nn.norms import NORMS, make_norm

if TYPE_CHECKING:
    from course.nn.kv_cache import KVCache


#: How the model knows where each token sits: a learned table added to the token
#: embeddings, RoPE's rotation of queries and keys in every layer, or nothing at all
#: (causal attention alone still tells positions apart a little).
POSITIONS = ("learned", "rope", "none")


@dataclass(frozen=True)
class GPTConfig:
    """Sizes and design choices of a GPT; the defaults are the GPT-2-style model of
    chapters 6 to 11. Every field is checked here, with one ValueError naming it.

    ``n_kv_head=None`` means as many key/value heads as query heads (fewer: GQA/MQA).
    ``activation`` is the feed-forward kind (``"gelu"``, ``"relu"`` or ``"swiglu"``) and
    ``d_ff`` its hidden width, ``None`` for :func:`course.nn.feedforward.default_hidden`
    (4 * d_model; for SwiGLU 8 * d_model / 3 rounded up to a multiple of 8).
    ``norm_eps=None`` keeps each norm's usual epsilon (1e-5 LayerNorm, 1e-6 RMSNorm).
    ``positions`` is one of :data:`POSITIONS`; ``rope_base`` is RoPE's base, used only
    when ``positions="rope"``. ``bias=False`` removes the biases of every linear layer
    and norm (the output layer never has one). ``tie_head`` shares the output layer's
    weight with the token embedding.
    """

    vocab_size: int
    block_size: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_kv_head: int | None = None
    d_model: int = 64
    dropout: float = 0.0
    activation: str = "gelu"  # the feed-forward kind: see course.nn.feedforward
    norm: str = "layer"  # "layer" or "rms"
    prenorm: bool = True  # False: the original post-LN block, kept for comparison
    attention: str = "sdpa"  # "naive", "sdpa" or "triton": see course.nn.attention
    positions: str = "learned"
    d_ff: int | None = None
    norm_eps: float | None = None
    rope_base: float = 10000.0
    bias: bool = True
    tie_head: bool = True

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise ValueError(f"GPTConfig.{problem}")

    def _problem(self) -> str | None:
        """The first invalid field, described, or None when every field is valid."""
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "d_model"):
            if not _is_int(getattr(self, name), minimum=1):
                return f"{name} must be a positive integer, got {getattr(self, name)!r}"
        if self.d_model % self.n_head:
            return f"d_model={self.d_model} is not divisible by n_head={self.n_head}"
        kv = self.n_kv_head
        if kv is not None and not (_is_int(kv, minimum=1) and self.n_head % kv == 0):
            return f"n_kv_head must divide n_head={self.n_head} (or be None), got {kv!r}"
        if not (_is_number(self.dropout) and 0 <= self.dropout < 1):
            return f"dropout must lie in [0, 1), got {self.dropout!r}"
        choices = {"activation": ACTIVATIONS, "norm": NORMS, "attention": BACKENDS}
        choices["positions"] = POSITIONS
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                return f"{name} must be one of {allowed}, got {getattr(self, name)!r}"
        if self.d_ff is not None and not _is_int(self.d_ff, minimum=1):
            return f"d_ff must be a positive integer or None, got {self.d_ff!r}"
        if self.norm_eps is not None and not (_is_number(self.norm_eps) and self.norm_eps > 0):
            return f"norm_eps must be a positive number or None, got {self.norm_eps!r}"
        if not (_is_number(self.rope_base) and self.rope_base > 1):
            return f"rope_base must be a number above 1, got {self.rope_base!r}"
        if self.positions == "rope" and self.head_dim % 2:
            return f"positions='rope' rotates pairs: head size {self.head_dim} must be even"
        for name in ("prenorm", "bias", "tie_head"):
            if not isinstance(getattr(self, name), bool):
                return f"{name} must be True or False, got {getattr(self, name)!r}"
        return None

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def ffn_hidden(self) -> int:
        """The feed-forward hidden width: ``d_ff``, or the default for ``activation``."""
        return default_hidden(self.d_model, self.activation) if self.d_ff is None else self.d_ff


def _is_int(value: object, *, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class GPT(nn.Module):
    """Token embeddings (plus learned positions, by default), ``n_layer`` causal blocks,
    a final norm and an output layer (tied to the token embedding unless
    ``tie_head=False``). ``forward(idx)`` gives next-token logits.

    ``attention_fn``, when given, replaces ``config.attention`` in uncached causal
    self-attention: bring your own kernel, q, k, v (B, H, T, D) -> (B, H, T, D). With
    ``positions="rope"`` it receives queries and keys already rotated.
    """

    def __init__(self, config: GPTConfig, attention_fn: AttentionFn | None = None) -> None:
        super().__init__()
        self.config = config
        c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        learned = c.positions == "learned"
        self.pos_emb = nn.Embedding(c.block_size, c.d_model) if learned else None
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            Block(
                c.d_model,
                c.n_head,
                c.n_kv_head,
                d_hidden=c.ffn_hidden,
                activation=c.activation,
                norm=c.norm,
                prenorm=c.prenorm,
                dropout=c.dropout,
                attention=c.attention,
                attention_fn=attention_fn,
                rope_base=c.rope_base if c.positions == "rope" else None,
                bias=c.bias,
                norm_eps=c.norm_eps,
            )
            for _ in range(c.n_layer)
        )
        self.norm = make_norm(c.norm, c.d_model, eps=c.norm_eps, bias=c.bias)
        self.head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        if c.tie_head:
            self.head.weight = self.tok_emb.weight  # weight tying
        self.apply(_init_weights)

    def num_params(self) -> int:
        """Parameters, counting the tied embedding once."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: Tensor, cache: KVCache | None = None) -> Tensor:
        """idx: (B, T) token ids with T <= block_size -> logits (B, T, vocab_size).

        With ``cache``, ``idx`` continues the positions already cached: their keys and
        values are read from it, the new ones written to it, and its length advances by T.
        The cache checks its own bounds (its length stays on the device, unread).
        """
        if idx.dim() != 2:
            raise ValueError(f"idx must have shape (B, T), got {tuple(idx.shape)}")
        length = idx.shape[1]
        if length > self.config.block_size:
            raise ValueError(
                f"sequence length {length} exceeds block_size {self.config.block_size}"
            )
        x = self.tok_emb(idx)  # (B, T, C)
        if self.pos_emb is not None:
            positions = torch.arange(length, device=idx.device)  # (T,)
            if cache is not None:
                positions = positions + cache.length  # continue after the cached positions
            x = x + self.pos_emb(positions)  # (B, T, C)
        x = self.drop(x)
        for layer, block in enumerate(self.blocks):
            x = block(x, is_causal=True, cache=cache, layer=layer)  # (B, T, C)
        if cache is not None:
            cache.advance(length)
        return self.head(self.norm(x))  # (B, T, vocab_size)


def _init_weights(module: nn.Module) -> None:
    """Small normal weights (std 0.02) and zero biases, as in GPT-2."""
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
