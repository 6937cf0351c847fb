"""Planted bugs for lab 13: each must lose the points of the tests named in must_fail."""

from course.grading import Mutant

# The solution's layer with its forward pass rewritten; FORWARD_BODY is where bugs go.
_MOE_WITH = """
_SolutionMoE = MoE


class MoE(_SolutionMoE):
    def forward(self, x):
        tokens = x.reshape(-1, x.shape[-1])
        scores = self.router(tokens)
        weights, experts = top_k_router(scores, self.top_k)
        out = torch.zeros_like(tokens)
        for index, expert in enumerate(self.experts):
            token, choice = torch.nonzero(experts == index, as_tuple=True)
            if len(token):
                out.index_add_(0, token, GATE * expert(tokens[token]))
        self.aux_loss = load_balancing_loss(AUX_PROBS, experts)
        return out.reshape(x.shape)
"""


def _moe_with(
    gate: str = "weights[token, choice, None]", aux_probs: str = "torch.softmax(scores, -1)"
) -> str:
    return _MOE_WITH.replace("GATE", gate).replace("AUX_PROBS", aux_probs)


MUTANTS = [
    Mutant(
        name="router renormalises the weights over the k chosen experts",
        code="""
_solution_top_k_router = top_k_router


def top_k_router(router_logits, k):
    weights, experts = _solution_top_k_router(router_logits, k)
    return weights / weights.sum(dim=-1, keepdim=True), experts
""",
        must_fail=["test_top_k_router_matches_the_reference"],
    ),
    Mutant(
        name="router lists the chosen experts by index, not by probability",
        code="""
_solution_top_k_router = top_k_router


def top_k_router(router_logits, k):
    weights, experts = _solution_top_k_router(router_logits, k)
    experts, order = experts.sort(dim=-1)
    return weights.gather(-1, order), experts
""",
        must_fail=["test_top_k_router_matches_the_reference"],
    ),
    Mutant(
        name="load-balancing loss uses the probabilities for both f and P",
        code="""
def load_balancing_loss(probs, experts):
    mean_prob = probs.mean(dim=0)
    return probs.shape[-1] * (mean_prob * mean_prob).sum()
""",
        must_fail=["test_load_balancing_loss_matches_the_reference"],
    ),
    Mutant(
        name="load-balancing loss without the factor E",
        code="""
_solution_load_balancing_loss = load_balancing_loss


def load_balancing_loss(probs, experts):
    return _solution_load_balancing_loss(probs, experts) / probs.shape[-1]
""",
        must_fail=[
            "test_load_balancing_loss_matches_the_reference",
            "test_load_balancing_loss_is_one_when_uniform_and_e_when_collapsed",
        ],
    ),
    Mutant(
        name="MoE adds the experts' outputs without the router's weights",
        code=_moe_with(gate="1.0"),
        must_fail=["test_moe_matches_the_course_layer"],
    ),
    Mutant(
        name="MoE computes the aux loss on the router's raw scores",
        code=_moe_with(aux_probs="scores"),
        must_fail=["test_moe_keeps_its_load_balancing_loss"],
    ),
]
