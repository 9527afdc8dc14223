"""The README and docs/ hold together: every relative link resolves (file and heading), and every
command of the CLI is in the command reference, once."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from annotate.cli import app

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", page.read_text(encoding="utf-8"), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_every_relative_link_resolves() -> None:
    broken = []
    count = 0
    for page in PAGES:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target):
                continue  # https:, mailto:
            count += 1
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert count >= 10 and broken == []


def commands() -> list[str]:
    def walk(command: object, path: list[str]) -> list[str]:
        children = getattr(command, "commands", {})
        if not children:
            return [" ".join(path)]
        return [c for name in sorted(children) for c in walk(children[name], [*path, name])]

    return walk(typer.main.get_command(app), [])


def test_every_command_is_in_the_reference_once() -> None:
    reference = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `annotate ([a-z ]+?)(?: [\[A-Z-]|`)", reference, re.M)
    listed = sorted(commands())
    assert len(listed) >= 19
    assert sorted(rows) == listed  # each command in one row, none missing, none twice


def test_the_readme_is_short() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) < 150


def test_the_readmes_module_map_names_every_module() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("The package, in pipeline order") :]
    table = table[: table.index("\n\n", table.index("| module | what |"))]
    named = set(re.findall(r"`([^`]+)`", table))
    missing = []
    for path in sorted((ROOT / "annotate").rglob("*.py")):
        module = path.relative_to(ROOT / "annotate").as_posix()
        if path.name == "__init__.py":
            continue
        if not ({module, path.name, path.stem} & named):
            missing.append(module)
    assert missing == []
