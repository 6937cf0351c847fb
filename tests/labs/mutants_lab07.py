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
]
