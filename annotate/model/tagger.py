"""A trained model as saved, and what it finds in a text.

A model is a folder ``exports/<project>/models/crf-<n>/``: ``model.json`` (its version name,
the pull it learned from, its test-split figures, its training time, its gazetteers) and one
CRF file per tagger (``entities.crfsuite``, ``triggers.crfsuite``). The newest is the one with
the highest ``n``. Its version name, ``annotate-crf-<n>``, is what Label Studio shows.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..store import EXPORTS, MODEL_INFO, MODELS, newest_model, project_folder
from ..tokens import Tokens, normalize, sentences
from .features import Gazetteer, sentence_features, split

TAGGERS = ("entities", "triggers")  # the file of each: <name>.crfsuite
VERSION_PREFIX = "annotate-crf-"  # every model's version name starts so; suggest replaces only predictions named so


@dataclass(frozen=True)
class Found:
    """A mention a tagger found: an entity or an event trigger, with character offsets and a score."""

    kind: str  # "entity" or "trigger"
    label: str
    start: int
    end: int
    text: str
    score: float  # the mean of the tagger's marginal probabilities of its tags


def models_folder(title: str, root: Path = EXPORTS) -> Path:
    return project_folder(title, root) / MODELS


def version_name(number: int) -> str:
    return f"{VERSION_PREFIX}{number}"


def newest(title: str, root: Path = EXPORTS) -> Path:
    """The folder of the project's newest model; refused if it has none."""
    folder = newest_model(project_folder(title, root))
    if folder is None:
        raise ModelError(
            f"project {title!r} has no trained model in {models_folder(title, root)}.", "Run `annotate model train` first."
        )
    return folder


def read_info(folder: Path) -> dict[str, Any]:
    try:
        info = json.loads((folder / MODEL_INFO).read_text(encoding="utf-8"))
        if not isinstance(info, dict) or not isinstance(info.get("version"), str):
            raise ValueError
        return info
    except (OSError, ValueError):
        raise ModelError(f"{folder / MODEL_INFO} cannot be read as a model.", "Train the model again (`annotate model train`).") from None


def _gazetteer(rows: Any) -> tuple[dict[tuple[str, ...], str], int]:
    gazetteer = {tuple(run): str(label) for run, label in rows}
    return gazetteer, max((len(k) for k in gazetteer), default=0)


class Tagger:
    """A saved model, opened: ``find(text)`` gives its mentions."""

    def __init__(self, folder: Path) -> None:
        import pycrfsuite  # only the model commands pay for it

        self.folder = Path(folder)
        self.info = read_info(self.folder)
        self.version: str = self.info["version"]
        self.starters = frozenset(self.info.get("starters", ()))
        entity_gaz, entity_len = _gazetteer(self.info.get("entity_gazetteer", ()))
        trigger_gaz, trigger_len = _gazetteer(self.info.get("trigger_gazetteer", ()))
        self.gazetteers: list[tuple[str, Gazetteer, int]] = [("ge", entity_gaz, entity_len), ("gt", trigger_gaz, trigger_len)]
        self._items = pycrfsuite.ItemSequence
        self.taggers = {}
        for name in TAGGERS:
            tagger = pycrfsuite.Tagger()
            try:
                tagger.open(str(self.folder / f"{name}.crfsuite"))
            except (OSError, ValueError) as exc:
                raise ModelError(f"{self.folder / name}.crfsuite cannot be opened ({exc}).", "Train the model again.") from None
            self.taggers[name] = tagger

    def tokens(self, text: str) -> Tokens:
        return split(text, self.starters)

    def find(self, text: str) -> list[Found]:
        """Entities and triggers the taggers find in ``text``, in order of their start."""
        tokens = self.tokens(text)
        forms = [normalize(t) for t in tokens.texts()]
        found: list[Found] = []
        for first, end in sentences(text, tokens):
            features = self._items(sentence_features(forms[first:end], self.gazetteers))  # converted once, for both
            for name, kind in zip(TAGGERS, ("entity", "trigger")):
                tagger = self.taggers[name]
                tags = tagger.tag(features)
                for label, a, b in decode(tags):
                    score = sum(tagger.marginal(tags[t], t) for t in range(a, b)) / (b - a)
                    start, stop = tokens.starts[first + a], tokens.ends[first + b - 1]
                    found.append(Found(kind, label, start, stop, text[start:stop], round(score, 4)))
        return sorted(found, key=lambda f: (f.start, f.end, f.kind))


_WORKER: Tagger | None = None  # the tagger a forked worker of ``find_all`` uses


def _find_in_worker(text: str) -> list[Found]:
    assert _WORKER is not None
    return _WORKER.find(text)


def find_all(tagger: Tagger, texts: Sequence[str]) -> Iterator[list[Found]]:
    """``tagger.find`` of every text, in order, as they come, on every core (forked workers share the opened model).

    A generator: the workers run ahead while the caller uses what came (suggest sends it to Label
    Studio meanwhile).
    """
    global _WORKER
    cores = os.cpu_count() or 1
    if len(texts) < 100 or cores < 2 or "fork" not in multiprocessing.get_all_start_methods():
        for text in texts:
            yield tagger.find(text)
        return
    _WORKER = tagger
    try:
        with multiprocessing.get_context("fork").Pool(cores) as pool:
            yield from pool.imap(_find_in_worker, texts, chunksize=32)
    finally:
        _WORKER = None


def decode(tags: list[str]) -> Iterator[tuple[str, int, int]]:
    """(label, first token, end token) of each mention in IOB2 tags; an I- without its B- starts a mention."""
    label, first = None, 0
    for i, tag in enumerate([*tags, "O"]):
        inside = tag.startswith("I-") and tag[2:] == label
        if label is not None and not inside:
            yield label, first, i
            label = None
        if tag.startswith("B-") or (tag.startswith("I-") and not inside):
            label, first = tag[2:], i
