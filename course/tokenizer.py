"""Byte-level byte pair encoding (BPE): training, encoding, decoding, special tokens.

Token ids 0 to 255 are the 256 byte values. Merge number ``i`` (counting from 0) joins a
pair of existing ids into the new id ``256 + i``. Special tokens, such as
``"<|endoftext|>"``, take the ids after the last merge and are never split.

Training first cuts the text into chunks (identifiers, numbers, runs of punctuation,
runs of white space; see :data:`SPLIT_PATTERN`), so that no token spans two chunks, and
counts how often each distinct chunk occurs. Merges are then learned on that table.

Ties are broken deterministically: the merged pair is the one with the highest count;
among equal counts, the smallest pair of ids ``(left, right)`` in tuple order wins.
"""

from __future__ import annotations

import heapq
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from itertools import pairwise
from pathlib import Path

Pair = tuple[int, int]

#: How text is cut into chunks before BPE: an optional space and an identifier (letters,
#: digits and underscores, not starting with a digit), an optional space and digits, an
#: optional space and a run of other visible symbols, or white space. Every character
#: falls in exactly one class, so the chunks always join back into the text.
SPLIT_PATTERN = r" ?[^\W\d]\w*| ?\d+| ?[^\s\w]+|\s+(?!\S)|\s+"

_SPLIT = re.compile(SPLIT_PATTERN)


def chunks(text: str, pattern: str | None = SPLIT_PATTERN) -> list[str]:
    """``text`` cut into pre-tokenization chunks; ``pattern=None`` keeps it whole."""
    if pattern is None:
        return [text] if text else []
    pieces = (_SPLIT if pattern == SPLIT_PATTERN else re.compile(pattern)).findall(text)
    if "".join(pieces) != text:
        raise ValueError("the split pattern must match every character of the text")
    return pieces


def _pair_counts(word: Sequence[int]) -> Counter[Pair]:
    """How often each adjacent pair occurs in one word."""
    return Counter(pairwise(word))


def merge_pair(word: Sequence[int], pair: Pair, new_id: int) -> list[int]:
    """``word`` with every occurrence of ``pair`` replaced by ``new_id``, left to right.

    Occurrences do not overlap: merging ``(a, a)`` in ``a a a`` gives ``aa a``.
    """
    merged: list[int] = []
    i = 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == pair[0] and word[i + 1] == pair[1]:
            merged.append(new_id)
            i += 2
        else:
            merged.append(word[i])
            i += 1
    return merged


