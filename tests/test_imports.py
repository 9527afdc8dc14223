"""The package's layers import one way: no module imports (at the top or inside a function) one that imports it back."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "annotate"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """Every annotate module ``path`` imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = (f"{base}.{node.module}" if node.module else base) if node.level else (node.module or "")
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from . import push` names a module
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (imports for type hints only never run)."""
    nodes: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return nodes


def graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {t for t in _imports(path, name) if t in modules and t != name} for name, path in modules.items()}


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_module_imports_another_that_imports_it_back() -> None:
    edges = graph()
    # Giving out articles is a layer above push and the roster; neither knows anything of it.
    assert {"annotate.push", "annotate.team"} <= edges["annotate.distribute"]
    assert not any(m.startswith(("annotate.team", "annotate.distribute")) for m in edges["annotate.push"])
    assert "annotate.distribute" not in edges["annotate.team"]
    assert _cycle(edges) is None, " -> ".join(_cycle(edges) or [])


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


# Read only by Django inside the studio's server process, where Label Studio's folder is on sys.path.
DJANGO_SETTINGS = {"annotate.labelstudio.guard_settings", "annotate.labelstudio.studio_settings"}


@pytest.mark.slow
def test_every_module_imports_in_a_fresh_interpreter(tmp_path: Path) -> None:
    import subprocess
    import sys

    modules = sorted(graph())
    plain = [m for m in modules if m not in DJANGO_SETTINGS]
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    done = subprocess.run([sys.executable, "-c", script, *plain], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # The settings modules, as the server imports them: Label Studio's package folder on the path.
    settings = (
        "import sys, importlib, importlib.util, pathlib\n"
        "sys.path.insert(0, str(pathlib.Path(importlib.util.find_spec('label_studio').origin).parent))\n"
        "for name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    )
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "annotate.labelstudio.studio_settings"}
    done = subprocess.run([sys.executable, "-c", settings, *sorted(DJANGO_SETTINGS)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr


LONG = 500


def test_no_module_is_longer_than_500_lines_without_saying_why() -> None:
    import ast

    long = {}
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > LONG:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if f"Longer than {LONG} lines on purpose" not in doc:
                long[_module(path)] = text.count("\n")
    assert long == {}, f"modules over {LONG} lines without a reason at their top: {long}"
