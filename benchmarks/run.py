"""Benchmarks of push, pull and export against a real Label Studio, each beside its floor.

Each step is the `annotate` command a user runs, in a fresh process (start-up and imports
included); the floors are single raw requests (and the SDK's converter) measured in this process.

    .venv/bin/python benchmarks/run.py                      # small: N=300, memory 300 vs 3,000
    .venv/bin/python benchmarks/run.py --n 10000 --memory 5000,50000 --rounds 3

``--rounds R`` measures push, re-push and export R times, each beside its floor in turn, and
reports the medians and the median of the rounds' ratios: on a shared 2-core machine one
pair of runs varies by as much as 20%, more than some of the gaps to the targets.

Starts its own embedded Label Studio in a temporary folder (or uses ``--home``),
generates the synthetic corpus (benchmarks/corpus.py), and prints one table of
figures measured side by side in the same run. Not part of the timed tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from statistics import median
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import article  # noqa: E402

from annotate import push, schema as schema_mod, store  # noqa: E402
from annotate.labelstudio import servers, studio  # noqa: E402
from annotate.labelstudio import codec  # noqa: E402
from annotate.labelstudio.client import LabelStudioClient  # noqa: E402
from annotate.files import write_json, write_jsonl  # noqa: E402
from annotate.models import content_hash  # noqa: E402


@dataclass
class Row:
    step: str
    ours: float
    floor: float
    floor_name: str
    target: float
    unit: str = "s"
    ratios: list[float] = field(default_factory=list)  # each round's ours/floor; ``ours`` and ``floor`` are then medians

    @property
    def ratio(self) -> float:
        if self.ratios:
            return median(self.ratios)
        return self.ours / self.floor if self.floor else float("inf")

    @property
    def ok(self) -> bool:
        return self.ratio <= self.target


CLI_CODE = """
import re, resource, sys, time
from pathlib import Path
started = time.perf_counter()
from annotate.cli import main
code = main({args!r})
took = time.perf_counter() - started
own = int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
print(took, max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024, code, file=sys.stderr)
"""


def cli_process(args: list[str], cwd: Path) -> tuple[float, float]:
    """Seconds and peak MiB of one `annotate` command as a user runs it: a fresh process, timed from before its imports.

    Peak memory is the process's own VmHWM, or a child's it waited for (a forked trainer), whichever
    is higher. Run from ``cwd``, so that no annotate.toml of the checkout applies.
    """
    done = subprocess.run([sys.executable, "-c", CLI_CODE.format(args=[str(a) for a in args])], capture_output=True, text=True, cwd=cwd)
    took, peak, code = done.stderr.split()[-3:]
    assert code == "0", done.stderr[-2000:]
    return float(took), float(peak)


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def raw_post_import(client: LabelStudioClient, project_id: int, tasks: list[dict[str, Any]]) -> float:
    """The floor: one bulk POST of all tasks, nothing else."""
    with httpx.Client(base_url=client.url, timeout=3600) as http:
        start = time.perf_counter()
        response = http.post(
            f"/api/projects/{project_id}/import",
            json=tasks,
            headers={"Authorization": client._auth_header()},
        )
        elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed


def backdate(home: Path, project_id: int, hours: int) -> bool:
    """Move the times of a project's tasks back, in the embedded studio's SQLite database; False if it has none."""
    import sqlite3

    db = servers.home_paths(home)["data"] / "label_studio.sqlite3"
    if not db.exists():
        return False
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE task SET updated_at = datetime(updated_at, '-{hours} hours') WHERE project_id = ?", (project_id,))
    return True


def raw_export(client: LabelStudioClient, project_id: int, path: Path) -> float:
    """The floor: one call of the export endpoint, saved to a file."""
    with httpx.Client(base_url=client.url, timeout=3600) as http:
        start = time.perf_counter()
        response = http.get(
            f"/api/projects/{project_id}/export",
            params={"exportType": "JSON", "download_all_tasks": "true"},
            headers={"Authorization": client._auth_header()},
        )
        path.write_bytes(response.content)
        elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed


def annotated_tasks(n: int, seed: int, user: int) -> list[dict[str, Any]]:
    tasks = []
    for i in range(n):
        a = article(i, seed)
        data = {"article_id": a.id, "version": 1, "content_hash": content_hash(a.text), "title": a.title, "text": a.text}
        tasks.append({"data": data, "meta": {"article_id": a.id, "version": 1, "content_hash": data["content_hash"]},
                      "annotations": [{"result": a.result, "completed_by": user}]})
    return tasks


def converter_floor(label_config: str, export_path: Path, out: Path) -> float:
    """Label Studio's own converter (label_studio_sdk.converter), CONLL2003, on the same export."""
    from label_studio_sdk.converter import Converter

    start = time.perf_counter()
    Converter(config=label_config, project_dir=None, download_resources=False).convert_to_conll2003(
        str(export_path), str(out), is_dir=False
    )
    return time.perf_counter() - start


