"""The suggestion model: its learning curve, and `annotate model suggest` beside the server's bulk-prediction floor.

    .venv/bin/python benchmarks/model.py                                # sizes 50,200,1000; suggest 1,000 tasks
    .venv/bin/python benchmarks/model.py --sizes 50,200,1000,5000 --suggest 10000

Learning curve (no server): for each size, a pulled gold of that many made-up news articles
(benchmarks/corpus.py, ``news_article``) is trained on by `annotate model train` in a fresh process
(its time from before its imports, and its peak memory, the forked trigger trainer included); the
saved model is then scored on 500 held-out articles whose names no training article has.

Suggestion (``--suggest N``, a studio of its own, or ``--home``): N articles pushed to two
projects; `annotate model suggest --control 0` as a process on one, against one raw POST of the
same predictions to the other (Label Studio's bulk prediction import: the floor). The corpus is
synthetic; the figures are of this machine. Not part of the timed tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import news_article  # noqa: E402
from run import benchmark_studio, cli_process as cli, machine, synthetic_state  # noqa: E402

from annotate import push, store  # noqa: E402
from annotate.export.documents import split_of  # noqa: E402
from annotate.files import write_jsonl  # noqa: E402
from annotate.labelstudio import studio  # noqa: E402
from annotate.model import suggest as suggest_mod  # noqa: E402
from annotate.model.tagger import Tagger, find_all, newest  # noqa: E402
from annotate.model.train import GoldArticle, evaluate  # noqa: E402

TITLE = "model-bench"


def held_out(n: int) -> list[GoldArticle]:
    out = []
    for i in range(n):
        a = news_article(i, 99, held_out=True)
        regions = [r for r in a.result if r.get("type") == "labels"]
        spans = {c: [(r["value"]["labels"][0], r["value"]["start"], r["value"]["end"]) for r in regions if r["from_name"] == c]
                 for c in ("entity", "trigger")}
        out.append(GoldArticle(a.id, a.text, spans["entity"], spans["trigger"]))
    return out


def learning_curve(sizes: list[int], work: Path) -> list[dict[str, Any]]:
    test = held_out(500)
    rows = []
    for n in sizes:
        root = work / f"gold-{n}"
        synthetic_state(root, TITLE, n, seed=21, make=news_article)
        took, peak = cli(["model", "train", "--project", TITLE, "--pulled", str(root)], cwd=root)
        info = json.loads((newest(TITLE, root) / store.MODEL_INFO).read_text(encoding="utf-8"))
        figures = evaluate(Tagger(newest(TITLE, root)), test)
        rows.append({"gold": n, "trained_on": info["articles"]["train"], "seconds": round(took, 1), "peak_mib": round(peak),
                     "entity_f1": figures["entities"]["all"]["f1"], "trigger_f1": figures["triggers"]["all"]["f1"],
                     "per_label": {k: v["f1"] for k, v in figures["entities"]["per_label"].items()}, "root": root})
    return rows


def suggestion(n: int, model_root: Path, home: Path | None, work: Path) -> dict[str, Any]:
    with benchmark_studio(home, work) as home:
        client = studio.connect(home)
        run_id = os.urandom(3).hex()
        corpus = work / "suggest.jsonl"
        write_jsonl(corpus, (news_article(i, 31).record() for i in range(n)))
        ours_title, floor_title = f"{TITLE}-ours-{run_id}", f"{TITLE}-floor-{run_id}"
        for title in (ours_title, floor_title):
            push.push(client, [corpus], title=title)
        pulled = work / "pulled"
        model = newest(TITLE, model_root)
        shutil.copytree(model, store.project_folder(ours_title, pulled) / store.MODELS / model.name)
        tagger = Tagger(model)
        # The floor: the same predictions, made beforehand, in one raw bulk POST.
        floor_project = client.project_titled(floor_title)
        tasks = [t for t in client.iter_tasks(floor_project.id, include="id,data")
                 if split_of(t["data"]["text"], 13, (0.8, 0.1, 0.1)) != "test"]
        found = find_all(tagger, [t["data"]["text"] for t in tasks])
        payload = [{"task": t["id"], "model_version": tagger.version, "score": suggest_mod.score(f), "result": suggest_mod.results(f)}
                   for t, f in zip(tasks, found)]
        with httpx.Client(base_url=client.url, timeout=3600) as http:
            start = time.perf_counter()
            response = http.post(f"/api/projects/{floor_project.id}/import/predictions", json=payload,
                                 headers={"Authorization": client._auth_header()})
            floor = time.perf_counter() - start
        response.raise_for_status()
        env_home = ["--home", str(home)]
        took, peak = cli(["model", "suggest", "--project", ours_title, "--pulled", str(pulled), "--control", "0", *env_home], cwd=work)
        made = len(client.project_predictions(client.project_titled(ours_title).id))
        assert made == len(payload), (made, len(payload))
        return {"tasks": n, "suggested": made, "seconds": round(took, 1), "peak_mib": round(peak), "floor": round(floor, 1)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="50,200,1000", help="gold articles of each training (default 50,200,1000)")
    parser.add_argument("--suggest", type=int, default=1000, help="tasks to suggest on (0: skip; default 1,000)")
    parser.add_argument("--home", type=Path, help="use this running embedded studio instead of starting one")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="annotate-model-"))
    try:
        curve = learning_curve(sizes, work)
        suggested = suggestion(args.suggest, curve[-1]["root"], args.home, work) if args.suggest else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"Suggestion model on synthetic made-up news ({machine()}); held-out: 500 articles, names never seen in training")
    print("| gold articles | trained on | train time | peak memory | entity F1 (held out) | trigger F1 | per label |")
    print("|---|---|---|---|---|---|---|")
    for r in curve:
        labels = ", ".join(f"{k} {v:.3f}" for k, v in r["per_label"].items())
        print(f"| {r['gold']:,} | {r['trained_on']:,} | {r['seconds']:.1f} s | {r['peak_mib']} MiB | {r['entity_f1']:.3f} | {r['trigger_f1']:.3f} | {labels} |")
    if suggested:
        print(f"`annotate model suggest` on {suggested['tasks']:,} tasks ({suggested['suggested']:,} suggested, the test split"
              f" withheld): {suggested['seconds']:.1f} s, peak {suggested['peak_mib']} MiB; one raw bulk POST of the same"
              f" predictions: {suggested['floor']:.1f} s ({suggested['seconds'] / suggested['floor']:.2f}×)")
    result = {"curve": [{k: v for k, v in r.items() if k != "root"} for r in curve], "suggest": suggested}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
