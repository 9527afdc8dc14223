"""Arabic-aware tokens, sentences, normalization and BIO tags for the export.

Tokens split on white space and on Arabic and Latin punctuation (، ؛ ؟ « » “ ” ...),
keep numbers whole (ASCII and Arabic-Indic digits, with their decimal and
thousands separators), and are split again wherever a mention starts or ends
inside a word (clitics: ``لتنظيم داعش`` with the entity ``تنظيم داعش`` gives
``ل`` ``تنظيم`` ``داعش``). So every mention covers whole tokens.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import NamedTuple

from pyarabic import araby

NUMBER_SEPARATORS = ".,٫٬"  # 3.5 1,000 ٣٫٥ ١٬٠٠٠
SENTENCE_ENDS = ".!?؟…"


class Token(NamedTuple):  # a tuple: millions are made per export
    start: int
    end: int
    text: str


class Tokens(Sequence[Token]):
    """The tokens of one text as offset lists: cheap to build, sliced without making objects."""

    def __init__(self, text: str, starts: list[int], ends: list[int]) -> None:
        self.text, self.starts, self.ends = text, starts, ends

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> Token:  # type: ignore[override]
        if isinstance(i, slice):
            raise TypeError("slice Tokens with texts(), starts or ends")
        start, end = self.starts[i], self.ends[i]
        return Token(start, end, self.text[start:end])

    def texts(self, first: int = 0, last: int | None = None) -> list[str]:
        text = self.text
        return [text[a:b] for a, b in zip(self.starts[first:last], self.ends[first:last])]


_CHUNK = re.compile(r"\S+")
# A chunk made only of Arabic or Latin letters, Arabic marks and tatweel is one word: the common
# case, found in C. Only chunks holding another character are scanned character by character.
_OTHER = re.compile(r"[^\sA-Za-z\u0621-\u065F\u0670-\u06D3\u06D5\u06E5\u06E6\u06FA-\u06FC]")


@lru_cache(maxsize=4096)
def _kind(ch: str) -> str:
    if ch.isspace():
        return "space"
    category = unicodedata.category(ch)
    if category == "Nd":
        return "digit"
    if category[0] in "PS":
        return "mark"  # punctuation or symbol (emoji): a token of its own
    return "word"  # letters, combining marks (diacritics), tatweel, format characters


def tokenize(text: str, boundaries: Iterable[int] = ()) -> tuple[Tokens, int]:
    """Tokens of ``text``, split at every boundary offset; and how many boundaries split a word."""
    n = len(text)
    chunks = [m.span() for m in _CHUNK.finditer(text)]
    chunk_starts = [a for a, _ in chunks]
    mixed = sorted({bisect_right(chunk_starts, m.start()) - 1 for m in _OTHER.finditer(text)})
    spans: list[tuple[int, int]] = []
    done = 0
    for k in mixed:
        spans.extend(chunks[done:k])  # plain words, copied whole
        done = k + 1
        i, end = chunks[k]
        while i < end:
            kind = _kind(text[i])
            j = i + 1
            if kind == "digit":
                while j < end and (
                    _kind(text[j]) == "digit"
                    or (text[j] in NUMBER_SEPARATORS and j + 1 < n and _kind(text[j + 1]) == "digit")
                ):
                    j += 1
            elif kind == "word":
                while j < end and _kind(text[j]) == "word":
                    j += 1
            spans.append((i, j))
            i = j
    spans.extend(chunks[done:])
    # Cut the few spans a mention boundary falls inside.
    inside: dict[int, list[int]] = {}
    starts = [a for a, _ in spans] if mixed else chunk_starts
    for cut in sorted(set(boundaries)):
        k = bisect_right(starts, cut) - 1
        if k >= 0 and spans[k][0] < cut < spans[k][1]:
            inside.setdefault(k, []).append(cut)
    if not inside:
        return Tokens(text, starts, [b for _, b in spans]), 0
    token_starts: list[int] = []
    token_ends: list[int] = []
    for k, (start, end) in enumerate(spans):
        for cut in inside.get(k, ()):
            token_starts.append(start)
            token_ends.append(cut)
            start = cut
        token_starts.append(start)
        token_ends.append(end)
    return Tokens(text, token_starts, token_ends), sum(len(c) for c in inside.values())


# Every change ``normalize`` makes, in the order applied: (what is replaced, by what, a name for the
# card). The card's table is made from this one, so code and card cannot disagree. pyarabic's
# strip_tashkeel, strip_tatweel and normalize_alef (tests compare them), except alef maksura: ى → ي
# as CAMeL Tools' normalize_alef_maksura_ar and most Arabic NER work (pyarabic: ى → ا, يحيى → يحيا).
NORMALIZATION: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (tuple(araby.TASHKEEL), "", "diacritics (tanwin, harakat, sukun, shadda)"),
    ((araby.TATWEEL,), "", "tatweel"),
    # A small alef written on alef maksura is one letter: ىٰ stays ى (then ي), not ىا.
    ((araby.SMALL_ALEF + araby.ALEF_MAKSURA, araby.ALEF_MAKSURA + araby.SMALL_ALEF), araby.ALEF_MAKSURA, "small alef on alef maksura"),
    (("آ", "أ", "إ", "ٱ", araby.SMALL_ALEF), araby.ALEF, "alef forms (madda, hamza above and below, wasla, small alef)"),
    ((araby.ALEF_MAKSURA,), "ي", "alef maksura"),
    (("ؤ", "ئ"), "ء", "hamza carriers"),
)
# The split key keeps the folding used before ى → ي (ى → ا): changing it would move almost every
# article (على, إلى) to another split and leak old test articles into the new training split.
SPLIT_KEY_NORMALIZATION = tuple(
    (sources, araby.ALEF if sources == (araby.ALEF_MAKSURA,) else target, name) for sources, target, name in NORMALIZATION
)


def _steps(table: Sequence[tuple[tuple[str, ...], str, str]]) -> list[tuple[dict[int, str] | None, tuple[str, ...], str]]:
    """The table as steps: runs of one-character rows merged into one ``str.translate`` table (fast)."""
    steps: list[tuple[dict[int, str] | None, tuple[str, ...], str]] = []
    for sources, target, _ in table:
        if all(len(x) == 1 for x in sources):
            last = steps[-1][0] if steps else None
            # Merged only when no earlier source or target is a later source: one pass equals the rows in order.
            if last is not None and not any(ord(x) in last or x in last.values() for x in sources):
                last.update({ord(x): target for x in sources})
            else:
                steps.append(({ord(x): target for x in sources}, (), ""))
        else:
            steps.append((None, sources, target))
    return steps


_NORMALIZE = _steps(NORMALIZATION)
_SPLIT_KEY = _steps(SPLIT_KEY_NORMALIZATION)


def _apply(text: str, steps: list[tuple[dict[int, str] | None, tuple[str, ...], str]]) -> str:
    for table, sequences, target in steps:
        if table is not None:
            text = text.translate(table)
        else:
            for seq in sequences:
                text = text.replace(seq, target)
    return text


@lru_cache(maxsize=1 << 16)  # news repeats its words: most tokens were seen before
def normalize(token: str) -> str:
    """``token`` with every change of ``NORMALIZATION``: no diacritics or tatweel, alef forms as ا, ى as ي, ؤ ئ as ء."""
    return normalize_text(token)


def normalize_text(text: str) -> str:
    """``normalize`` for any length of text (not cached)."""
    return _apply(text, _NORMALIZE)


@lru_cache(maxsize=1 << 16)
def _split_key_word(word: str) -> str:
    return _apply(word, _SPLIT_KEY)


def split_key(text: str) -> str:
    """What an article's split is keyed on: ``text`` folded by ``SPLIT_KEY_NORMALIZATION`` (ى → ا, as before), its
    words joined by one space.

    Folded word by word, from a cache (news repeats its words: five times faster than folding each
    text whole). The same: no row's source holds a space nor its target makes one, and a word
    folded away entirely leaves no word, as it leaves no word between spaces.
    """
    return " ".join(folded for folded in map(_split_key_word, text.split()) if folded)


def normalization_rows() -> list[str]:
    """``NORMALIZATION`` as Markdown table rows for the card: code points (marks alone cannot be shown) and letters."""

    def show(seq: str) -> str:
        points = " ".join(f"U+{ord(c):04X}" for c in seq)
        return points if all(unicodedata.category(c) == "Mn" for c in seq) else f"{points} ({seq})"

    return [
        f"| {name} | {', '.join(show(x) for x in sources)} | {show(target) if target else 'removed'} |"
        for sources, target, name in NORMALIZATION
    ]


def sentences(text: str, tokens: Tokens, keep_together: Iterable[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """Sentence spans (token index ranges): after . ! ? ؟ … and at line breaks, never inside a mention."""
    if not len(tokens):
        return []
    merged: list[list[int]] = []
    for s, e in sorted(keep_together):
        if merged and s < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    merged_starts = [m[0] for m in merged]

    def protected(offset: int) -> bool:
        k = bisect_left(merged_starts, offset) - 1
        return k >= 0 and merged[k][0] < offset < merged[k][1]

    starts, ends = tokens.starts, tokens.ends
    breaks = []
    for i in range(len(starts) - 1):
        ends_sentence = (ends[i] - starts[i] == 1 and text[starts[i]] in SENTENCE_ENDS) or "\n" in text[ends[i] : starts[i + 1]]
        if ends_sentence and not protected(starts[i + 1]):
            breaks.append(i + 1)
    edges = [0] + breaks + [len(starts)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if a < b]


def token_span(tokens: Tokens, start: int, end: int) -> tuple[int, int]:
    """The token range [first, last+1) covering the characters [start, end)."""
    return bisect_right(tokens.ends, start), bisect_left(tokens.starts, end)


def bio(n_tokens: int, mentions: Sequence[tuple[str, int, int]]) -> tuple[list[str], list[int]]:
    """BIO tags from (type, first token, end token) mentions; the outer mention wins.

    Returns the tags and the indexes of the mentions BIO cannot hold (nested in or
    overlapping one already tagged): they stay in the ``entities`` column.
    """
    tags = ["O"] * n_tokens
    left_out = []
    order = sorted(range(len(mentions)), key=lambda i: (mentions[i][1], -(mentions[i][2] - mentions[i][1])))
    for i in order:
        kind, first, end = mentions[i]
        if any(tags[t] != "O" for t in range(first, end)):
            left_out.append(i)
            continue
        tags[first] = f"B-{kind}"
        for t in range(first + 1, end):
            tags[t] = f"I-{kind}"
    return tags, sorted(left_out)


def nested_bio(n_tokens: int, mentions: Sequence[tuple[str, int, int]]) -> tuple[list[list[str]], list[int]]:
    """IOB2 columns by nesting level, outermost first, from (type, first token, end token) mentions.

    A mention's level is one more than the deepest mention holding it (the same tokens count as
    holding: the longer-or-earlier one is outer). A mention that overlaps another without either
    holding the other fits no level; the indexes of those come back, to be counted and said.
    At least one column, all ``O`` without mentions.
    """
    columns: list[list[str]] = [["O"] * n_tokens]
    placed: list[tuple[int, int, int]] = []  # first, end, level
    crossing = []
    for i in sorted(range(len(mentions)), key=lambda i: (mentions[i][1], -(mentions[i][2] - mentions[i][1]), i)):
        kind, first, end = mentions[i]
        # Placed ones start at or before this one (the order): overlapping it, each holds it or crosses it.
        overlapping = [(f, e, level) for f, e, level in placed if e > first]
        if any(e < end for _, e, _ in overlapping):
            crossing.append(i)
            continue
        level = 1 + max((level for _, _, level in overlapping), default=-1)
        if level == len(columns):
            columns.append(["O"] * n_tokens)
        column = columns[level]
        column[first] = f"B-{kind}"
        for t in range(first + 1, end):
            column[t] = f"I-{kind}"
        placed.append((first, end, level))
    return columns, sorted(crossing)
