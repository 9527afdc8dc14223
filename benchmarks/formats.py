"""Export speed and peak memory of every format, side by side with hf, on one synthetic pull.

    .venv/bin/python benchmarks/formats.py              # 1,000 articles
    .venv/bin/python benchmarks/formats.py --n 10000

No server: the pulled state is written as `annotate pull` writes it (benchmarks/corpus.py). Each
format is exported by `annotate export` (the CLI's own entry) in a fresh process, which reports its
time from before its imports (so pyarrow and spaCy count where a format loads them) and its peak
resident memory (VmHWM). Not part of the timed tests.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import cli_process, machine, synthetic_state  # noqa: E402

from annotate.models import FORMATS  # noqa: E402

TITLE = "formats"
def measure(fmt: str, root: Path, out: Path) -> tuple[float, float, int]:
    """Seconds and peak MiB of `annotate export` in a fresh process, and the rows it wrote (from export.json)."""
    # Run from the pulled data's folder: a project's annotate.toml where this is started must not apply.
    took, peak = cli_process(["export", "--project", TITLE, "--pulled", root, "--out", out, "--format", fmt], cwd=root)
    rows = json.loads((out / "export.json").read_text(encoding="utf-8"))["rows"]
    return took, peak, sum(rows.values())


def main(argv: list[str] | None = None) -> list[dict[str, float | str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="articles (default 1,000)")
    parser.add_argument("--formats", default=",".join(FORMATS), help="formats to export (default: all)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="annotate-formats-"))
    try:
        synthetic_state(work / "pulled", TITLE, args.n, seed=7)
        rows = []
        for fmt in args.formats.split(","):
            took, peak, written = measure(fmt, work / "pulled", work / f"out-{fmt}")
            assert written == args.n, (fmt, written)
            rows.append({"format": fmt, "seconds": round(took, 2), "peak_mib": round(peak, 1)})
            shutil.rmtree(work / f"out-{fmt}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    hf = next((r for r in rows if r["format"] == "hf"), None)
    print(f"Export of {args.n:,} articles, each format in a fresh process ({machine()})")
    print("| format | time | × hf | peak memory | × hf |")
    print("|---|---|---|---|---|")
    for r in rows:
        vs_time = f"{r['seconds'] / hf['seconds']:.2f}×" if hf else "-"
        vs_mem = f"{r['peak_mib'] / hf['peak_mib']:.2f}×" if hf else "-"
        print(f"| {r['format']} | {r['seconds']:.2f} s | {vs_time} | {r['peak_mib']:.1f} MiB | {vs_mem} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return rows


if __name__ == "__main__":
    main()
