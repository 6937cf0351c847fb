"""Planted bugs for lab 9: each must lose the points of the tests named in must_fail."""

from course.grading import Mutant

MUTANTS = [
    Mutant(
        name="label smoothing spreads over the wrong classes only",
        code="""
def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0):
    log_probs = logits - logits.logsumexp(dim=-1, keepdim=True)
    keep = targets != ignore_index
    log_probs, targets = log_probs[keep], targets[keep]
    nll = -log_probs.gather(1, targets[:, None]).squeeze(1)
    others = (-log_probs.sum(dim=-1) - nll) / (logits.shape[-1] - 1)
    return ((1 - label_smoothing) * nll + label_smoothing * others).mean()
""",
        must_fail=["test_cross_entropy_label_smoothing"],
    ),
    Mutant(
        name="ignored positions still count in the mean",
        code="""
def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0):
    log_probs = logits - logits.logsumexp(dim=-1, keepdim=True)
    keep = targets != ignore_index
    safe = targets.clamp(min=0) * keep
    nll = -log_probs.gather(1, safe[:, None]).squeeze(1) * keep
    smooth = -log_probs.mean(dim=-1) * keep
    return ((1 - label_smoothing) * nll + label_smoothing * smooth).mean()
""",
        must_fail=["test_cross_entropy_ignore_index"],
    ),
    Mutant(
        name="get_batch never draws the last window",
        code="""
_get_batch = get_batch


def get_batch(ids, block_size, batch_size, generator=None):
    return _get_batch(ids[:-1], block_size, batch_size, generator)
""",
        must_fail=["test_get_batch_draws_the_stated_starts"],
    ),
    Mutant(
        name="targets are the inputs themselves",
        code="""
_get_batch = get_batch


def get_batch(ids, block_size, batch_size, generator=None):
    x, _ = _get_batch(ids, block_size, batch_size, generator)
    return x, x.clone()
""",
        must_fail=["test_get_batch_shapes_and_shift", "test_get_batch_draws_the_stated_starts"],
    ),
    Mutant(
        name="linear decay instead of cosine",
        code="""
def learning_rate(step, max_lr, min_lr, warmup, total):
    if step < warmup:
        return max_lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / (total - warmup))
    return max_lr - (max_lr - min_lr) * progress
""",
        must_fail=["test_learning_rate_values"],
    ),
    Mutant(
        name="each gradient clipped on its own",
        code="""
def clip_grad_norm(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.sqrt(sum(g.pow(2).sum() for g in grads))
    for g in grads:
        g.mul_((max_norm / (g.norm() + 1e-6)).clamp(max=1.0))
    return total
""",
        must_fail=["test_clip_grad_norm_matches_pytorch"],
    ),
    Mutant(
        name="training loop never zeroes the gradients",
        code="""
def train(model, ids, steps, *, batch_size=64, max_lr=5e-3, min_lr=5e-4, warmup=20,
          max_norm=1.0, generator=None):
    optimizer = torch.optim.AdamW(model.parameters(), lr=max_lr, betas=(0.9, 0.95),
                                  weight_decay=0.1)
    losses = []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, max_lr, min_lr, warmup, steps)
        x, y = get_batch(ids, model.config.block_size, batch_size, generator)
        loss = cross_entropy(model(x).flatten(0, 1), y.flatten())
        loss.backward()
        clip_grad_norm(model.parameters(), max_norm)
        optimizer.step()
        losses.append(loss.item())
    return losses
""",
        must_fail=["test_train_matches_the_reference_loop"],
    ),
    Mutant(
        name="clipping switched off (costs q4 only: q5 runs on the course's clip_grad_norm)",
        code="""
_clip = clip_grad_norm


def clip_grad_norm(parameters, max_norm):
    return _clip(parameters, float("inf"))
""",
        must_fail=["test_clip_grad_norm_matches_pytorch"],
    ),
    Mutant(
        name="cross_entropy by the banned F.cross_entropy (costs q1 only)",
        code="""
def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0):
    if logits.dim() != 2 or targets.shape != logits.shape[:1]:
        raise ValueError("logits (N, V) and targets (N,)")
    return F.cross_entropy(
        logits, targets, ignore_index=ignore_index, label_smoothing=label_smoothing
    )
""",
        must_fail=[
            "test_cross_entropy_matches_pytorch",
            "test_cross_entropy_label_smoothing",
            "test_cross_entropy_ignore_index",
            "test_cross_entropy_is_stable_and_checks_shapes",
        ],
    ),
    Mutant(
        name="clip_grad_norm by the banned clip_grad_norm_ (costs q4 only)",
        code="""
def clip_grad_norm(parameters, max_norm):
    return torch.nn.utils.clip_grad_norm_(list(parameters), max_norm)
""",
        must_fail=[
            "test_clip_grad_norm_matches_pytorch",
            "test_clip_grad_norm_skips_missing_gradients",
        ],
    ),
    Mutant(
        name="clipping rescales even a norm below max_norm",
        code="""
def clip_grad_norm(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.sqrt(sum(g.pow(2).sum() for g in grads))
    for g in grads:
        g.mul_(max_norm / (total + 1e-6))
    return total
""",
        must_fail=["test_clip_grad_norm_matches_pytorch"],
    ),
    # The AdamW mutants rebind the name AdamW to a subclass rather than patch the class in
    # place: a variant's names are put back after it is graded, a patched attribute is not.
    Mutant(
        name="Adam with L2 regularisation: the decay goes through m and v",
        code="""
class AdamW(AdamW):
    @torch.no_grad()
    def step(self):
        decay, self.weight_decay = self.weight_decay, 0.0
        for p in self.params:
            if p.grad is not None:
                p.grad.add_(p, alpha=decay)
        super().step()
        self.weight_decay = decay
""",
        must_fail=[
            "test_adamw_matches_pytorch_step_by_step",
            "test_adamw_follows_lr_changes_and_skips_missing_gradients",
        ],
    ),
    Mutant(
        name="AdamW without bias correction",
        code="""
class AdamW(AdamW):
    @torch.no_grad()
    def step(self):
        beta1, beta2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is not None:
                p.mul_(1 - self.lr * self.weight_decay)
                self.m[i].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                self.v[i].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                p.sub_(self.lr * self.m[i] / (self.v[i].sqrt() + self.eps))
""",
        must_fail=[
            "test_adamw_matches_pytorch_step_by_step",
            "test_adamw_follows_lr_changes_and_skips_missing_gradients",
        ],
    ),
    Mutant(
        name="AdamW with eps inside the square root",
        code="""
class AdamW(AdamW):
    @torch.no_grad()
    def step(self):
        beta1, beta2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is not None:
                self.steps[i] += 1
                t = self.steps[i]
                p.mul_(1 - self.lr * self.weight_decay)
                self.m[i].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                self.v[i].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                v_hat = self.v[i] / (1 - beta2**t)
                p.sub_(self.lr * self.m[i] / (1 - beta1**t) / (v_hat + self.eps).sqrt())
""",
        must_fail=["test_adamw_matches_pytorch_step_by_step"],
    ),
    Mutant(
        name="AdamW counts one step for all parameters (hidden test)",
        code="""
class AdamW(AdamW):
    def step(self):
        done = max(self.steps)
        self.steps = [done] * len(self.steps)
        super().step()
""",
        must_fail=["test_adamw_follows_lr_changes_and_skips_missing_gradients"],
    ),
    Mutant(
        name="AdamW keeps the learning rate it was built with (hidden test)",
        code="""
class AdamW(AdamW):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.first_lr = self.lr

    def step(self):
        self.lr = self.first_lr
        super().step()
""",
        must_fail=["test_adamw_follows_lr_changes_and_skips_missing_gradients"],
    ),
    Mutant(
        name="AdamW.zero_grad leaves the gradients",
        code="""
class AdamW(AdamW):
    def zero_grad(self):
        pass
""",
        must_fail=["test_adamw_zero_grad_clears_the_gradients"],
    ),
    Mutant(
        name="AdamW by subclassing the banned torch.optim.AdamW (costs q6 only)",
        code="""
class AdamW(torch.optim.AdamW):
    @property
    def lr(self):
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        for group in self.param_groups:
            group["lr"] = value
""",
        must_fail=[
            "test_adamw_matches_pytorch_step_by_step",
            "test_adamw_zero_grad_clears_the_gradients",
            "test_adamw_follows_lr_changes_and_skips_missing_gradients",
        ],
    ),
]
