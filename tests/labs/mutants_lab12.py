"""Planted bugs for lab 12: each must lose the points of the tests named in must_fail."""

from course.grading import Mutant

MUTANTS = [
    Mutant(
        name="every chosen position becomes [MASK]: no random or kept tokens",
        code="""
def mask_tokens(ids, n_ordinary, mask_id, generator=None):
    chosen = (ids < n_ordinary) & (torch.rand(ids.shape, generator=generator) < 0.15)
    inputs = torch.where(chosen, torch.full_like(ids, mask_id), ids)
    return inputs, torch.where(chosen, ids, torch.full_like(ids, IGNORE))
""",
        must_fail=["test_mask_tokens_proportions"],
    ),
    Mutant(
        name="special tokens can be chosen",
        code="""
def mask_tokens(ids, n_ordinary, mask_id, generator=None):
    chosen = torch.rand(ids.shape, generator=generator) < 0.15
    how = torch.rand(ids.shape, generator=generator)
    random_ids = torch.randint(n_ordinary, ids.shape, generator=generator)
    inputs = ids.clone()
    inputs[chosen & (how < 0.8)] = mask_id
    randomised = chosen & (how >= 0.8) & (how < 0.9)
    inputs[randomised] = random_ids[randomised]
    return inputs, torch.where(chosen, ids, torch.full_like(ids, IGNORE))
""",
        must_fail=["test_mask_tokens_never_chooses_special_tokens_and_uses_the_generator"],
    ),
    Mutant(
        name="random numbers from the global generator, not the one given",
        code="""
_mask_tokens = mask_tokens


def mask_tokens(ids, n_ordinary, mask_id, generator=None):
    return _mask_tokens(ids, n_ordinary, mask_id, None)
""",
        must_fail=["test_mask_tokens_never_chooses_special_tokens_and_uses_the_generator"],
    ),
    Mutant(
        name="random replacements drawn from the whole vocabulary, specials included",
        code="""
def mask_tokens(ids, n_ordinary, mask_id, generator=None):
    chosen = (ids < n_ordinary) & (torch.rand(ids.shape, generator=generator) < 0.15)
    how = torch.rand(ids.shape, generator=generator)
    random_ids = torch.randint(n_ordinary + 3, ids.shape, generator=generator)
    inputs = ids.clone()
    inputs[chosen & (how < 0.8)] = mask_id
    randomised = chosen & (how >= 0.8) & (how < 0.9)
    inputs[randomised] = random_ids[randomised]
    return inputs, torch.where(chosen, ids, torch.full_like(ids, IGNORE))
""",
        must_fail=["test_mask_tokens_proportions"],
    ),
    Mutant(
        name="loss averaged over every position",
        code="""
def mlm_loss(logits, targets):
    chosen = targets != IGNORE
    if not chosen.any():
        raise ValueError("nothing chosen")
    log_p = logits.log_softmax(dim=-1)
    nll = -log_p.gather(-1, targets.clamp(min=0)[..., None])[..., 0] * chosen
    return nll.mean()
""",
        must_fail=["test_mlm_loss_matches_cross_entropy_over_chosen_positions"],
    ),
    Mutant(
        name="loss with nothing chosen returns nan instead of raising",
        code="""
def mlm_loss(logits, targets):
    chosen = targets != IGNORE
    log_p = logits[chosen].log_softmax(dim=-1)
    return -log_p.gather(1, targets[chosen][:, None]).mean()
""",
        must_fail=["test_mlm_loss_without_chosen_positions_raises"],
    ),
    Mutant(
        name="encoder layer with a causal mask",
        code="""
_layer_forward = EncoderLayer.forward


def _forward(self, x, keep=None):
    T = x.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    keep = torch.ones(x.shape[:2], dtype=torch.bool) if keep is None else keep
    B, T, C = x.shape
    D = C // self.n_head
    q, k, v = self.in_proj(self.norm1(x)).split(C, dim=-1)
    q, k, v = (t.view(B, T, self.n_head, D).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-2, -1) / math.sqrt(D)
    scores = scores.masked_fill(~(keep[:, None, None, :] & causal), float("-inf"))
    out = scores.softmax(dim=-1) @ v
    x = x + self.out_proj(out.transpose(1, 2).reshape(B, T, C))
    return x + self.linear2(F.gelu(self.linear1(self.norm2(x))))


EncoderLayer.forward = _forward
""",
        must_fail=["test_encoder_layer_matches_transformer_encoder_layer"],
    ),
    Mutant(
        name="encoder layer ignores keep: padding is attended to",
        code="""
_layer_forward = EncoderLayer.forward


def _forward(self, x, keep=None):
    return _layer_forward(self, x)


EncoderLayer.forward = _forward
""",
        must_fail=["test_encoder_layer_hides_padding"],
    ),
    Mutant(
        name="scores not divided by the square root of the head size",
        code="""
def _forward(self, x, keep=None):
    B, T, C = x.shape
    D = C // self.n_head
    q, k, v = self.in_proj(self.norm1(x)).split(C, dim=-1)
    q, k, v = (t.view(B, T, self.n_head, D).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-2, -1)
    if keep is not None:
        scores = scores.masked_fill(~keep[:, None, None, :], float("-inf"))
    out = scores.softmax(dim=-1) @ v
    x = x + self.out_proj(out.transpose(1, 2).reshape(B, T, C))
    return x + self.linear2(F.gelu(self.linear1(self.norm2(x))))


EncoderLayer.forward = _forward
""",
        must_fail=["test_encoder_layer_matches_transformer_encoder_layer"],
    ),
    Mutant(
        name="pooled head averages every position instead of reading [CLS]",
        code="""
def _forward(self, hidden):
    return self.out(torch.tanh(self.pool(hidden.mean(dim=1))))


PooledClassifier.forward = _forward
""",
        must_fail=["test_pooled_classifier_reads_the_first_position"],
    ),
    Mutant(
        name="an untrained model handed in",
        code="""
torch.manual_seed(1)
model = MaskedEncoder(V + 3, BLOCK, d_model=64, n_head=4, n_layer=1).eval()
""",
        must_fail=["test_trained_encoder_beats_the_unigram_at_filling_in"],
    ),
]
