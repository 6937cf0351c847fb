"""Planted bugs for lab 7: each must lose the points of the tests named in must_fail."""

from course.grading import Mutant

MUTANTS = [
    Mutant(
        name="LayerNorm with the unbiased variance",
        code="""
def _forward(self, x):
    if x.shape[-1] != self.d_model:
        raise ValueError("width")
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


LayerNorm.forward = _forward
""",
        must_fail=["test_layer_norm_matches_nn_layer_norm"],
    ),
    Mutant(
        name="RMSNorm centres its input like LayerNorm",
        code="""
def _forward(self, x):
    if x.shape[-1] != self.d_model:
        raise ValueError("width")
    x = x - x.mean(dim=-1, keepdim=True)
    return x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight


RMSNorm.forward = _forward
""",
        must_fail=["test_rms_norm_matches_nn_rms_norm"],
    ),
    Mutant(
        name="SwiGLU gates with a sigmoid instead of SiLU",
        code="""
_ffn_forward = FeedForward.forward


def _forward(self, x):
    if self.activation == "swiglu":
        return self.down(torch.sigmoid(self.gate(x)) * self.up(x))
    return _ffn_forward(self, x)


FeedForward.forward = _forward
""",
        must_fail=["test_feed_forward_variants"],
    ),
    Mutant(
        name="post-LN block instead of pre-LN",
        code="""
def _forward(self, x, causal=True):
    mask = blocked_future(x.shape[1]) if causal else None
    x = self.ln1(x + self.attn(x, x, x, attn_mask=mask, need_weights=False)[0])
    return self.ln2(x + self.ffn(x))


Block.forward = _forward
""",
        must_fail=["test_block_matches_pre_ln_encoder_layer"],
    ),
    Mutant(
        name="block ignores causal and never masks",
        code="""
def _forward(self, x, causal=True):
    h = self.ln1(x)
    x = x + self.attn(h, h, h, need_weights=False)[0]
    return x + self.ffn(self.ln2(x))


Block.forward = _forward
""",
        must_fail=[
            "test_block_is_causal",
            "test_decoder_only_shapes_and_causality",
            "test_block_matches_pre_ln_encoder_layer",
        ],
    ),
    Mutant(
        name="decoder-only model without position embeddings or length check",
        code="""
def _forward(self, idx):
    x = self.tok_emb(idx)
    for block in self.blocks:
        x = block(x, causal=True)
    return self.head(self.ln_f(x))


DecoderOnly.forward = _forward
""",
        must_fail=["test_decoder_only_rejects_long_inputs"],
    ),
    Mutant(
        name="cross-attention reads the decoder instead of the memory",
        code="""
def _forward(self, x, memory):
    h = self.ln1(x)
    mask = blocked_future(x.shape[1])
    x = x + self.self_attn(h, h, h, attn_mask=mask, need_weights=False)[0]
    h = self.ln2(x)
    x = x + self.cross_attn(h, h, h, need_weights=False)[0]
    return x + self.ffn(self.ln3(x))


DecoderBlock.forward = _forward
""",
        must_fail=[
            "test_decoder_block_matches_pre_ln_decoder_layer",
            "test_trained_model_reverses_sequences",
            "test_encoder_decoder_reads_source_and_is_causal",
        ],
    ),
    Mutant(
        name="greedy decoding never feeds its predictions back",
        code="""
@torch.no_grad()
def greedy_decode(model, src):
    out = torch.full((src.shape[0], 1), BOS)
    logits = model(src, out.expand(-1, src.shape[1]))
    return logits.argmax(dim=-1)
""",
        must_fail=["test_trained_model_reverses_sequences"],
    ),
    # The mutants below rebind the notebook's names (a subclass, a new function) rather
    # than patch a class in place: a variant's names are put back after it is graded,
    # a patched class attribute is not, and would leak into the variants after it.
    Mutant(
        name="RMSNorm without eps under the square root (hidden test)",
        code="""
class RMSNorm(RMSNorm):
    def forward(self, x):
        if x.shape[-1] != self.d_model:
            raise ValueError("width")
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True)) * self.weight
""",
        must_fail=["test_rms_norm_eps_and_width_check"],
    ),
    Mutant(
        name="SwiGLU gates with GELU instead of SiLU",
        code="""
class FeedForward(FeedForward):
    def forward(self, x):
        if self.activation == "swiglu":
            return self.down(F.gelu(self.gate(x)) * self.up(x))
        return super().forward(x)
""",
        must_fail=["test_feed_forward_variants", "test_feed_forward_without_biases"],
    ),
    Mutant(
        name="FeedForward ignores bias=False",
        code="""
class FeedForward(FeedForward):
    def __init__(self, d_model, d_hidden, activation="gelu", bias=True):
        super().__init__(d_model, d_hidden, activation)
""",
        must_fail=["test_feed_forward_without_biases"],
    ),
    Mutant(
        name="RoPE pairs feature i with i + D/2 (rotate half)",
        code="""
def rope(x, positions, base=10000.0):
    D = x.shape[-1]
    if D % 2:
        raise ValueError("odd width")
    freqs = base ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
    angles = positions.to(torch.float64)[:, None] * freqs
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    first, second = x[..., : D // 2], x[..., D // 2 :]
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)
""",
        must_fail=["test_rope_matches_the_rotation_formula"],
    ),
    Mutant(
        name="RoPE turns the wrong way",
        code="""
_rope = rope


def rope(x, positions, base=10000.0):
    return _rope(x, -positions, base)
""",
        must_fail=["test_rope_matches_the_rotation_formula"],
    ),
    Mutant(
        name="RoPE pads an odd width instead of refusing it (hidden test)",
        code="""
_rope = rope


def rope(x, positions, base=10000.0):
    if x.shape[-1] % 2:
        padded = torch.cat([x, torch.zeros_like(x[..., :1])], dim=-1)
        return _rope(padded, positions, base)[..., :-1]
    return _rope(x, positions, base)
""",
        must_fail=["test_rope_rejects_odd_width"],
    ),
    Mutant(
        name="repeat_kv tiles the heads (0, 1, 0, 1) instead of repeating each (0, 0, 1, 1)",
        code="""
def repeat_kv(x, n_rep):
    return x.repeat(1, n_rep, 1, 1)
""",
        must_fail=["test_repeat_kv_repeats_each_head_in_a_row"],
    ),
    Mutant(
        name="RoPE on the values too",
        code="""
class GroupedQueryAttention(GroupedQueryAttention):
    def forward(self, x, positions=None):
        B, T, _ = x.shape
        if positions is None:
            positions = torch.arange(T)
        q = self.q_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        q, k = rope(q, positions), rope(k, positions)
        v = rope(v, positions)
        n_rep = self.n_head // self.n_kv_head
        k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o_proj(out.transpose(1, 2).reshape(B, T, -1))
""",
        must_fail=[
            "test_grouped_query_attention_matches_the_reference",
            "test_grouped_query_attention_positions_and_errors",
            "test_llama_block_sees_only_relative_positions",
        ],
    ),
    Mutant(
        name="grouped-query attention without the causal mask",
        code="""
class GroupedQueryAttention(GroupedQueryAttention):
    def forward(self, x, positions=None):
        B, T, _ = x.shape
        if positions is None:
            positions = torch.arange(T)
        q = self.q_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        q, k = rope(q, positions), rope(k, positions)
        n_rep = self.n_head // self.n_kv_head
        k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=False)
        return self.o_proj(out.transpose(1, 2).reshape(B, T, -1))
""",
        must_fail=[
            "test_grouped_query_attention_matches_the_reference",
            "test_grouped_query_attention_positions_and_errors",
        ],
    ),
    Mutant(
        name="attention ignores the positions it is given",
        code="""
class GroupedQueryAttention(GroupedQueryAttention):
    def forward(self, x, positions=None):
        B, T, _ = x.shape
        if positions is None:
            positions = torch.arange(T)
        q = self.q_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        q, k = rope(q, torch.arange(T)), rope(k, torch.arange(T))
        n_rep = self.n_head // self.n_kv_head
        k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o_proj(out.transpose(1, 2).reshape(B, T, -1))
""",
        must_fail=[
            "test_grouped_query_attention_positions_and_errors",
            "test_llama_block_sees_only_relative_positions",
        ],
    ),
    Mutant(
        name="attention accepts head counts that do not divide (hidden test)",
        code="""
class GroupedQueryAttention(GroupedQueryAttention):
    def __init__(self, d_model, n_head, n_kv_head):
        nn.Module.__init__(self)
        self.n_head, self.n_kv_head = n_head, n_kv_head
        self.head_dim = d_model // n_head
        self.q_proj = nn.Linear(d_model, n_head * self.head_dim, bias=False)
        self.k_proj = nn.Linear(d_model, n_kv_head * self.head_dim, bias=False)
        self.v_proj = nn.Linear(d_model, n_kv_head * self.head_dim, bias=False)
        self.o_proj = nn.Linear(n_head * self.head_dim, d_model, bias=False)
""",
        must_fail=["test_grouped_query_attention_positions_and_errors"],
    ),
    Mutant(
        name="post-norm Llama block",
        code="""
class LlamaBlock(LlamaBlock):
    def forward(self, x, positions=None):
        x = self.attn_norm(x + self.attn(x, positions))
        return self.ffn_norm(x + self.ffn(x))
""",
        must_fail=[
            "test_llama_block_matches_the_reference",
            "test_llama_block_passes_eps_to_its_norms",
        ],
    ),
    Mutant(
        name="the feed-forward network reads the attention's norm",
        code="""
class LlamaBlock(LlamaBlock):
    def forward(self, x, positions=None):
        x = x + self.attn(self.attn_norm(x), positions)
        return x + self.ffn(self.attn_norm(x))
""",
        must_fail=[
            "test_llama_block_matches_the_reference",
            "test_llama_block_passes_eps_to_its_norms",
        ],
    ),
    Mutant(
        name="Llama block keeps its norms' default eps (hidden test)",
        code="""
class LlamaBlock(LlamaBlock):
    def __init__(self, d_model, n_head, n_kv_head, d_hidden, eps=1e-6):
        super().__init__(d_model, n_head, n_kv_head, d_hidden)
""",
        must_fail=["test_llama_block_passes_eps_to_its_norms"],
    ),
    Mutant(
        name="Llama block drops the positions (costs q12 only)",
        code="""
class LlamaBlock(LlamaBlock):
    def forward(self, x, positions=None):
        x = x + self.attn(self.attn_norm(x))
        return x + self.ffn(self.ffn_norm(x))
""",
        must_fail=["test_llama_block_sees_only_relative_positions"],
    ),
]
