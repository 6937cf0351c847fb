"""Graded tests for lab 3, "Skips, votes and masks" (19 points).

Each test receives `nb`, the executed notebook's namespace, and checks behaviour
only: values, shapes, predictions and the errors raised on bad input. The reference
model is computed here, independently of the notebook.
"""

from __future__ import annotations

import numpy as np

from course.grading import assert_close, must_raise, question

SENTENCES = [
    "check the program log and find out whether it ran please",
    "check the battery log and find out whether it ran down please",
]
VOCAB = sorted({word for sentence in SENTENCES for word in sentence.split()})
N = len(VOCAB)


def _feature(earlier: str, current: str) -> int:
    return VOCAB.index(earlier) * N + VOCAB.index(current)


def _reference_table(sentences: list[str]) -> np.ndarray:
    counts = np.zeros((N * N, N))
    for sentence in sentences:
        words = sentence.split()
        for t in range(len(words) - 1):
            for earlier in words[:t]:
                counts[_feature(earlier, words[t]), VOCAB.index(words[t + 1])] += 1
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def _reference_active(words: list[str]) -> np.ndarray:
    x = np.zeros(N * N)
    for earlier in words[:-1]:
        x[_feature(earlier, words[-1])] = 1.0
    return x


def _up_to_ran(sentence: str) -> list[str]:
    words = sentence.split()
    return words[: words.index("ran") + 1]


TABLE = _reference_table(SENTENCES)


# --- Question 1: skip_features ------------------------------------------------------------


@question("q1", points=2)
def test_skip_features_pair_the_current_word_with_every_earlier_word(nb):
    words = SENTENCES[0].split()
    t = words.index("ran")
    got = [tuple(pair) for pair in nb.skip_features(list(words), t)]
    expected = [(earlier, "ran") for earlier in words[:t]]
    assert got == expected, (
        f"skip_features(words, {t}) should be {expected[:3]}... ({len(expected)} pairs), got "
        f"{got[:3]}... ({len(got)} pairs). Hint: pair words[t] with words[s] for every s < t, "
        "never with itself."
    )


@question("q1", points=1, hidden=True)
def test_skip_features_edge_cases(nb):
    got = list(nb.skip_features(["check", "the"], 0))
    assert got == [], f"position 0 has no earlier word: expected [], got {got}"
    repeated = [tuple(p) for p in nb.skip_features(["it", "it", "ran"], 2)]
    assert repeated == [("it", "ran"), ("it", "ran")], (
        f"one pair per earlier position, repeats included: expected two ('it', 'ran'), "
        f"got {repeated}"
    )
    for bad in (2, 5, -1):
        must_raise(
            lambda t=bad: nb.skip_features(["check", "the"], t), f"skip_features(2 words, {bad})"
        )


# --- Question 2: vote_table ---------------------------------------------------------------


@question("q2", points=3)
def test_vote_table_matches_counting(nb):
    got = np.asarray(nb.vote_table(list(SENTENCES), list(VOCAB)))
    assert got.shape == (N * N, N), f"expected shape ({N * N}, {N}), got {got.shape}"
    battery_ran = got[_feature("battery", "ran")]
    assert np.isclose(battery_ran[VOCAB.index("down")], 1.0), (
        f"the feature (battery, ran) always saw 'down' next: its vote for 'down' should be 1.0, "
        f"got row {dict(zip(VOCAB, np.round(battery_ran, 3), strict=True))}"
    )
    check_ran = got[_feature("check", "ran")]
    assert np.allclose(check_ran[[VOCAB.index("down"), VOCAB.index("please")]], 0.5), (
        "the feature (check, ran) saw 'down' once and 'please' once: half a vote each, got "
        f"{dict(zip(VOCAB, np.round(check_ran, 3), strict=True))}"
    )
    assert_close(
        got,
        TABLE,
        what="vote_table of the two sentences (row = feature earlier * N + current)",
        hint="count each skip feature's next word, then divide each row by its sum",
    )


@question("q2", points=1, hidden=True)
def test_vote_table_rows_and_unknown_words(nb):
    got = np.asarray(nb.vote_table(["check it ran", "check it ran down"], list(VOCAB)))
    sums = got.sum(axis=1)
    assert np.all(np.isclose(sums, 0.0) | np.isclose(sums, 1.0)), (
        "every row should sum to 1 (a seen feature) or 0 (a feature never seen)"
    )
    assert np.allclose(got, _reference_table(["check it ran", "check it ran down"])), (
        "vote_table of ['check it ran', 'check it ran down'] differs from the reference"
    )
    must_raise(
        lambda: nb.vote_table(["check the toaster"], list(VOCAB)),
        "a sentence with the unknown word 'toaster'",
        mentioning="toaster",
    )


# --- Question 3: active_features, vote_totals, predict ----------------------------------


@question("q3", points=2)
def test_summed_votes_give_the_narrow_margin(nb):
    for sentence, winner, loser in [
        (SENTENCES[0], "please", "down"),
        (SENTENCES[1], "down", "please"),
    ]:
        words = _up_to_ran(sentence)
        expected = _reference_active(words) @ TABLE
        got = np.asarray(nb.vote_totals(list(words), list(VOCAB), TABLE))
        assert got.shape == (N,), f"vote_totals should have shape ({N},), got {got.shape}"
        assert_close(
            got,
            expected,
            what=f"vote_totals after '{' '.join(words)}' ({winner!r} is entry "
            f"{VOCAB.index(winner)}, {loser!r} entry {VOCAB.index(loser)})",
            hint="active_features(words, vocab) @ table",
        )
        guess = nb.predict(list(words), list(VOCAB), TABLE)
        assert guess == winner, f"after '{' '.join(words)}' predict should say {winner!r}"


