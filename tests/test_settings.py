"""Where annotate looks: the project root found walking up, ``annotate.toml``, and the ANNOTATE_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotate import settings
from annotate.labelstudio import studio
from annotate.schema import DEFAULT_SCHEMA, label_config, load
from annotate.store import project_folder, pulled_root
from conftest import SMALL_SCHEMA
from test_cli import run


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project root with a settings file and a schema beside it; tests run from its subfolder a/b."""
    root = tmp_path / "project"
    (root / "schemas").mkdir(parents=True)
    (root / "schemas" / "small.yaml").write_bytes(SMALL_SCHEMA.read_bytes())
    (root / settings.SETTINGS_FILE).write_text('project = "conflict-2024"\nschema = "schemas/small.yaml"\n', encoding="utf-8")
    (root / "a" / "b").mkdir(parents=True)
    return root


@pytest.fixture
def no_root_above(tmp_path: Path) -> Path:
    """A folder with no project root above it (else the walk-up would rightly find that one)."""
    if settings.find_root(tmp_path) is not None:
        pytest.skip(f"a folder above {tmp_path} holds .annotate/ or annotate.toml")
    return tmp_path


# --- finding the root -------------------------------------------------------------------------


def test_the_root_is_the_nearest_folder_with_annotate_or_a_settings_file(project: Path) -> None:
    deep = project / "a" / "b"
    assert settings.find_root(deep) == project.resolve()
    (project / "a" / ".annotate").mkdir()
    assert settings.find_root(deep) == (project / "a").resolve()  # the nearest wins, as with git
    (project / "a" / ".annotate").rmdir()
    (project / "a" / ".annotate").write_text("")  # a file named .annotate is not a studio home
    assert settings.find_root(deep) == project.resolve()


def test_without_a_root_the_working_folder_is_used_as_before(no_root_above: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(no_root_above)
    monkeypatch.delenv(studio.ENV_HOME, raising=False)
    assert settings.find_root() is None and settings.project_root() == no_root_above.resolve()
    assert studio.home() == no_root_above.resolve() / ".annotate"
    assert pulled_root() == no_root_above.resolve() / "exports"


def test_studio_home_and_pulled_data_are_found_from_a_subfolder(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project / "a" / "b")
    monkeypatch.delenv(studio.ENV_HOME, raising=False)
    assert studio.home() == project.resolve() / ".annotate"
    assert studio.push_cache() == project.resolve() / ".annotate" / "push-index"
    assert pulled_root() == project.resolve() / "exports"
    # explicit choices win; ANNOTATE_HOME moves the studio only
    assert pulled_root(Path("elsewhere")) == (project / "a" / "b" / "elsewhere").resolve()
    monkeypatch.setenv(studio.ENV_HOME, str(project / "studio"))
    assert studio.home() == (project / "studio").resolve()
    assert studio.home(project / "given") == (project / "given").resolve()
    assert pulled_root() == project.resolve() / "exports"


# --- the settings file and the environment --------------------------------------------------------


def test_option_beats_environment_beats_file_beats_default(project: Path, tmp_path: Path) -> None:
    deep = project / "a" / "b"
    from_file = settings.resolve(start=deep, environ={})
    assert from_file.project == "conflict-2024" and from_file.schema == (project / "schemas" / "small.yaml").resolve()
    assert from_file.file == project.resolve() / settings.SETTINGS_FILE and from_file.project_from == str(from_file.file)

    env = {settings.ENV_PROJECT: "from-env", settings.ENV_SCHEMA: str(DEFAULT_SCHEMA)}
    from_env = settings.resolve(start=deep, environ=env)
    assert (from_env.project, from_env.schema, from_env.project_from) == ("from-env", DEFAULT_SCHEMA, "$ANNOTATE_PROJECT")

    given = settings.resolve("given", SMALL_SCHEMA, start=deep, environ=env)
    assert (given.project, given.schema, given.schema_from) == ("given", SMALL_SCHEMA, "--schema")

    (project / settings.SETTINGS_FILE).write_text("", encoding="utf-8")  # an empty file: the defaults
    assert settings.resolve(start=deep, environ={settings.ENV_PROJECT: "  "}) == settings.Settings(
        None, None, project.resolve() / settings.SETTINGS_FILE
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('project = "x\n', "not valid TOML"),
        ('project = "x"\nprojct = "y"\n', "unknown key 'projct'"),
        ("project = 3\n", "'project' must be a string (in quotes), not int"),
        ('[project]\nname = "x"\n', "'project' must be a string (in quotes), not a table"),
        ('schema = ""\n', "'schema' is empty"),
        ('schema = "missing.yaml"\n', "'schema' names"),
    ],
)
def test_a_bad_settings_file_is_named_with_the_key(project: Path, text: str, message: str) -> None:
    path = project / settings.SETTINGS_FILE
    path.write_text(text, encoding="utf-8")
    with pytest.raises(settings.SettingsError) as raised:
        settings.resolve(start=project / "a", environ={})
    assert raised.value.message.startswith(f"{path.resolve()}: ") and message in raised.value.message

    done = run("validate", cwd=project / "a")  # the CLI: the message, exit 1, no traceback
    assert done.returncode == 1 and f"error: {path.resolve()}: " in done.stderr and message in done.stderr
    assert "Traceback" not in done.stderr


# --- the commands, run from a subfolder -------------------------------------------------------------


def test_commands_use_the_settings_file_from_a_subfolder(project: Path) -> None:
    deep = project / "a" / "b"
    xml = run("schema", "xml", cwd=deep)
    assert xml.returncode == 0, xml.stderr
    assert xml.stdout == label_config(load(SMALL_SCHEMA))

    nothing = run("validate", cwd=deep)
    assert nothing.returncode == 1
    assert f"{project_folder('conflict-2024', project.resolve() / 'exports')}: nothing has been pulled here yet" in nothing.stderr

    status = run("studio", "status", cwd=deep)
    assert status.returncode == 3 and status.stdout == f"not running (studio home {project.resolve() / '.annotate'})\n  database: SQLite\n"


def test_the_environment_names_the_project_and_schema(no_root_above: Path) -> None:
    env = {settings.ENV_PROJECT: "from-env", settings.ENV_SCHEMA: str(SMALL_SCHEMA)}
    done = run("validate", cwd=no_root_above, env=env)
    assert done.returncode == 1
    assert f"{project_folder('from-env', no_root_above.resolve() / 'exports')}: nothing has been pulled here yet" in done.stderr
    xml = run("schema", "xml", cwd=no_root_above, env=env)
    assert xml.stdout == label_config(load(SMALL_SCHEMA))


def test_annotate_toml_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """Issue 18: a BOM before the first line read as 'Invalid statement'."""
    (tmp_path / settings.SETTINGS_FILE).write_bytes(b"\xef\xbb\xbf" + 'project = "conflict-2024"\n'.encode("utf-8"))
    assert settings.resolve(start=tmp_path, environ={}).project == "conflict-2024"
