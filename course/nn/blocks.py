"""The transformer block: attention and feed-forward, each wrapped in a norm and a skip."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor, nn

from course.nn.attention import AttentionFn, MultiHeadAttention
from course.nn.feedforward import FeedForward
from course.nn.norms import make_norm

if TYPE_CHECKING:
    from course.nn.kv_cache import KVCache


class Block(nn.Module):
    """One transformer block.

    Pre-LN (the default): x + attn(norm(x)), then x + ffn(norm(x)). Post-LN
    (``prenorm=False``, the 2017 original): norm(x + attn(x)), then norm(x + ffn(x)).
    With ``cross_attention=True`` a second attention sub-layer reads ``context`` (the
    encoder's output) between self-attention and the feed-forward network.
    ``rope_base`` turns on RoPE in self-attention; ``bias=False`` drops the biases of
    every linear layer and norm; ``norm_eps=None`` keeps each norm's usual epsilon.
    """

    def __init__(
        self,
        d_model: int,
        n_head: int,
        n_kv_head: int | None = None,
        *,
        d_hidden: int | None = None,
        activation: str = "gelu",
        norm: str = "layer",
        prenorm: bool = True,
        cross_attention: bool = False,
        dropout: float = 0.0,
        attention: str = "sdpa",
        attention_fn: AttentionFn | None = None,
        rope_base: float | None = None,
        bias: bool = True,
        norm_eps: float | None = None,
    ) -> None:
        super().__init__()
        self.prenorm = prenorm
        self.self_attn = MultiHeadAttention(
            d_model, n_head, n_kv_head, dropout=dropout, bias=bias, backend=attention,
            attention_fn=attention_fn, rope_base=rope_base,
        )  # fmt: skip
        self.norm1 = make_norm(norm, d_model, eps=norm_eps, bias=bias)
        self.cross_attn = (
            MultiHeadAttention(d_model, n_head, n_kv_head, dropout=dropout, bias=bias)
            if cross_attention
            else None
        )
        self.norm_cross = (
            make_norm(norm, d_model, eps=norm_eps, bias=bias) if cross_attention else None
        )
        self.ffn = FeedForward(d_model, d_hidden, activation, dropout=dropout, bias=bias)
        self.norm2 = make_norm(norm, d_model, eps=norm_eps, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def _sublayer(self, x: Tensor, norm: nn.Module, f: nn.Module, *args, **kwargs) -> Tensor:
        """Apply f with a skip connection, normalising before (pre-LN) or after (post-LN)."""
        if self.prenorm:
            return x + self.dropout(f(norm(x), *args, **kwargs))
        return norm(x + self.dropout(f(x, *args, **kwargs)))

    def forward(
        self,
        x: Tensor,
        context: Tensor | None = None,
        *,
        is_causal: bool = False,
        mask: Tensor | None = None,
        context_mask: Tensor | None = None,
        cache: KVCache | None = None,
        layer: int = 0,
    ) -> Tensor:
        """x: (B, T, C), context: (B, S, C) for cross-attention. Returns (B, T, C).

        With ``cache``, self-attention reads and extends the cache's ``layer``.
        """
        x = self._sublayer(
            x, self.norm1, self.self_attn, mask=mask, is_causal=is_causal, cache=cache, layer=layer
        )
        if self.cross_attn is not None:
            if context is None:
                raise ValueError("a block with cross-attention needs a context")
            x = self._sublayer(x, self.norm_cross, self.cross_attn, context, mask=context_mask)
        return self._sublayer(x, self.norm2, self.ffn)
