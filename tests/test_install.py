"""The package as a user installs it: a wheel (not the editable checkout), run from a folder that is not the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from annotate.labelstudio.client import LabelStudioClient
from conftest import ROOT

# What a wheel is built from; the rest of the checkout (tests, seeds, the schemas symlink) must not be needed.
SOURCES = ("pyproject.toml", "README.md", "annotate")
# Files the package reads at run time, which setuptools leaves out of a wheel unless told.
PACKAGE_DATA = ("annotate/schemas/ace2005_conflict.yaml", "annotate/schemas/entities_small.yaml", "annotate/export/card.md")


def _run(command: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a command outside the checkout with nothing pointing Python at it."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def build_wheel(tmp_path: Path) -> Path:
    """A wheel of the checkout, built from a copy: setuptools leaves build/ and *.egg-info beside what it builds."""
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp_path / "dist"], cwd=src)
    (wheel,) = (tmp_path / "dist").glob("annotate-*.whl")
    return wheel


def install_wheel(wheel: Path, venv: Path) -> Path:
    """Install ``wheel`` alone into a new empty venv that sees this venv's dependencies; return its bin/ folder.

    Why ``--no-deps`` and a ``.pth`` file: installing Label Studio, datasets and the rest from PyPI
    into a fresh venv takes many minutes, so the wheel is installed on its own, not editable, and
    one line in a ``.pth`` file puts this venv's site-packages on the new venv's ``sys.path``. A
    ``.pth`` line only adds its folder: the ``.pth`` files inside that folder are not run, so the
    editable install's finder (``__editable__*.pth``, which maps ``annotate`` to the checkout) is
    not loaded, and the new venv's own site-packages comes first: ``annotate`` can only be the wheel's.
    """
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv.parent)
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=venv.parent).stdout.strip())
    (site / "annotate-test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    # This venv's pip installs into the new one (--python), so the new venv needs no pip of its own.
    _run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
         "--disable-pip-version-check", "-q", wheel],
        cwd=venv.parent,
    )
    return venv / "bin"


@pytest.mark.studio
def test_wheel_installed_elsewhere_runs_with_its_packaged_schema(
    tmp_path: Path, studio_home: Path, client: LabelStudioClient, project_title: str
) -> None:
    before = sorted(p.name for p in ROOT.iterdir())
    wheel = build_wheel(tmp_path)
    assert sorted(p.name for p in ROOT.iterdir()) == before  # no build/ or egg-info left in the checkout
    assert set(PACKAGE_DATA) <= set(zipfile.ZipFile(wheel).namelist())

    work = tmp_path / "work"  # no schemas/, no annotate/: only what the wheel installed can be found
    work.mkdir()
    bin_ = install_wheel(wheel, tmp_path / "venv")
    where = _run([bin_ / "python", "-c", "import annotate; print(annotate.__file__)"], cwd=work).stdout.strip()
    assert Path(where).is_relative_to(tmp_path / "venv") and not Path(where).is_relative_to(ROOT)

    xml = _run([bin_ / "annotate", "schema", "xml"], cwd=work).stdout
    assert '<Labels name="entity"' in xml
    assert "OK" in _run([bin_ / "annotate", "schema", "check"], cwd=work).stdout

    article = work / "wheel-article.txt"
    article.write_text("غارة جوية على الرقة\nقصفت طائرات التحالف مواقع في الرقة اليوم.\n", encoding="utf-8")
    pushed = _run([bin_ / "annotate", "push", article, "--project", project_title, "--home", studio_home], cwd=work).stdout
    assert "1 read, 1 imported" in pushed
    refs = client.task_refs(client.project_titled(project_title).id)
    assert [r.article_id for r in refs] == ["wheel-article"]
