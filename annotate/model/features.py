"""What the taggers see of a text: clitic-aware tokens, and the features of each token.

The gold splits a proclitic off where a mention starts inside a word (``لتنظيم داعش``
gives ``ل`` ``تنظيم`` ``داعش``), but a text to tag has no mentions yet. So one rule splits
words here, in training and in tagging alike (``clitic_cuts``): a leading و/ف, then ب/ل/ك,
is cut off a word when what is left starts with ال (``والرقة``, ``بالعراق``), or when what is
left is a word the gold has begun a mention with (``لتنظيم`` once ``تنظيم`` began a mention).

Features of a token (``sentence_features``), all on normalized forms (``tokens.normalize``):
the form, the form without ال, its first and last two and three letters, its shape (Arabic,
Latin, digits, punctuation), the two words either side and the pair with the previous one,
and gazetteer hits: whether the token is in a run of tokens the gold labelled, and as what.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from ..tokens import Tokens, normalize, tokenize

CONJUNCTIONS = "وف"
PREPOSITIONS = "بلك"
_MARKS = set("\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652\u0670\u0640")  # harakat, shadda, sukun, small alef, tatweel

Gazetteer = Mapping[tuple[str, ...], str]  # a run of stems -> the label the gold gave it most


def stem(form: str) -> str:
    """A normalized token without its article ال (kept when the rest would be one letter)."""
    return form[2:] if form.startswith("ال") and len(form) > 3 else form


def _proclitic_end(word: str) -> list[int]:
    """Offsets inside ``word`` just after each possible proclitic sequence (و/ف, then ب/ل/ك), shortest first."""
    ends = []
    i = 0
    for letters in (CONJUNCTIONS, PREPOSITIONS):
        if i < len(word) - 1 and word[i] in letters:
            i += 1
            while i < len(word) and word[i] in _MARKS:
                i += 1
            ends.append(i)
    return ends


def clitic_cuts(text: str, starters: frozenset[str] = frozenset()) -> list[int]:
    """Offsets where a proclitic is cut off a word: before ال, or before a word in ``starters`` (normalized)."""
    cuts = []
    plain, _ = tokenize(text)
    for start, end in zip(plain.starts, plain.ends):
        word = text[start:end]
        for cut in reversed(_proclitic_end(word)):  # the longest proclitic first: وبالرقة gives وب الرقة
            rest = normalize(word[cut:])
            if len(rest) >= 2 and (rest.startswith("ال") and len(rest) > 3 or rest in starters):
                cuts.append(start + cut)
                break
    return cuts


def split(text: str, starters: frozenset[str] = frozenset(), boundaries: Iterable[int] = ()) -> Tokens:
    """The tokens the taggers work on: ``tokens.tokenize`` cut at the clitic cuts (and, in training, at the gold's boundaries)."""
    tokens, _ = tokenize(text, [*clitic_cuts(text, starters), *boundaries])
    return tokens


def _shape(form: str) -> str:
    if form.isdigit():
        return "digit"
    if all("\u0600" <= c <= "\u06ff" for c in form):
        return "arabic"
    if form.isascii() and form.isalpha():
        return "latin"
    if not any(c.isalnum() for c in form):
        return "punct"
    return "mixed"


def gazetteer_hits(stems: Sequence[str], gazetteer: Gazetteer, longest: int) -> list[str]:
    """``B-<label>``/``I-<label>`` for tokens in a run the gazetteer holds (longest runs first), else ``""``."""
    hits = [""] * len(stems)
    i = 0
    while i < len(stems):
        for n in range(min(longest, len(stems) - i), 0, -1):
            label = gazetteer.get(tuple(stems[i : i + n]))
            if label is not None:
                hits[i] = f"B-{label}"
                for k in range(i + 1, i + n):
                    hits[k] = f"I-{label}"
                i += n
                break
        else:
            i += 1
    return hits


@lru_cache(maxsize=1 << 16)  # news repeats its words: most tokens were seen before
def _own(form: str) -> tuple[str, ...]:
    """The features of a token that depend on it alone."""
    s = stem(form)
    f = ["bias", f"w={form}", f"st={s}", f"p2={s[:2]}", f"p3={s[:3]}", f"s2={s[-2:]}", f"s3={s[-3:]}",
         f"shape={_shape(form)}", f"len={min(len(s), 8)}"]
    if form != s:
        f.append("al")
    if len(form) == 1 and form in CONJUNCTIONS + PREPOSITIONS:
        f.append("clitic")
    return tuple(f)


def sentence_features(forms: Sequence[str], gazetteers: Sequence[tuple[str, Gazetteer, int]] = ()) -> list[list[str]]:
    """The features of each token of one sentence, from its normalized forms.

    ``gazetteers``: (name, gazetteer, longest run) for each one the features look up.
    """
    stems = [stem(f) for f in forms]
    n = len(forms)
    out: list[list[str]] = []
    hits = [(name, gazetteer_hits(stems, g, longest)) for name, g, longest in gazetteers if longest]
    for i, form in enumerate(forms):
        f = list(_own(form))
        for o in (-2, -1, 1, 2):
            k = i + o
            if 0 <= k < n:
                f.append(f"w[{o}]={forms[k]}")
                f.append(f"st[{o}]={stems[k]}")
            else:
                f.append(f"w[{o}]=<edge>")
        if i:
            f.append(f"w[-1]|w={forms[i - 1]}|{form}")
        if i + 1 < n:
            f.append(f"w|w[1]={form}|{forms[i + 1]}")
        for name, tags in hits:
            if tags[i]:
                f.append(f"{name}={tags[i]}")
            for o in (-1, 1):
                if 0 <= i + o < n and tags[i + o]:
                    f.append(f"{name}[{o}]={tags[i + o]}")
        out.append(f)
    return out
