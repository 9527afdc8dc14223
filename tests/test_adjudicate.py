"""Several annotators on a real Label Studio: overlap, agreement, disputes, and the adjudication round trip."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

import datasets
import krippendorff
import numpy as np
import pytest

from annotate import adjudicate, export, pull, push, schema, store
from annotate.agreement import token_tags
from annotate.gold import iter_articles
from annotate.store import latest_versions
from annotate.cli import main
from annotate.labelstudio.client import LabelStudioClient
from annotate.models import ExportConfig
from conftest import DATA
from test_agreement import cohen_kappa_score
from test_pull import ent, tasks_by_article
from test_validate import answer, rel

pytestmark = pytest.mark.studio
SCHEMA = schema.load()


def test_several_annotators_agreement_and_adjudication_round_trip(
    client: LabelStudioClient, studio_home: Path, project_title: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = [client.create_user(f"annotator-{uuid.uuid4().hex[:6]}@annotate.local") for _ in range(3)]
    report = push.push(client, [DATA / "hard_cases.jsonl"], title=project_title, annotators=3)
    assert client.get_project(report.project.id).maximum_annotations == 3
    tasks = tasks_by_article(client, report.project.id)

    clitics = tasks["hard-clitics"]["data"]["text"]
    common = [ent("d", "ORG", clitics, "تنظيم داعش"), ent("r", "GPE", clitics, "الرقة")]
    client.create_annotation(tasks["hard-clitics"]["id"], common + [ent("q", "ORG", clitics, "القوات"), answer()], completed_by=users[0])
    client.create_annotation(tasks["hard-clitics"]["id"], common + [ent("q", "ORG", clitics, "القوات"), answer()], completed_by=users[1])
    client.create_annotation(tasks["hard-clitics"]["id"], common + [ent("x", "PER", clitics, "عناصر"), answer("other")], completed_by=users[2])
    emoji = tasks["hard-emoji"]["data"]["text"]
    attack = [ent("t", "Conflict:Attack", emoji, "قصفت", control="trigger"), ent("c", "ORG", emoji, "التحالف"), ent("g", "GPE", emoji, "الرقة")]
    client.create_annotation(tasks["hard-emoji"]["id"], attack + [rel("t", "c", "Attacker"), rel("t", "g", "Place"), answer()], completed_by=users[0])
    client.create_annotation(tasks["hard-emoji"]["id"], attack + [rel("t", "c", "Attacker"), answer()], completed_by=users[1])
    diacritics = tasks["hard-diacritics"]["data"]["text"]
    client.create_annotation(tasks["hard-diacritics"]["id"], [ent("g", "GPE", diacritics, "دَيْرِ الزُّورِ"), answer()], completed_by=users[2])

    pulled = tmp_path / "pulled"
    pull.pull(client, title=project_title, schema=SCHEMA, root=pulled)
    figures = adjudicate.project_agreement(project_title, schema=SCHEMA, root=pulled)
    # One identity everywhere: the pseudonym; the owner's private file says who is behind each.
    mapping_file = store.project_folder(project_title, pulled) / "annotators.json"
    assert stat.S_IMODE(mapping_file.stat().st_mode) == 0o600
    mapping = json.loads(mapping_file.read_text(encoding="utf-8"))["annotators"]
    who = {entry["label_studio_user_id"]: name for name, entry in mapping.items()}
    names = [who[u] for u in users]
    assert figures.articles == 2 and figures.annotators == names and all(n.startswith("annotator-") for n in names)
    assert mapping[names[0]]["email"].endswith("@annotate.local")

    # The figures equal the reference implementations on the same token tags.
    tasks_state, _ = store.read_state(store.project_folder(project_title, pulled))
    grouped = {g.article_id: g for _, g in iter_articles(tasks_state, SCHEMA, latest_versions(tasks_state))}
    clitic_tags = token_tags(clitics, grouped["hard-clitics"].annotations)
    emoji_tags = token_tags(emoji, grouped["hard-emoji"].annotations)
    a, b = clitic_tags[0] + emoji_tags[0], clitic_tags[1] + emoji_tags[1]
    assert figures.pairs[(names[0], names[1])]["cohen_kappa"] == pytest.approx(cohen_kappa_score(a, b), abs=1e-6)
    codes = {t: i for i, t in enumerate(sorted({t for row in clitic_tags + emoji_tags for t in row}))}
    rows = [
        [codes[t] for t in clitic_tags[0] + emoji_tags[0]],
        [codes[t] for t in clitic_tags[1] + emoji_tags[1]],
        [codes[t] for t in clitic_tags[2]] + [np.nan] * len(emoji_tags[0]),
    ]
    assert figures.alpha == pytest.approx(krippendorff.alpha(reliability_data=np.array(rows, dtype=float), level_of_measurement="nominal"))
    assert figures.triggers.matched == 1 and figures.arguments.matched == 1

    assert main(["agreement", "--project", project_title, "--pulled", str(pulled), "--json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert as_json["articles_compared"] == 2 and as_json["lowest_agreement"][0]["article_id"] in {"hard-clitics", "hard-emoji"}
    assert as_json["annotators"] == names and as_json["pairs"][0]["annotators"] == names[:2]

    # Disputes: القوات (2/3, kept) and عناصر (1/3, dropped) on one article; the Place argument (1/2) on the other.
    found = {d.article_id: d for d in adjudicate.disputes(project_title, schema=SCHEMA, root=pulled)}
    assert set(found) == {"hard-clitics", "hard-emoji"}
    merged = found["hard-clitics"].gold.annotation
    assert {(e.type, e.text) for e in merged.entities} == {("ORG", "تنظيم داعش"), ("GPE", "الرقة"), ("ORG", "القوات")}
    assert main(["adjudicate", "--project", project_title, "--pulled", str(pulled), "--push", "--home", str(studio_home)]) == 0
    assert "2 article(s) in dispute" in capsys.readouterr().out
    # Pushing again replaces the pre-annotation instead of adding another.
    adjudicate.push_disputes(client, project_title, list(found.values()), SCHEMA)
    (prediction,) = client.list_predictions(tasks["hard-clitics"]["id"])
    assert prediction["model_version"] == adjudicate.MODEL_VERSION
    labels = sorted((r["value"]["text"], r["value"]["labels"][0]) for r in prediction["result"] if r["type"] == "labels")
    assert labels == [("الرقة", "GPE"), ("القوات", "ORG"), ("تنظيم داعش", "ORG")]
    settings = client._call("GET", f"/api/projects/{report.project.id}/", "read")
    assert settings["model_version"] == adjudicate.MODEL_VERSION and settings["show_collab_predictions"] is True

    # The reviewer starts from the pre-annotation, fixes it, submits and marks it ground truth.
    reviewed = [r for r in prediction["result"] if r.get("value", {}).get("text") != "القوات"]
    reviewed.append(ent("w", "PER", clitics, "عناصر"))
    decision = client.create_annotation(tasks["hard-clitics"]["id"], reviewed, ground_truth=True)
    pull.pull(client, title=project_title, schema=SCHEMA, root=pulled)
    out = tmp_path / "gold"
    export.export(project_title, out, ExportConfig(split=(1.0, 0.0, 0.0)), schema=SCHEMA, root=pulled)
    ds = datasets.load_dataset(str(out))["train"]
    row = next(r for r in ds if r["article_id"] == "hard-clitics")
    types = ds.features["entities"].feature["type"].names
    assert row["gold_source"] == "ground_truth" and row["gold_annotation_id"] == decision["id"]
    assert {(types[e["type"]], e["text"]) for e in row["entities"]} == {("ORG", "تنظيم داعش"), ("GPE", "الرقة"), ("PER", "عناصر")}
    emoji_row = next(r for r in ds if r["article_id"] == "hard-emoji")
    assert emoji_row["gold_source"] == "majority" and emoji_row["annotators"] == sorted(names[:2])
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "Inter-annotator agreement over 2 articles" in card and "Krippendorff" in card


def test_the_reviewers_listing_isolates_each_quoted_piece_of_arabic() -> None:
    """Unisolated, 'الرقة' (67-72) reads as '1/2 :(72-67) الرقة' in the review project (seen in the browser test)."""
    listing = adjudicate.dispute_listing(["entity GPE 'الرقة' (67-72): 1/2 annotators, held back", "document on_topic: conflict ×1"])
    assert listing.splitlines() == [
        "• entity GPE \u2068'الرقة'\u2069 (67-72): 1/2 annotators, held back",
        "• document on_topic: conflict ×1",
    ]