def _check_training_input(text: str, vocab_size: int) -> int:
    """The number of merges to learn; raises on bad arguments."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        raise TypeError(f"vocab_size must be an int, not {type(vocab_size).__name__}")
    if vocab_size < 256:
        raise ValueError(f"vocab_size must be at least 256 (one id per byte), got {vocab_size}")
    return vocab_size - 256


def _word_table(
    text: str, pattern: str | None, special_tokens: Sequence[str]
) -> tuple[list[list[int]], list[int]]:
    """The distinct chunks of ``text`` as byte-id lists, and how often each occurs.

    The text is first cut at its special tokens, which are left out.
    """
    pieces = split_special(text, special_tokens)
    table = Counter(
        chunk for piece in pieces if piece not in special_tokens for chunk in chunks(piece, pattern)
    )
    words = [list(chunk.encode("utf-8")) for chunk in table]
    return words, list(table.values())


def split_special(text: str, special_tokens: Sequence[str]) -> list[str]:
    """``text`` cut before and after each special token (longest match first)."""
    if not special_tokens:
        return [text] if text else []
    by_length = sorted(special_tokens, key=len, reverse=True)
    splitter = "(" + "|".join(map(re.escape, by_length)) + ")"
    return [piece for piece in re.split(splitter, text) if piece]


def train_bpe(
    text: str,
    vocab_size: int,
    *,
    pattern: str | None = SPLIT_PATTERN,
    special_tokens: Sequence[str] = (),
) -> list[Pair]:
    """Learn up to ``vocab_size - 256`` merges on ``text``, each a pair of token ids.

    Pair counts are kept up to date incrementally: a merge re-counts only the distinct
    chunks that contain the merged pair, and a heap (with stale entries skipped) finds
    the next pair. Training stops early when no pair is left to merge. Occurrences of
    ``special_tokens`` are cut out of the text first, so no merge reaches into one.
    """
    n_merges = _check_training_input(text, vocab_size)
    words, freqs = _word_table(text, pattern, special_tokens)
    counts: Counter[Pair] = Counter()
    where: defaultdict[Pair, set[int]] = defaultdict(set)  # pair -> words that may hold it
    for index, (word, freq) in enumerate(zip(words, freqs, strict=True)):
        for pair, n in _pair_counts(word).items():
            counts[pair] += n * freq
            where[pair].add(index)
    heap = [(-n, pair) for pair, n in counts.items()]
    heapq.heapify(heap)

    merges: list[Pair] = []
    while len(merges) < n_merges and heap:
        negative_count, pair = heapq.heappop(heap)
        if counts.get(pair, 0) != -negative_count:
            continue  # stale entry: this pair's count changed after it was pushed
        new_id = 256 + len(merges)
        merges.append(pair)
        changed: set[Pair] = set()
        for index in where.pop(pair):
            word = words[index]
            before = _pair_counts(word)
            if pair not in before:
                continue  # an earlier merge already removed the pair from this word
            words[index] = merge_pair(word, pair, new_id)
            after = _pair_counts(words[index])
            for old, n in before.items():
                counts[old] -= n * freqs[index]
                changed.add(old)
            for new, n in after.items():
                counts[new] += n * freqs[index]
                where[new].add(index)
                changed.add(new)
        for other in changed:
            if counts[other] > 0:
                heapq.heappush(heap, (-counts[other], other))
            else:
                del counts[other]
    return merges


def train_bpe_naive(
    text: str,
    vocab_size: int,
    *,
    pattern: str | None = SPLIT_PATTERN,
    special_tokens: Sequence[str] = (),
) -> list[Pair]:
    """The same merges as :func:`train_bpe`, re-counting every pair before each merge.

    Kept as a readable reference and as the baseline of the tokenizer benchmark.
    """
    n_merges = _check_training_input(text, vocab_size)
    words, freqs = _word_table(text, pattern, special_tokens)
    merges: list[Pair] = []
    while len(merges) < n_merges:
        counts: Counter[Pair] = Counter()
        for word, freq in zip(words, freqs, strict=True):
            for pair, n in _pair_counts(word).items():
                counts[pair] += n * freq
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))
        words = [merge_pair(word, pair, 256 + len(merges)) for word in words]
        merges.append(pair)
    return merges


class BPETokenizer:
    """Encode text to token ids and back, with learned merges and special tokens.

    >>> tok = BPETokenizer.train("aaabdaaabac", 259)
    >>> tok.decode(tok.encode("aaab<|endoftext|>"))
    'aaab<|endoftext|>'
    """

    def __init__(
        self,
        merges: Iterable[Sequence[int]],
        special_tokens: Sequence[str] = ("<|endoftext|>",),
        *,
        pattern: str | None = SPLIT_PATTERN,
    ) -> None:
        self.merges: list[Pair] = []
        for i, merge in enumerate(merges):
            pair = tuple(merge)
            if len(pair) != 2 or not all(isinstance(t, int) and 0 <= t < 256 + i for t in pair):
                raise ValueError(f"merge {i} must be a pair of ids below {256 + i}, got {merge!r}")
            self.merges.append((pair[0], pair[1]))
        if len(set(special_tokens)) != len(special_tokens) or not all(special_tokens):
            raise ValueError(f"special tokens must be distinct non-empty strings: {special_tokens}")
        self.special_tokens = list(special_tokens)
        self.pattern = pattern
        self._rank = {pair: i for i, pair in enumerate(self.merges)}
        self._bytes = [bytes([b]) for b in range(256)]
        for left, right in self.merges:
            self._bytes.append(self._bytes[left] + self._bytes[right])
        first_special = 256 + len(self.merges)
        self._special_ids = {tok: first_special + i for i, tok in enumerate(special_tokens)}
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int,
        special_tokens: Sequence[str] = ("<|endoftext|>",),
        *,
        pattern: str | None = SPLIT_PATTERN,
    ) -> BPETokenizer:
        """A tokenizer of ``vocab_size`` ids in all: 256 bytes, merges, then specials.

        Special tokens are cut out of ``text`` before training, so no merge spans one.
        """
        n_special = len(special_tokens)
        if isinstance(vocab_size, int) and vocab_size < 256 + n_special:
            raise ValueError(
                f"vocab_size must be at least {256 + n_special} "
                f"(256 bytes + {n_special} special tokens), got {vocab_size}"
            )
        merges = train_bpe(
            text, vocab_size - n_special, pattern=pattern, special_tokens=special_tokens
        )
        return cls(merges, special_tokens, pattern=pattern)

    @property
    def vocab_size(self) -> int:
        """The number of distinct ids: 256 bytes, one per merge, one per special token."""
        return 256 + len(self.merges) + len(self.special_tokens)

    def token_bytes(self, token: int) -> bytes:
        """The bytes that id ``token`` stands for (a special token's UTF-8 text)."""
        if isinstance(token, bool) or not isinstance(token, int):
            raise TypeError(f"token ids are ints, got {type(token).__name__}")
        if 0 <= token < len(self._bytes):
            return self._bytes[token]
        special = token - len(self._bytes)
        if 0 <= special < len(self.special_tokens):
            return self.special_tokens[special].encode("utf-8")
        raise ValueError(f"token id {token} is outside the vocabulary 0..{self.vocab_size - 1}")

    def _encode_chunk(self, chunk: str) -> list[int]:
        """Apply the merges to one chunk, lowest rank first (cached)."""
        cached = self._cache.get(chunk)
        if cached is not None:
            return cached
        word = list(chunk.encode("utf-8"))
        while len(word) > 1:
            ranked = [(self._rank.get(p, len(self._rank)), p) for p in pairwise(word)]
            rank, pair = min(ranked)
            if rank == len(self._rank):
                break
            word = merge_pair(word, pair, 256 + rank)
        self._cache[chunk] = word
        return word

    def encode(self, text: str) -> list[int]:
        """The token ids of ``text``; special tokens in it become their single ids."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, not {type(text).__name__}")
        ids: list[int] = []
        for piece in split_special(text, self.special_tokens):
            if piece in self._special_ids:
                ids.append(self._special_ids[piece])
                continue
            for chunk in chunks(piece, self.pattern):
                ids.extend(self._encode_chunk(chunk))
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``. Bytes that are not valid UTF-8 become U+FFFD."""
        return b"".join(self.token_bytes(token) for token in ids).decode("utf-8", "replace")

    def to_dict(self) -> dict[str, object]:
        """Everything needed to rebuild the tokenizer, as plain JSON-ready values."""
        return {
            "format": "course.tokenizer/1",
            "pattern": self.pattern,
            "special_tokens": self.special_tokens,
            "merges": [list(pair) for pair in self.merges],
        }

    def save(self, path: str | Path) -> None:
        """Write the tokenizer to ``path`` as JSON."""
        Path(path).write_text(json.dumps(self.to_dict()) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        """Read a tokenizer written by :meth:`save`."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != "course.tokenizer/1":
            raise ValueError(f"{path} is not a tokenizer saved by course.tokenizer")
        return cls(data["merges"], data["special_tokens"], pattern=data["pattern"])
