"""Planted bugs for lab 4: each must lose the points of the tests named in must_fail."""

from course.grading import Mutant

MUTANTS = [
    Mutant(
        name="softmax without subtracting the maximum",
        code="""
def stable_softmax(scores, dim=-1):
    exps = torch.exp(scores)
    return exps / exps.sum(dim=dim, keepdim=True)
""",
        must_fail=["test_softmax_survives_huge_scores"],
    ),
    Mutant(
        name="softmax always normalises the last axis",
        code="""
def stable_softmax(scores, dim=-1):
    exps = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
    return exps / exps.sum(dim=-1, keepdim=True)
""",
        must_fail=["test_softmax_matches_torch_on_random_shapes"],
    ),
    Mutant(
        name="feature layer forgets the ReLU",
        code="""
def feature_layer(inputs, W, b):
    if inputs.shape[-1] != W.shape[0] or b.shape != (W.shape[1],):
        raise ValueError("shapes")
    return inputs @ W + b
""",
        must_fail=[
            "test_feature_layer_matches_linear_then_relu",
            "test_feature_layer_builds_an_and",
        ],
    ),
    Mutant(
        name="feature layer applies the ReLU before the bias",
        code="""
def feature_layer(inputs, W, b):
    if inputs.shape[-1] != W.shape[0] or b.shape != (W.shape[1],):
        raise ValueError("shapes")
    return torch.relu(inputs @ W) + b
""",
        must_fail=["test_feature_layer_builds_an_and"],
    ),
    Mutant(
        name="hand-set weights with no (program, ran) feature",
        code="""
_solution_hand_set_params = hand_set_params


def hand_set_params():
    p = _solution_hand_set_params()
    p["W_2"][N + 1] = 0.0
    return p
""",
        must_fail=["test_hand_set_weights_predict_every_position"],
    ),
    Mutant(
        name="hand-set attention too soft to be confident",
        code="""
_solution_hand_set_params = hand_set_params


def hand_set_params():
    p = _solution_hand_set_params()
    p["W_K"] = p["W_K"] / 100
    return p
""",
        must_fail=["test_hand_set_weights_are_confident_after_ran"],
    ),
    Mutant(
        name="training never steps the optimiser",
        code="""
_solution_train = train


def train(seed, steps=300):
    return _solution_train(seed, steps=0)
""",
        must_fail=["test_training_reaches_full_accuracy_quickly"],
    ),
    Mutant(
        name="training ignores its seed",
        code="""
_solution_train = train


def train(seed, steps=300):
    return _solution_train(0, steps)
""",
        must_fail=["test_training_starts_from_a_random_seeded_point"],
    ),
]