@question("q3", points=1, hidden=True)
def test_active_features_edge_cases(nb):
    words = ["check", "it", "check", "it"]
    got = np.asarray(nb.active_features(words, list(VOCAB)))
    assert got.shape == (N * N,), f"expected shape ({N * N},), got {got.shape}"
    assert got[_feature("check", "it")] == 1.0 and got[_feature("it", "it")] == 1.0, (
        "a feature that occurs twice is still 1.0, and every earlier word is paired with the "
        "last word"
    )
    assert got.sum() == 2.0, f"['check', 'it', 'check', 'it'] has 2 distinct features, got {got}"
    must_raise(lambda: nb.active_features([], list(VOCAB)), "active_features([])")


# --- Question 4: masked_vote_totals --------------------------------------------------------


@question("q4", points=1)
def test_mask_hides_features(nb):
    mask = np.zeros(N * N)
    mask[_feature("battery", "ran")] = mask[_feature("program", "ran")] = 1.0
    for sentence in SENTENCES:
        words = _up_to_ran(sentence)
        expected = (_reference_active(words) * mask) @ TABLE
        got = np.asarray(nb.masked_vote_totals(list(words), list(VOCAB), TABLE, mask))
        assert_close(
            got,
            expected,
            what=f"masked_vote_totals after '{' '.join(words)}' keeping only (battery, ran) "
            "and (program, ran)",
            hint="multiply the active features by the mask entry by entry, then @ table",
        )


@question("q4", points=1, hidden=True)
def test_mask_of_ones_changes_nothing_and_bad_shapes_raise(nb):
    words = _up_to_ran(SENTENCES[1])
    got = np.asarray(nb.masked_vote_totals(list(words), list(VOCAB), TABLE, np.ones(N * N)))
    assert_close(
        got,
        _reference_active(words) @ TABLE,
        what="masked_vote_totals with a mask of ones",
        hint="a mask of ones keeps every feature: the totals equal the unmasked ones",
    )
    must_raise(
        lambda: nb.masked_vote_totals(list(words), list(VOCAB), TABLE, np.ones(N)),
        f"a mask of shape ({N},) instead of ({N * N},)",
    )


# --- Question 5: lookup_mask and feature_mask ----------------------------------------------


@question("q5", points=2)
def test_lookup_mask_selects_the_row(nb):
    rng = np.random.default_rng(4)
    masks = (rng.random((N, N)) > 0.5).astype(float)
    for word in ("ran", "it", "check"):
        got = np.asarray(nb.lookup_mask(word, list(VOCAB), masks))
        expected = masks[VOCAB.index(word)]
        assert np.array_equal(got, expected), (
            f"lookup_mask({word!r}) should be row {VOCAB.index(word)} of masks (the current "
            f"word's row), {expected}, got {got}"
        )
    spread = np.asarray(nb.feature_mask("ran", list(VOCAB), masks))
    expected = np.zeros(N * N)
    expected[VOCAB.index("ran") :: N] = masks[VOCAB.index("ran")]
    assert spread.shape == (N * N,) and np.array_equal(spread, expected), (
        "feature_mask('ran') should put masks[ran, e] at index e * N + ran and 0 elsewhere"
    )


@question("q5", points=1, hidden=True)
def test_lookup_mask_errors(nb):
    masks = np.ones((N, N))
    nb.lookup_mask("ran", list(VOCAB), masks)  # a valid call returns first
    must_raise(lambda: nb.lookup_mask("toaster", list(VOCAB), masks), "an unknown word", "toaster")
    must_raise(
        lambda: nb.lookup_mask("ran", list(VOCAB), np.ones((N, N + 1))), "masks of a wrong shape"
    )


# --- Question 6: decisive_masks and attend_and_predict ------------------------------------


@question("q6", points=2)
def test_both_sentences_predicted_with_an_unbounded_margin(nb):
    masks = np.asarray(nb.decisive_masks(TABLE, list(VOCAB)))
    for sentence, winner, loser in [
        (SENTENCES[0], "please", "down"),
        (SENTENCES[1], "down", "please"),
    ]:
        words = _up_to_ran(sentence)
        guess, totals = nb.attend_and_predict(list(words), list(VOCAB), TABLE, masks)
        totals = np.asarray(totals)
        assert guess == winner, f"after '{' '.join(words)}' the prediction should be {winner!r}"
        assert totals[VOCAB.index(winner)] > 0 and totals[VOCAB.index(loser)] == 0, (
            f"with the decisive masks, {loser!r} should get no vote at all and {winner!r} some; "
            f"got {totals[VOCAB.index(loser)]:g} and {totals[VOCAB.index(winner)]:g}"
        )


@question("q6", points=2, hidden=True)
def test_decisive_masks_values(nb):
    masks = np.asarray(nb.decisive_masks(TABLE, list(VOCAB)))
    assert masks.shape == (N, N), f"expected shape ({N}, {N}), got {masks.shape}"
    ran = masks[VOCAB.index("ran")]
    kept = [VOCAB[e] for e in np.flatnonzero(ran)]
    assert kept == ["battery", "program"], (
        f"the row of 'ran' should keep exactly battery and program, it keeps {kept}"
    )
    others = np.delete(masks, VOCAB.index("ran"), axis=0)
    assert np.all(others == 1.0), (
        "every other word's features all agree (or it has none), so its row should be all "
        "ones; rows with zeros: "
        f"{[w for w in VOCAB if w != 'ran' and masks[VOCAB.index(w)].min() < 1]}"
    )
