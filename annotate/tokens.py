"""Arabic-aware tokens, sentences, normalization and BIO tags for the export.

Tokens split on white space and on Arabic and Latin punctuation (، ؛ ؟ « » “ ” ...),
keep numbers whole (ASCII and Arabic-Indic digits, with their decimal and
thousands separators), and are split again wherever a mention starts or ends
inside a word (clitics: ``لتنظيم داعش`` with the entity ``تنظيم داعش`` gives
``ل`` ``تنظيم`` ``داعش``). So every mention covers whole tokens.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pyarabic import araby

NUMBER_SEPARATORS = ".,٫٬"  # 3.5 1,000 ٣٫٥ ١٬٠٠٠
SENTENCE_ENDS = ".!?؟…"
_HAMZA_CARRIERS = str.maketrans({"ؤ": "ء", "ئ": "ء"})


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    text: str


def _kind(ch: str) -> str:
    if ch.isspace():
        return "space"
    category = unicodedata.category(ch)
    if category == "Nd":
        return "digit"
    if category[0] in "PS":
        return "mark"  # punctuation or symbol (emoji): a token of its own
    return "word"  # letters, combining marks (diacritics), tatweel, format characters


def tokenize(text: str, boundaries: Iterable[int] = ()) -> tuple[list[Token], int]:
    """Tokens of ``text``, split at every boundary offset; and how many boundaries split a word."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        kind = _kind(text[i])
        if kind == "space":
            i += 1
            continue
        j = i + 1
        if kind == "digit":
            while j < n and (
                _kind(text[j]) == "digit"
                or (text[j] in NUMBER_SEPARATORS and j + 1 < n and _kind(text[j + 1]) == "digit")
            ):
                j += 1
        elif kind == "word":
            while j < n and _kind(text[j]) == "word":
                j += 1
        spans.append((i, j))
        i = j
    cuts = sorted(set(boundaries))
    splits = 0
    tokens: list[Token] = []
    k = 0
    for start, end in spans:
        while k < len(cuts) and cuts[k] <= start:
            k += 1
        piece_start = start
        m = k
        while m < len(cuts) and cuts[m] < end:
            tokens.append(Token(piece_start, cuts[m], text[piece_start : cuts[m]]))
            piece_start = cuts[m]
            splits += 1
            m += 1
        tokens.append(Token(piece_start, end, text[piece_start:end]))
    return tokens, splits


def normalize(token: str) -> str:
    """No diacritics or tatweel, alef forms (أ إ آ ٱ) as ا, hamza carriers (ؤ ئ) as ء."""
    return araby.normalize_alef(araby.strip_tatweel(araby.strip_tashkeel(token))).translate(_HAMZA_CARRIERS)


def sentences(text: str, tokens: Sequence[Token], keep_together: Iterable[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """Sentence spans (token index ranges): after . ! ? ؟ … and at line breaks, never inside a mention."""
    if not tokens:
        return []
    protected = sorted(keep_together)
    breaks = []
    for i in range(len(tokens) - 1):
        here, after = tokens[i], tokens[i + 1]
        ends = here.text in SENTENCE_ENDS or "\n" in text[here.end : after.start]
        if ends and not any(s < after.start < e for s, e in protected):
            breaks.append(i + 1)
    edges = [0] + breaks + [len(tokens)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if a < b]


def token_span(tokens: Sequence[Token], start: int, end: int) -> tuple[int, int]:
    """The token range [first, last+1) covering the characters [start, end)."""
    first = next(i for i, t in enumerate(tokens) if t.end > start)
    last = max(i for i, t in enumerate(tokens) if t.start < end)
    return first, last + 1


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
