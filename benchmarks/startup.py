"""Start-up time of the CLI: `annotate --help`, the console script of this venv, run N times.

    .venv/bin/python benchmarks/startup.py            # 10 runs; exit 1 if the median is over 0.35 s
    .venv/bin/python benchmarks/startup.py --n 30 --target 0.35

Every command pays the start-up before it does anything, so the CLI imports a stage only inside
its command (imported eagerly, ``datasets``, ``pandas`` and ``pyarrow`` were most of a second). Prints one
table like benchmarks/run.py's, with a bare Python start-up beside it for the floor, and the
modules that cost most in ``python -X importtime -c "import annotate.cli"``. Needs no Label Studio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

TARGET = 0.35  # seconds, median of `annotate --help` on the 2-core machine of BENCHMARKS.md


@dataclass
class Row:
    step: str
    runs: list[float]
    target: float | None = None  # None: shown for comparison only

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def ok(self) -> bool:
        return self.target is None or self.median <= self.target


def timed_runs(command: list[str], n: int) -> list[float]:
    """Wall-clock seconds of ``n`` runs of ``command``, output discarded; one untimed run first warms the file cache."""
    runs = []
    for i in range(n + 1):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        if i:
            runs.append(time.perf_counter() - start)
    return runs


def import_offenders(python: str, top: int = 10) -> list[tuple[str, float]]:
    """The modules imported directly by ``import annotate.cli`` (and it), by cumulative import time in seconds."""
    done = subprocess.run([python, "-X", "importtime", "-c", "import annotate.cli"], capture_output=True, text=True, check=True)
    found = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        depth = (len(name) - len(name.lstrip())) // 2  # importtime indents each level by two spaces
        if depth <= 1:
            found.append((name.strip(), int(cumulative) / 1e6))
    return sorted(found, key=lambda x: -x[1])[:top]


def table(rows: list[Row]) -> str:
    lines = ["| step | median | min | max | runs | target | met |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        target = f"≤ {r.target:.2f} s" if r.target is not None else "-"
        met = ("yes" if r.ok else "NO") if r.target is not None else "-"
        lines.append(
            f"| {r.step} | {r.median:.3f} s | {min(r.runs):.3f} s | {max(r.runs):.3f} s | {len(r.runs)} | {target} | {met} |"
        )
    return "\n".join(lines)


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10, help="timed runs of each command (default 10)")
    parser.add_argument("--target", type=float, default=TARGET, help=f"most seconds the median may take (default {TARGET})")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    python = sys.executable
    script = Path(python).parent / "annotate"  # the console script pip made, as a user runs it
    if not script.exists():
        parser.error(f"{script} does not exist: run this with the venv's python after `make install`")
    rows = [
        Row("python -c pass (floor)", timed_runs([python, "-c", "pass"], args.n)),
        Row("annotate --help", timed_runs([str(script), "--help"], args.n), args.target),
    ]
    print(f"machine: {machine()}")
    print(table(rows))
    print("slowest imports of `import annotate.cli` (cumulative):")
    for name, seconds in import_offenders(python):
        print(f"  {seconds:.3f} s  {name}")
    if args.json:
        args.json.write_text(
            json.dumps([{"step": r.step, "median": r.median, "runs": r.runs, "target": r.target, "ok": r.ok} for r in rows], indent=2),
            encoding="utf-8",
        )
    return rows


if __name__ == "__main__":
    sys.exit(0 if all(r.ok for r in main()) else 1)