def synthetic_state(root: Path, title: str, n: int, seed: int, make: Any = article) -> None:
    """A pulled state as `annotate pull` writes it, without a server: ``n`` articles of ``make`` (corpus.py), each annotated once."""
    folder = store.project_folder(title, root)

    def tasks() -> Any:
        for i in range(n):
            a = make(i, seed)
            data = {"article_id": a.id, "version": 1, "content_hash": content_hash(a.text), "title": a.title, "text": a.text}
            yield {"id": i + 1, "data": data, "annotations": [{"id": i + 1, "completed_by": 1, "result": a.result}]}

    write_jsonl(folder / "state.jsonl", tasks())
    write_json(folder / "manifest.json", {"project_id": 1, "project_title": title})


def peak_memory_of_export(root: Path, title: str, out: Path) -> float:
    """Peak resident memory (MiB) of validate + export in a fresh process.

    Read from the process's own VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss
    over fork and exec, so a child of this (large) benchmark process reported the parent's peak.
    """
    code = (
        "import re; from pathlib import Path; from annotate import export;"
        f"export.export({title!r}, Path({str(out)!r}), root=Path({str(root)!r}));"
        "print(re.search(r'VmHWM:\\s+(\\d+) kB', Path('/proc/self/status').read_text()).group(1))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1]) / 1024


@contextmanager
def benchmark_studio(home: Path | None, work: Path) -> Iterator[Path]:
    """``home``, a running studio given with --home; else a studio of its own in ``work``, stopped afterwards."""
    if home is not None:
        yield home
        return
    home = work / "embedded-studio"  # not "studio": a folder holding one reads as a studio home
    studio.start(home, port=_free_port(), timeout=600)
    try:
        yield home
    finally:
        studio.stop(home)


def rounds_row(step: str, pairs: list[tuple[float, float]], floor_name: str, target: float) -> Row:
    """A step measured in rounds of (ours, floor): the medians, and the median of the rounds' ratios."""
    label = f"{step} (median of {len(pairs)})" if len(pairs) > 1 else step
    return Row(label, median(o for o, _ in pairs), median(f for _, f in pairs), floor_name, target,
               ratios=[o / f for o, f in pairs])


def run(n: int, memory: tuple[int, int], home: Path | None, work: Path, seed: int = 7, rounds: int = 1) -> list[Row]:
    rows: list[Row] = []
    s = schema_mod.load()
    with benchmark_studio(home, work) as home:
        client = studio.connect(home)
        corpus = work / "corpus.jsonl"
        write_jsonl(corpus, (article(i, seed).record() for i in range(n)))
        run_id = os.urandom(3).hex()

        # push N new articles vs one raw bulk POST of the same tasks; `annotate push` as a user runs it
        from annotate.ingest import read_articles

        tasks = [codec.task(a) for a in read_articles([corpus])]
        pushes: list[tuple[float, float]] = []
        repushes: list[tuple[float, float]] = []
        for r in range(rounds):
            floor_project = client.create_project(f"bench-floor-{run_id}-{r}", **push.project_settings(s))
            floor = raw_post_import(client, floor_project.id, tasks)
            title = f"bench-push-{run_id}-{r}"
            ours, _ = cli_process(["push", corpus, "--project", title, "--home", home], cwd=work)
            assert client.project_titled(title).task_number == n
            again, _ = cli_process(["push", corpus, "--project", title, "--home", home], cwd=work)
            assert client.project_titled(title).task_number == n
            pushes.append((ours, floor))
            repushes.append((again, ours))
            if r + 1 < rounds:  # every round imports into a studio of the same size
                client.delete_project(floor_project.id)
                client.delete_project(client.project_titled(title).id)
        rows.append(rounds_row(f"push {n:,} new articles", pushes, "one raw bulk POST", 1.25))
        rows.append(rounds_row(f"push the same {n:,} again", repushes, "the first push", 0.25))

        # pull N annotated articles vs one raw export call
        user = client.whoami()["id"]
        annotated = client.create_project(f"bench-pull-{run_id}", **push.project_settings(s))
        all_tasks = annotated_tasks(n, seed, user)
        for start in range(0, n, 1000):
            client.import_tasks(annotated.id, all_tasks[start : start + 1000])
        # The work is an hour old, as between two pulls of a working day: an incremental pull's window
        # (pull.WINDOW, two minutes) would otherwise hold every task made in the last minute.
        backdated = backdate(home, annotated.id, hours=1)
        raw_path = work / "raw-export.json"
        floor = raw_export(client, annotated.id, raw_path)
        pulled = work / "pulled"
        pull_args = ["pull", "--project", annotated.title, "--pulled", pulled, "--home", home]
        full, _ = cli_process([*pull_args, "--full"], cwd=work)
        folder = store.project_folder(annotated.title, pulled)
        assert store.read_manifest(folder)["counts"]["annotations"] == n
        # The pull goes through an export snapshot: it must hold what one direct export holds.
        direct = sorted((codec.canonical(t) for t in json.loads(raw_path.read_text(encoding="utf-8"))), key=lambda t: int(t["id"]))
        with (folder / store.STATE).open(encoding="utf-8") as f:
            assert [json.loads(line) for line in f] == direct, "the pull through a snapshot differs from a direct export"
        rows.append(Row(f"pull {n:,} annotated articles", full, floor, "one raw export call", 1.2))

        # incremental pull after 1% changed
        refs = client.task_refs(annotated.id)[: max(1, n // 100)]
        for ref in refs:
            task = client.get_task(ref.id)
            annotation = task["annotations"][0]
            client.update_annotation(annotation["id"], result=annotation["result"], lead_time=1.0)
        inc, _ = cli_process(pull_args, cwd=work)
        manifest = store.read_manifest(folder)
        assert manifest["mode"] == "incremental" and manifest["counts"]["tasks_fetched"] >= len(refs)
        assert manifest["listed_since"] is not None or not backdated, "the incremental pull listed every task"
        rows.append(Row(f"incremental pull, {len(refs)} changed", inc, full, "the full pull", 0.1))

        # validate + export to a DatasetDict vs the SDK converter's CONLL2003 on the same export
        config = client.get_project(annotated.id).label_config
        exports: list[tuple[float, float]] = []
        for r in range(rounds):
            floor = converter_floor(config, raw_path, work / f"converter-{r}")
            out = work / f"dataset-{r}"
            ours, _ = cli_process(["export", "--project", annotated.title, "--pulled", pulled, "--out", out], cwd=work)
            assert sum(json.loads((out / "export.json").read_text(encoding="utf-8"))["rows"].values()) == n
            exports.append((ours, floor))
            shutil.rmtree(out)
        rows.append(rounds_row(f"validate + export {n:,} to a DatasetDict", exports, "SDK converter CONLL2003", 1.0))

    # peak memory of validate + export, large vs small (no server needed)
    small, large = memory
    peaks = []
    for size in (small, large):
        root = work / f"memory-{size}"
        synthetic_state(root, "memory", size, seed)
        peaks.append(peak_memory_of_export(root, "memory", work / f"memory-out-{size}"))
        shutil.rmtree(root)
    rows.append(Row(f"peak memory, validate + export {large:,} vs {small:,}", peaks[1], peaks[0], f"{small:,} articles", 1.5, "MiB"))
    return rows


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def table(rows: list[Row]) -> str:
    lines = [
        "| step | ours | floor | measured against | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.step} | {r.ours:.2f} {r.unit} | {r.floor:.2f} {r.unit} | {r.floor_name} | {r.ratio:.2f}× | ≤ {r.target}× | {'yes' if r.ok else 'NO'} |"
        )
    return "\n".join(lines)


def machine() -> str:
    cpus = os.cpu_count()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import label_studio

    return f"{platform.machine()}, {cpus} cores, {mem:.0f} GiB, Python {platform.python_version()}, Label Studio {label_studio.__version__}"


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="articles for push, pull and export (default 300)")
    parser.add_argument("--memory", default="300,3000", help="small,large article counts for the memory ratio")
    parser.add_argument("--home", type=Path, help="use this running embedded studio instead of starting one")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--rounds", type=int, default=1, help="measure push, re-push and export this many times (medians)")
    args = parser.parse_args(argv)
    small, large = (int(x) for x in args.memory.split(","))
    work = Path(tempfile.mkdtemp(prefix="annotate-bench-"))
    try:
        rows = run(args.n, (small, large), args.home, work, rounds=args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {machine()}")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ | {"ratio": r.ratio, "ok": r.ok} for r in rows], indent=2), encoding="utf-8")
    return rows


if __name__ == "__main__":
    main()
