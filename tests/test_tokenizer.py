"""Tests of course.tokenizer: exact merges, ties, round trips, special tokens, errors."""

from __future__ import annotations

import random

import pytest

from course import data
from course.tokenizer import (
    SPLIT_PATTERN,
    BPETokenizer,
    chunks,
    merge_pair,
    train_bpe,
    train_bpe_naive,
)


def random_unicode(rng: random.Random, length: int) -> str:
    """Text mixing ASCII, accents, CJK, emoji, combining marks and white space."""
    pools = [
        "abcxyz_ 019\n\t(){}:=.,'\"#",
        "éèçñüßøåÆŒ",
        "日本語の文字列漢字",
        "😀🐍🚀👍🏽",
        "\u0301\u0308\u200d\u00a0\u2028",
    ]
    out = []
    for _ in range(length):
        pool = rng.choice(pools)
        out.append(rng.choice(pool))
    return "".join(out)


def test_merge_pair_is_left_to_right_and_non_overlapping() -> None:
    assert merge_pair([1, 1, 1], (1, 1), 9) == [9, 1]
    assert merge_pair([1, 1, 1, 1], (1, 1), 9) == [9, 9]
    assert merge_pair([1, 2, 3, 1, 2], (1, 2), 7) == [7, 3, 7]
    assert merge_pair([], (1, 2), 7) == []


def test_textbook_example_merges() -> None:
    # aa -> 256, then ab (a tie with "256 a", broken by the smaller pair), then 256 257.
    assert train_bpe("aaabdaaabac", 259, pattern=None) == [(97, 97), (97, 98), (256, 257)]


def test_training_stops_when_nothing_is_left_to_merge() -> None:
    assert train_bpe("abab", 1000, pattern=None) == [(97, 98), (256, 256)]
    assert train_bpe("", 300) == []
    assert train_bpe("x", 300) == []


def test_ties_go_to_the_smallest_pair_not_the_first_seen() -> None:
    # Every pair occurs once; (97, 98) = "ab" comes last in the text but is smallest.
    assert train_bpe("xyab", 257, pattern=None) == [(97, 98)]
    shuffled = ["ba", "dc", "ab", "cd"]
    for seed in range(5):
        random.Random(seed).shuffle(shuffled)
        text = "".join(" " + word for word in shuffled)
        assert train_bpe(text, 262) == train_bpe(" ab ba cd dc", 262)


def test_chunks_never_share_a_merge() -> None:
    # "a b" splits into "a" and " b": the pair (a, space) is never counted.
    merges = train_bpe("a b a b a b", 300)
    assert (97, 32) not in merges
    assert merges[0] == (32, 98)


def test_incremental_training_equals_full_recount() -> None:
    text = data.python_source()[:20_000]
    assert train_bpe(text, 400) == train_bpe_naive(text, 400)
    rng = random.Random(1)
    for _ in range(5):
        sample = "".join(rng.choice("aab ") for _ in range(300))
        for pattern in (SPLIT_PATTERN, None):
            assert train_bpe(sample, 300, pattern=pattern) == train_bpe_naive(
                sample, 300, pattern=pattern
            )


def test_training_is_deterministic() -> None:
    text = data.python_source()[:10_000]
    assert train_bpe(text, 330) == train_bpe(text, 330)


def test_chunks_join_back_into_any_text() -> None:
    rng = random.Random(0)
    for _ in range(50):
        text = random_unicode(rng, 80)
        assert "".join(chunks(text)) == text


@pytest.fixture(scope="module")
def tokenizer() -> BPETokenizer:
    return BPETokenizer.train(data.python_source()[:30_000], 500)


def test_round_trip_on_random_unicode(tokenizer: BPETokenizer) -> None:
    rng = random.Random(2)
    for _ in range(100):
        text = random_unicode(rng, rng.randrange(0, 60))
        ids = tokenizer.encode(text)
        assert all(0 <= i < tokenizer.vocab_size for i in ids)
        assert tokenizer.decode(ids) == text


def test_round_trip_on_python_and_compression(tokenizer: BPETokenizer) -> None:
    text = data.python_source()[40_000:50_000]
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert len(ids) < 0.5 * len(text.encode("utf-8"))


def test_vocab_size_counts_bytes_merges_and_specials(tokenizer: BPETokenizer) -> None:
    assert tokenizer.vocab_size == 500
    assert len(tokenizer.merges) == 500 - 256 - 1


def test_special_tokens_are_never_split(tokenizer: BPETokenizer) -> None:
    eot = tokenizer.vocab_size - 1
    text = "def f():<|endoftext|><|endoftext|>return 1<|endoftext|>"
    ids = tokenizer.encode(text)
    assert ids.count(eot) == 3
    assert tokenizer.decode(ids) == text
    assert tokenizer.encode("<|endoftext|>") == [eot]
    # A special token's text inside the training data is not learned as merges.
    trained = BPETokenizer.train("<|endoftext|>" * 50 + "ab", 270)
    assert trained.merges == [(97, 98)]


def test_several_special_tokens_longest_first() -> None:
    tok = BPETokenizer([], special_tokens=["<|a|>", "<|a|>x"])
    assert tok.encode("<|a|>x<|a|>") == [257, 256]
    assert tok.vocab_size == 258


def test_save_and_load(tokenizer: BPETokenizer, tmp_path) -> None:
    path = tmp_path / "tok.json"
    tokenizer.save(path)
    loaded = BPETokenizer.load(path)
    text = "for i in range(10):\n    print(i)  # ünïcode <|endoftext|>"
    assert loaded.encode(text) == tokenizer.encode(text)
    assert loaded.vocab_size == tokenizer.vocab_size


def test_decode_replaces_partial_utf8() -> None:
    tok = BPETokenizer([])
    assert tok.decode(list("é".encode())[:1]) == "\ufffd"


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: train_bpe("abc", 100), ValueError, "at least 256"),
        (lambda: train_bpe(b"abc", 300), TypeError, "must be a str"),
        (lambda: train_bpe("abc", 300.0), TypeError, "must be an int"),
        (lambda: BPETokenizer.train("abc", 256), ValueError, "at least 257"),
        (lambda: BPETokenizer([]).encode(None), TypeError, "must be a str"),
        (lambda: BPETokenizer([]).decode([257]), ValueError, "outside the vocabulary"),
        (lambda: BPETokenizer([]).decode([-1]), ValueError, "outside the vocabulary"),
        (lambda: BPETokenizer([]).decode(["a"]), TypeError, "ints"),
        (lambda: BPETokenizer([(1, 300)]), ValueError, "merge 0"),
        (lambda: BPETokenizer([], special_tokens=["", "x"]), ValueError, "special tokens"),
    ],
)
def test_bad_input_raises_a_clear_error(call, error, words) -> None:
    with pytest.raises(error, match=words):
        call()


def test_load_rejects_other_json(tmp_path) -> None:
    path = tmp_path / "other.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a tokenizer"):
        BPETokenizer.load(path)
