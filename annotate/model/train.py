"""``annotate model train``: an entity tagger and an event-trigger tagger learned from the team's gold.

The gold is the one ``export`` takes (``gold.select_gold`` on the latest pull), split as export
splits it (``split_of``, same seed and ratios): the taggers learn from the train and validation
articles and are scored on the test articles, which they never see. Two linear-chain CRFs
(python-crfsuite) over the clitic-aware tokens of ``features``; they train side by side, one
per core. Event arguments are not predicted: a suggestion holds mentions and triggers only.

Gazetteers come from the gold: each run of tokens labelled as a mention (or trigger), with the
label it was given most. So that the taggers learn context and not only the list (a name never
seen must still be found), each training article sees the gazetteer of the *other* half of the
training articles (two folds by article); tagging uses the whole gazetteer.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import schema as schema_mod
from ..agreement import Score
from ..errors import ModelError, storage_error
from ..files import exclusive
from ..export.documents import split_of
from ..gold import pulled_articles, select_gold
from ..models import DEFAULT_THRESHOLD, Schema
from ..store import EXPORTS, MODEL_INFO, model_numbers, project_folder, read_manifest
from ..tokens import bio, normalize, sentences, token_span, tokenize
from .features import Gazetteer, sentence_features, split, stem
from .tagger import TAGGERS, Tagger, models_folder, version_name

# L-BFGS with a little L1 and L2; features seen once are dropped, and 50 iterations keep 5,000 articles under 2 minutes.
CRF_PARAMS = {"c1": 0.05, "c2": 0.01, "max_iterations": 50, "feature.minfreq": 2, "feature.possible_transitions": True}
FOLDS = 2
LOCK = ".train.lock"  # held by the training writing a project's models folder


@dataclass
class GoldArticle:
    """One article of the gold: its text, mentions and triggers as (label, start, end)."""

    article_id: str
    text: str
    entities: list[tuple[str, int, int]]
    triggers: list[tuple[str, int, int]]


def _figures(score: Score) -> dict[str, Any]:
    """Precision, recall and F1 (None where undefined), and how many mentions the gold and the tagger had."""
    d = score.as_dict()
    return {"precision": _round(d["precision"]), "recall": _round(d["recall"]), "f1": _round(d["f1"]),
            "gold": score.reference, "found": score.other}


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


@dataclass
class TrainReport:
    version: str
    folder: Path
    seconds: float
    articles: dict[str, int]  # "train" (train and validation splits), "test"
    figures: dict[str, Any] = field(default_factory=dict)  # "entities"/"triggers" -> {"all": {...}, "per_label": {...}}


def gold_articles(title: str, schema: Schema, root: Path, threshold: float, repair: bool) -> list[GoldArticle]:
    """The gold of every article of the latest pull, as export chooses it."""
    out = []
    for task, grouped in pulled_articles(title, schema, root, repair):
        gold = select_gold(grouped, schema, threshold).annotation
        out.append(GoldArticle(
            grouped.article_id,
            grouped.text,
            [(e.type, e.start, e.end) for e in gold.entities],
            [(e.type, e.start, e.end) for e in gold.events],
        ))
    return out


def _fold(article_id: str) -> int:
    return hashlib.sha256(article_id.encode("utf-8")).digest()[0] % FOLDS


def _runs(articles: Sequence[GoldArticle], kind: str) -> dict[tuple[str, ...], Counter[str]]:
    runs: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
    for a in articles:
        for label, start, end in getattr(a, kind):
            tokens, _ = tokenize(a.text[start:end])
            key = tuple(stem(normalize(t)) for t in tokens.texts())
            if key:
                runs[key][label] += 1
    return runs


def gazetteer(articles: Sequence[GoldArticle], kind: str) -> dict[tuple[str, ...], str]:
    """Each run of stems the gold labelled (``kind``: "entities" or "triggers"), with its most given label."""
    return {run: labels.most_common(1)[0][0] for run, labels in _runs(articles, kind).items()}


def starters(articles: Sequence[GoldArticle]) -> frozenset[str]:
    """The normalized first words of gold mentions and triggers: a proclitic before one of them is cut off."""
    out = set()
    for a in articles:
        for _, start, end in (*a.entities, *a.triggers):
            tokens, _ = tokenize(a.text[start:end])
            if len(tokens):
                out.add(normalize(tokens.texts(0, 1)[0]))
    return frozenset(out)


def _sequences(
    articles: Sequence[GoldArticle], cut: frozenset[str], gazetteers: Callable[[GoldArticle], list[tuple[str, Gazetteer, int]]]
) -> tuple[list[list[list[str]]], dict[str, list[list[str]]]]:
    """The features of every training sentence, and the tags of each tagger."""
    xs: list[list[list[str]]] = []
    ys: dict[str, list[list[str]]] = {name: [] for name in TAGGERS}
    for a in articles:
        mentions = [*a.entities, *a.triggers]
        tokens = split(a.text, cut, [m[1] for m in mentions] + [m[2] for m in mentions])
        forms = [normalize(t) for t in tokens.texts()]
        tags = {}
        for name, spans in (("entities", a.entities), ("triggers", a.triggers)):
            tags[name], _ = bio(len(tokens), [(label, *token_span(tokens, s, e)) for label, s, e in spans])
        for first, end in sentences(a.text, tokens, [(s, e) for _, s, e in mentions]):
            xs.append(sentence_features(forms[first:end], gazetteers(a)))
            for name in TAGGERS:
                ys[name].append(tags[name][first:end])
    return xs, ys


def _train_one(xs: list[list[list[str]]], ys: list[list[str]], path: Path) -> None:
    import pycrfsuite

    trainer = pycrfsuite.Trainer(verbose=False)
    for x, y in zip(xs, ys):
        trainer.append(x, y)
    trainer.set_params(CRF_PARAMS)
    trainer.train(str(path))


def _train_both(xs: list[list[list[str]]], ys: dict[str, list[list[str]]], folder: Path) -> None:
    """Both taggers at once, the trigger tagger in a forked child (which shares the features, not a copy)."""
    if not hasattr(os, "fork"):
        for name in TAGGERS:
            _train_one(xs, ys[name], folder / f"{name}.crfsuite")
        return
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _train_one(xs, ys["triggers"], folder / "triggers.crfsuite")
            code = 0
        finally:
            os._exit(code)
    try:
        _train_one(xs, ys["entities"], folder / "entities.crfsuite")
    finally:
        _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise ModelError("training the trigger tagger failed.", "Run `annotate model train` again; if it fails again, report it.")


def evaluate(tagger: Tagger, articles: Sequence[GoldArticle]) -> dict[str, Any]:
    """Precision, recall and F1 of exact mentions (span and label), per label and over all, for each tagger."""
    scores: dict[str, dict[str, Score]] = {"entities": defaultdict(Score), "triggers": defaultdict(Score)}
    for a in articles:
        found = tagger.find(a.text)
        for name, kind, gold in (("entities", "entity", a.entities), ("triggers", "trigger", a.triggers)):
            predicted = {(f.label, f.start, f.end) for f in found if f.kind == kind}
            wanted = set(gold)
            for label in {x[0] for x in predicted | wanted}:
                scores[name][label].add(Score(
                    matched=sum(1 for x in predicted & wanted if x[0] == label),
                    reference=sum(1 for x in wanted if x[0] == label),
                    other=sum(1 for x in predicted if x[0] == label),
                ))
    figures: dict[str, Any] = {}
    for name, per_label in scores.items():
        total = Score()
        for s in per_label.values():
            total.add(s)
        figures[name] = {"all": _figures(total), "per_label": {k: _figures(per_label[k]) for k in sorted(per_label)}}
    return figures


def train(
    title: str,
    *,
    schema: Schema | None = None,
    root: Path = EXPORTS,
    seed: int = 13,
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    threshold: float = DEFAULT_THRESHOLD,
    repair: bool = True,
    on_step: Callable[[str], None] = lambda step: None,
) -> TrainReport:
    """Train both taggers on the latest pull's gold, score them on its test split, save them as the next version."""
    began = time.monotonic()
    schema = schema or schema_mod.load()
    manifest = read_manifest(project_folder(title, root), title)
    on_step("reading the gold")
    articles = gold_articles(title, schema, root, threshold, repair)
    in_test = [split_of(a.text, seed, ratios) == "test" for a in articles]
    learn = [a for a, t in zip(articles, in_test) if not t]
    test = [a for a, t in zip(articles, in_test) if t]
    if not any(a.entities or a.triggers for a in learn):
        raise ModelError(
            f"project {title!r} has no gold mention outside the test split to learn from"
            f" ({len(articles)} article(s) with gold, {len(test)} of them in the test split).",
            "Pull again once annotators have submitted work.",
        )
    cut = starters(learn)
    folds = [[a for a in learn if _fold(a.article_id) != k] for k in range(FOLDS)]
    fold_gaz = []
    for others in folds:
        entity_gaz, trigger_gaz = gazetteer(others, "entities"), gazetteer(others, "triggers")
        fold_gaz.append([("ge", entity_gaz, max(map(len, entity_gaz), default=0)),
                         ("gt", trigger_gaz, max(map(len, trigger_gaz), default=0))])
    on_step(f"features of {len(learn)} article(s)")
    xs, ys = _sequences(learn, cut, lambda a: fold_gaz[_fold(a.article_id)])
    folder = models_folder(title, root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc, folder) from None
    # One training of a project at a time: the next number is then free, and a half-written model
    # left by a killed one (kill -9) can be removed, as nobody else is writing one.
    with exclusive(folder / LOCK, lambda: on_step("waiting for another training of this project")):
        for leftover in folder.glob(".crf-*.tmp"):
            shutil.rmtree(leftover, ignore_errors=True)
        number = (model_numbers(project_folder(title, root)) or [0])[-1] + 1
        final, tmp = folder / f"crf-{number}", folder / f".crf-{number}.tmp"
        try:
            tmp.mkdir()
            on_step("training the entity and trigger taggers")
            _train_both(xs, ys, tmp)
            del xs, ys
            info: dict[str, Any] = {
                "version": version_name(number),
                "project": title,
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "pull": {k: manifest.get(k) for k in ("pulled_at", "state_sha256", "project_id") if k in manifest},
                "schema": {"name": schema.name, "version": schema.version, "sha256": schema.sha256},
                "split": {"seed": seed, "ratios": list(ratios), "threshold": threshold, "repair": repair},
                "articles": {"train": len(learn), "test": len(test)},
                "crf": CRF_PARAMS,
                "starters": sorted(cut),
                "entity_gazetteer": sorted([list(k), v] for k, v in gazetteer(learn, "entities").items()),
                "trigger_gazetteer": sorted([list(k), v] for k, v in gazetteer(learn, "triggers").items()),
            }
            (tmp / MODEL_INFO).write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
            on_step(f"scoring on {len(test)} test article(s)")
            info["figures"] = evaluate(Tagger(tmp), test)
            info["seconds"] = round(time.monotonic() - began, 1)
            (tmp / MODEL_INFO).write_text(json.dumps(info, ensure_ascii=False, indent=1), encoding="utf-8")
            tmp.rename(final)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise storage_error(exc, folder) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return TrainReport(info["version"], final, info["seconds"], info["articles"], info["figures"])
