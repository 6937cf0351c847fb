"""Planted bugs for lab 11: each must lose the points of the tests named in must_fail."""

from course.grading import Mutant

MUTANTS = [
    Mutant(
        name="naive attention forgets to scale by sqrt(D)",
        code="""
def naive_attention(q, k, v, causal=False):
    scores = q @ k.transpose(-2, -1)
    if causal:
        scores = scores.masked_fill(~causal_mask(q.shape[2], k.shape[2]), float("-inf"))
    return torch.softmax(scores, dim=-1) @ v
""",
        must_fail=["test_naive_attention_matches_pytorch"],
    ),
    Mutant(
        name="online softmax never rescales what it summed under the old maximum",
        code="""
def tiled_attention(q, k, v, causal=False, block=16):
    scale = 1.0 / math.sqrt(q.shape[-1])
    row_max = torch.full(q.shape[:3], float("-inf"))
    row_sum = torch.zeros(q.shape[:3])
    acc = torch.zeros(q.shape)
    mask = causal_mask(q.shape[2], k.shape[2]) if causal else None
    for start in range(0, k.shape[2], block):
        scores = q.float() @ k[:, :, start : start + block].float().transpose(-2, -1) * scale
        if mask is not None:
            scores = scores.masked_fill(~mask[:, start : start + block], float("-inf"))
        new_max = torch.maximum(row_max, scores.amax(dim=-1))
        p = torch.exp(scores - new_max[..., None])
        row_sum = row_sum + p.sum(dim=-1)
        acc = acc + p @ v[:, :, start : start + block].float()
        row_max = new_max
    return (acc / row_sum[..., None]).to(q.dtype), row_max + torch.log(row_sum)
""",
        must_fail=["test_tiled_attention_matches_for_every_block_size"],
    ),
    Mutant(
        name="Triton kernel's causal mask hides each query's own key",
        code="""
_reference_flash_forward = flash_forward


def flash_forward(q, k, v, causal=False, block=16):
    if not causal:
        return _reference_flash_forward(q, k, v, False, block)
    t_q, t_k = q.shape[2], k.shape[2]
    shifted = torch.ones(t_q, t_k, dtype=torch.bool).tril(t_k - t_q - 1)
    scores = (q.float() @ k.float().transpose(-2, -1)) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~shifted, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)
    return torch.nan_to_num(torch.softmax(scores, dim=-1)) @ v.float(), lse
""",
        must_fail=["test_triton_kernel_matches_pytorch"],
    ),
    Mutant(
        name="Triton kernel ignores keys in the last partial tile",
        code="""
@triton.jit
def flash_kernel(Q, K, V, Out, LSE, t_q, t_k, scale,
                 CAUSAL: tl.constexpr, BLOCK: tl.constexpr, HEAD_DIM: tl.constexpr,
                 DOT_PRECISION: tl.constexpr):
    tile, bh = tl.program_id(0), tl.program_id(1)
    rows = tile * BLOCK + tl.arange(0, BLOCK)
    cols = tl.arange(0, BLOCK)
    dims = tl.arange(0, HEAD_DIM)
    q_base, k_base = bh * t_q * HEAD_DIM, bh * t_k * HEAD_DIM
    q_rows = rows[:, None] < t_q
    q = tl.load(Q + q_base + rows[:, None] * HEAD_DIM + dims[None, :], mask=q_rows, other=0.0)
    row_max = tl.full([BLOCK], float("-inf"), tl.float32)
    row_sum = tl.zeros([BLOCK], tl.float32)
    acc = tl.zeros([BLOCK, HEAD_DIM], tl.float32)
    for start in range(0, (t_k // BLOCK) * BLOCK, BLOCK):
        keys = start + cols
        k = tl.load(K + k_base + keys[None, :] * HEAD_DIM + dims[:, None])
        v = tl.load(V + k_base + keys[:, None] * HEAD_DIM + dims[None, :])
        scores = tl.dot(q, k, input_precision=DOT_PRECISION) * scale
        if CAUSAL:
            scores = tl.where(keys[None, :] <= rows[:, None] + (t_k - t_q), scores, float("-inf"))
        new_max = tl.maximum(row_max, tl.max(scores, 1))
        p = tl.exp(scores - new_max[:, None])
        rescale = tl.exp(row_max - new_max)
        row_sum = row_sum * rescale + tl.sum(p, 1)
        acc = acc * rescale[:, None] + tl.dot(p.to(v.dtype), v, input_precision=DOT_PRECISION)
        row_max = new_max
    out = acc / row_sum[:, None]
    out = out.to(Out.dtype.element_ty)
    tl.store(Out + q_base + rows[:, None] * HEAD_DIM + dims[None, :], out, mask=q_rows)
    tl.store(LSE + bh * t_q + rows, row_max + tl.log(row_sum), mask=rows < t_q)
""",
        must_fail=["test_triton_kernel_masks_tails_and_offsets"],
    ),
    Mutant(
        name="backward drops the rowsum(dO * O) term",
        code="""
def attention_backward(q, k, v, out, lse, grad_out, causal=False, block=16):
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = q.float() @ k.float().transpose(-2, -1) * scale
    if causal:
        scores = scores.masked_fill(~causal_mask(q.shape[2], k.shape[2]), float("-inf"))
    p = torch.exp(scores - lse[..., None])
    do = grad_out.float()
    d_scores = p * (do @ v.float().transpose(-2, -1)) * scale
    return d_scores @ k.float(), d_scores.transpose(-2, -1) @ q.float(), p.transpose(-2, -1) @ do
""",
        must_fail=["test_backward_matches_autograd", "test_flash_attention_trains_end_to_end"],
    ),
    Mutant(
        name="KV cache always writes at position 0",
        code="""
class KVCache(KVCache):
    def write(self, layer, k, v):
        t, max_len, length = k.shape[2], self.keys.shape[3], int(self.length)
        if length + t > max_len:
            raise ValueError("cache full")
        self.keys[layer, :, :, :t] = k
        self.values[layer, :, :, :t] = v
        queries = torch.arange(length, length + t)[:, None]
        return self.keys[layer], self.values[layer], torch.arange(max_len)[None, :] <= queries
""",
        must_fail=["test_cached_forward_gives_the_uncached_logits"],
    ),
    Mutant(
        name="generation samples even at temperature 0",
        code="""
_reference_generate = generate


def generate(model, prompt, max_new_tokens, use_cache=True, temperature=0.0, generator=None):
    gen = generator or torch.Generator().manual_seed(0)
    return _reference_generate(model, prompt, max_new_tokens, use_cache, temperature or 1.0, gen)
""",
        must_fail=["test_greedy_generation_is_identical_with_and_without_cache"],
    ),
    Mutant(
        name="learning rate warm-up starts from max_lr / warmup one step late",
        code="""
def learning_rate(step, warmup, total, max_lr, min_lr):
    if step < warmup:
        return max_lr * step / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_lr + (max_lr - min_lr) * (1 + math.cos(math.pi * progress)) / 2
""",
        must_fail=["test_learning_rate_warms_up_linearly"],
    ),
]
