"""Schema files: loading, problems by file/line/field, generated config and instructions."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from annotate import labelconfig, schema
from annotate.cli import main
from annotate.errors import SchemaError
from conftest import DEFAULT_SCHEMA, SMALL_SCHEMA

ACE_EVENTS = {
    "Conflict:Attack": {"Attacker", "Target", "Instrument", "Place", "Time"},
    "Conflict:Demonstrate": {"Entity", "Place", "Time"},
    "Life:Die": {"Agent", "Victim", "Instrument", "Place", "Time"},
    "Life:Injure": {"Agent", "Victim", "Instrument", "Place", "Time"},
    "Movement:Transport": {"Agent", "Artifact", "Vehicle", "Origin", "Destination", "Time"},
    "Justice:Arrest-Jail": {"Person", "Agent", "Place", "Time"},
    "Contact:Meet": {"Entity", "Place", "Time"},
}


def test_default_schema_has_ace_types_roles_and_arabic_names() -> None:
    s = schema.load(DEFAULT_SCHEMA)
    assert [e.name for e in s.entities if e.kind == "entity"] == ["PER", "ORG", "GPE", "LOC", "FAC", "VEH", "WEA"]
    assert [e.name for e in s.entities if e.kind == "value"] == ["TIME", "NUM"]
    assert {e.name: {r.name for r in e.roles} for e in s.events} == ACE_EVENTS
    attack = s.event("Conflict:Attack")
    assert attack is not None and set(attack.role("Attacker").types) == {"PER", "ORG", "GPE"}  # type: ignore[union-attr]
    labels = list(s.entities) + list(s.events)
    assert all(re.search("[\u0600-\u06ff]", x.ar) and x.description and x.color and x.hotkey for x in labels)
    assert len({x.hotkey for x in labels}) == len(labels)
    assert [d.name for d in s.document] == ["on_topic", "text_issues"]
    assert len(s.sha256) == 64


def test_small_schema_is_entities_only() -> None:
    s = schema.load(SMALL_SCHEMA)
    assert [e.name for e in s.entities] == ["PER", "ORG", "LOC"] and s.events == ()


@pytest.mark.parametrize("path", [DEFAULT_SCHEMA, SMALL_SCHEMA])
def test_label_config_reads_right_to_left_and_stores_schema_names(path: Path) -> None:
    s = schema.load(path)
    root = ET.fromstring(schema.label_config(s))
    text = root.find(".//Text")
    assert text is not None and text.get("value") == "$text"
    rtl_views = [v for v in root.iter("View") if "direction: rtl" in (v.get("style") or "")]
    assert rtl_views, "the article must be shown right to left"
    entity = root.find(".//Labels[@name='entity']")
    assert entity is not None and entity.get("toName") == "text"
    # What annotations store (alias) is the schema name; what annotators see (value) is Arabic.
    assert [(lab.get("alias"), lab.get("value")) for lab in entity] == [(e.name, e.ar) for e in s.entities]
    assert [lab.get("hotkey") for lab in entity] == [e.hotkey for e in s.entities]
    trigger = root.find(".//Labels[@name='trigger']")
    relations = root.find(".//Relations")
    if s.events:
        assert trigger is not None and trigger.get("toName") == "text"
        assert [lab.get("alias") for lab in trigger] == [e.name for e in s.events]
        assert relations is not None
        stored = [schema.role_of_relation_label(r.get("value") or "") for r in relations]
        assert stored == list(s.role_names)
    else:
        assert trigger is None and relations is None


def test_instructions_list_every_label_and_role_in_arabic() -> None:
    s = schema.load(DEFAULT_SCHEMA)
    html = schema.instructions_html(s)
    assert 'dir="rtl"' in html
    for label in list(s.entities) + list(s.events):
        assert label.ar in html and label.name in html
    for event in s.events:
        for role in event.roles:
            assert role.ar in html


class _Guide(HTMLParser):
    """The instructions' text pieces with the tags open around each."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, dict[str, str | None]]] = []
        self.pieces: list[tuple[str, list[tuple[str, dict[str, str | None]]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "br":
            self.open.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.pieces.append((data, list(self.open)))


def test_instructions_give_the_order_the_editor_obeys() -> None:
    html = schema.instructions_html(schema.load(DEFAULT_SCHEMA))
    # Label Studio 1.23 creates a region only when the label is chosen before the selection.
    assert "ظلّل الكلمات بالفأرة ثم اختر التسمية" not in html
    assert "انقر التسمية في الشريط أعلى المقال أو اضغط مفتاحها، ثم ظلّل الكلمات بالفأرة" in html
    assert "فلا يُنشئ شيئاً" in html
    for step in ("Alt+R", "Relations", "Select labels", "Submit", "Instructions", "Backspace"):
        assert step in html


@pytest.mark.parametrize("path", [DEFAULT_SCHEMA, SMALL_SCHEMA])
def test_instructions_isolate_every_latin_run_and_rule_their_tables(path: Path) -> None:
    s = schema.load(path)
    html = schema.instructions_html(s)
    parser = _Guide()
    parser.feed(html)
    latin = [(text, tags) for text, tags in parser.pieces if re.search("[A-Za-z]", text) and tags[-1][0] != "style"]
    assert latin
    for text, tags in latin:
        # Inside <bdi dir="ltr"> or <kbd dir="ltr">: the bidi algorithm cannot jumble it with the Arabic.
        assert tags[-1][0] in ("bdi", "kbd") and tags[-1][1].get("dir") == "ltr", text
    # Ruled, padded cells: the modal's own CSS draws none.
    css = re.search(r"<style>(.*?)</style>", html, re.S)
    cells = rf"\.{labelconfig._GUIDE_CLASS} th, \.{labelconfig._GUIDE_CLASS} td \{{[^}}]*border: 1px solid[^}}]*padding"
    assert css and re.search(cells, css.group(1))
    assert "<table>" in html and "<th>" in html
    assert ("Relations" in html) == bool(s.events)


def test_instructions_list_the_keys_of_labels_and_answers() -> None:
    s = schema.load(DEFAULT_SCHEMA)
    html = schema.instructions_html(s)
    for x in (*s.entities, *s.events):
        key = (x.hotkey or "").upper()
        assert f'<td><bdi dir="ltr">{x.name}</bdi></td><td><kbd dir="ltr">{key}</kbd></td>' in html
    # The document questions' answers, with the keys Label Studio gives them (see the config).
    answers = [("نعم", "8"), ("لا", "9"), ("غير واضح", "0")]
    answers += [("بقايا من الموقع", "Q"), ("نص مقتطع", "E"), ("نص مشوه", "A")]
    for answer, key in answers:
        assert f"{answer} <kbd dir=\"ltr\">{key}</kbd>" in html


def test_label_config_keeps_the_bar_in_view_and_the_keys_apart() -> None:
    s = schema.load(DEFAULT_SCHEMA)
    root = ET.fromstring(schema.label_config(s))
    bar = root.find(f".//View[@className='{labelconfig._LABEL_BAR_CLASS}']")
    assert bar is not None and [lab.get("name") for lab in bar.findall("Labels")] == ["entity", "trigger"]
    style = root.findtext("Style") or ""
    # Label Studio's sanitizer would escape these inside the <style> it writes.
    assert not set("<>&") & set(style)
    assert re.search(rf"\.{labelconfig._LABEL_BAR_CLASS} \{{[^}}]*position: sticky; top: 0", style)
    assert re.search(r"\.lsf-label__hotkey \{[^}]*margin-inline-start: 10px[^}]*border: 1px solid", style)
    # Every answer has the key the editor would give it anyway (first free of its list, in
    # config order), written out, and no key is bound twice.
    choices = {c.get("alias"): c.get("hotkey") for c in root.iter("Choice")}
    expected = {"conflict": "8", "other": "9", "unclear": "0", "boilerplate": "q", "truncated": "e", "garbled": "a"}
    assert choices == expected
    keys = [e.get("hotkey") for e in root.iter() if e.tag in ("Label", "Choice")]
    assert len(keys) == len(set(keys)) == 22


def test_answers_get_no_key_once_the_editor_has_none_left(tmp_path: Path) -> None:
    letters = "1234567890qwetasdfgzxcvbyiopjklnm"
    # Every key of the editor's list but the last one taken by an entity: one answer gets it.
    entities = "".join(
        f'  E{i}: {{ar: كيان{i}, description: و, color: "#000000", hotkey: "{k}"}}\n'
        for i, k in enumerate(letters[:-1])
    )
    path = tmp_path / "keys.yaml"
    path.write_text(
        f"name: keys\ndescription: مفاتيح\nentities:\n{entities}"
        "document:\n  q:\n    ar: سؤال\n    choices: {a: أ, b: ب}\n",
        encoding="utf-8",
    )
    root = ET.fromstring(schema.label_config(schema.load(path)))
    assert [c.get("hotkey") for c in root.iter("Choice")] == ["m", None]


BAD = """\
name: broken
description: مخطط معطوب
entities:
  PER:
    ar: شخص
    description: شخص
    color: red
    hotkey: p
  ORG:
    ar: شخص
    description: منظمة
    color: "#00ff00"
    hotkey: p
    colour: "#00ff00"
events:
  Conflict:Attack:
    ar: هجوم
    description: هجوم
    color: "#ff0000"
    roles:
      Attacker: {ar: المهاجم, types: [PER, PERS]}
      Target: {types: [ORG]}
"""


def test_check_names_file_line_and_field_of_each_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    problems = {p.location: p for p in schema.check(path)}
    assert f"{path}:7: entities.PER.color" in problems
    assert f"{path}:10: entities.ORG.ar" in problems  # the same Arabic display name twice
    assert "already used by PER" in problems[f"{path}:13: entities.ORG.hotkey"].message
    assert "unknown field 'colour'" in problems[f"{path}:14: entities.ORG.colour"].message
    unknown = problems[f"{path}:21: events.Conflict:Attack.roles.Attacker.types[1]"]
    assert unknown.code == "schema.unknown-type" and "'PERS'" in unknown.message
    assert f"{path}:22: events.Conflict:Attack.roles.Target.ar" in problems
    assert len(problems) == 6
    with pytest.raises(SchemaError) as raised:
        schema.load(path)
    assert "6 problem(s)" in str(raised.value)


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "syntax.yaml"
    path.write_text("name: x\nentities:\n  PER: [unclosed\n", encoding="utf-8")
    with pytest.raises(SchemaError, match=rf"{re.escape(str(path))}:\d+:\d+: not valid YAML"):
        schema.check(path)


def test_role_must_keep_one_arabic_name_across_events(tmp_path: Path) -> None:
    text = DEFAULT_SCHEMA.read_text(encoding="utf-8").replace(
        "Place: {ar: المكان, types: [GPE, LOC, FAC]}\n      Time: {ar: الزمن, types: [TIME]}\n  Life:Die:",
        "Place: {ar: الموضع, types: [GPE, LOC, FAC]}\n      Time: {ar: الزمن, types: [TIME]}\n  Life:Die:",
        1,
    )
    path = tmp_path / "roles.yaml"
    path.write_text(text, encoding="utf-8")
    codes = [p.code for p in schema.check(path)]
    assert codes == ["schema.role-name"]


def test_cli_schema_check_and_xml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "check", str(DEFAULT_SCHEMA)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD, encoding="utf-8")
    assert main(["schema", "check", str(bad)]) == 1
    out = capsys.readouterr()
    assert "events.Conflict:Attack.roles.Attacker.types[1]" in out.err and "Traceback" not in out.err
    assert main(["schema", "xml", str(SMALL_SCHEMA)]) == 0
    assert ET.fromstring(capsys.readouterr().out).tag == "View"
    assert main(["schema", "check", str(tmp_path / "missing.yaml")]) == 1
    assert "cannot read the schema file" in capsys.readouterr().err


# --- YAML that must not pass silently or crash ---------------------------------

SMALL = """\
name: small
description: مخطط صغير
entities:
  PER: {ar: شخص, description: شخص, color: "#e6194b"}
  ORG: {ar: منظمة, description: منظمة, color: "#3cb44b"}
"""


@pytest.mark.parametrize(
    ("text", "line", "field", "first"),
    [
        (SMALL + "name: other\n", 6, "name", 1),  # top level: the later name would win
        (SMALL + "  PER: {ar: فرد, description: فرد, color: \"#000000\"}\n", 6, "entities.PER", 4),
        (SMALL.replace('color: "#e6194b"}', 'color: "#e6194b", ar: إنسان}'), 4, "entities.PER.ar", 4),
    ],
    ids=["top-level", "entity", "field-in-flow-mapping"],
)
def test_duplicate_keys_are_problems_with_their_lines(tmp_path: Path, text: str, line: int, field: str, first: int) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(text, encoding="utf-8")
    (problem,) = schema.check(path)
    assert problem.code == "yaml.duplicate-key"
    assert problem.location == f"{path}:{line}: {field}"
    assert f"first at line {first}" in problem.message
    with pytest.raises(SchemaError) as raised:
        schema.load(path)
    assert [p.code for p in raised.value.problems] == ["yaml.duplicate-key"]


def test_cli_schema_check_reports_a_duplicate_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(SMALL + "  PER: {ar: فرد, description: فرد, color: \"#000000\"}\n", encoding="utf-8")
    assert main(["schema", "check", str(path)]) == 1
    out = capsys.readouterr()
    assert "OK" not in out.out
    assert f"{path}:6: entities.PER: the key 'PER' is given twice (first at line 4)" in out.err


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: &x [*x]\n", 1),
        ("name: x\nentities: &e\n  PER:\n    more: *e\n", 4),  # a mapping holding an alias to itself
        ("name: x\nentities:\n  PER: &p\n    - [1, [2, *p]]\n", 4),
    ],
    ids=["sequence", "mapping", "nested"],
)
def test_self_referencing_alias_is_a_schema_error(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SchemaError) as raised:
        schema.check(path)
    assert str(raised.value).startswith(f"{path}:{line}: the alias ")
    assert [p.code for p in raised.value.problems] == ["yaml.alias-recursive"]


def _laughs(levels: int, width: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_before_it_expands(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(_laughs(9), encoding="utf-8")  # 9**9 copies of "lol" when expanded
    started = time.monotonic()
    with pytest.raises(SchemaError) as raised:
        schema.check(path)
    assert time.monotonic() - started < 1
    # a1 and a2 use 9 + 90 expansions; the first alias of line 4 passes 100.
    assert str(raised.value).startswith(f"{path}:4: aliases expand to more than 100 copies")
    assert [p.code for p in raised.value.problems] == ["yaml.alias-limit"]


def test_a_few_aliases_are_still_allowed(tmp_path: Path) -> None:
    path = tmp_path / "aliases.yaml"
    path.write_text(
        SMALL
        + "events:\n"
        + "  Conflict:Attack:\n"
        + "    {ar: هجوم, description: هجوم, color: \"#800000\",\n"
        + "     roles: {Attacker: {ar: المهاجم, types: &agents [PER, ORG]}, Target: {ar: الهدف, types: *agents}}}\n",
        encoding="utf-8",
    )
    attack = schema.load(path).event("Conflict:Attack")
    assert attack is not None and attack.role("Target").types == ("PER", "ORG")  # type: ignore[union-attr]


def test_deep_nesting_is_a_schema_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("name: " + "[" * 3000 + "]" * 3000 + "\n", encoding="utf-8")
    with pytest.raises(SchemaError) as raised:
        schema.check(path)
    assert [p.code for p in raised.value.problems] == ["yaml.too-deep"]
    assert str(raised.value).startswith(f"{path}:1: nested more than")


@pytest.mark.parametrize("value", ["!unknown x", "!!int twelve"])
def test_unreadable_tagged_value_is_a_schema_error(tmp_path: Path, value: str) -> None:
    path = tmp_path / "tag.yaml"
    path.write_text(SMALL.replace("name: small", f"name: {value}"), encoding="utf-8")
    with pytest.raises(SchemaError, match=rf"^{re.escape(str(path))}:1: name: cannot read the value"):
        schema.check(path)


@pytest.mark.parametrize(
    ("char", "code"),
    [("\x00", "U+0000"), ("\x07", "U+0007"), ("\ufffe", "U+FFFE"), ("\x85", "U+0085"), ("\u2028", "U+2028")],
)
def test_a_character_yaml_cannot_read_names_line_column_and_code(tmp_path: Path, char: str, code: str) -> None:
    # NUL, BEL and U+FFFE made PyYAML raise ReaderError (a traceback); NEL and U+2028 are line breaks
    # to YAML only, so the message spoke of a line the user cannot see.
    path = tmp_path / "chars.yaml"
    path.write_text(SMALL.replace("name: small", f"name: sm{char}all"), encoding="utf-8")
    with pytest.raises(SchemaError) as raised:
        schema.check(path)
    assert [p.code for p in raised.value.problems] == ["yaml.character"]
    assert str(raised.value).startswith(f"{path}:1:9: the character {code} (")
    assert char not in str(raised.value)


def test_cli_names_the_character_in_the_schema_annotate_toml_names(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "nul.yaml"
    path.write_text(SMALL.replace("name: small", "name: sm\x00all"), encoding="utf-8")
    (tmp_path / "annotate.toml").write_text('schema = "nul.yaml"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["schema", "check"]) == 1
    err = capsys.readouterr().err
    assert "nul.yaml:1:9: the character U+0000 (a control character)" in err and "Traceback" not in err


@pytest.mark.parametrize("hidden", ["\u202e", "\u200d", "\u200b", "\u2067"])
def test_display_names_with_invisible_characters_are_refused(tmp_path: Path, hidden: str) -> None:
    # "شخص" and "شخص" + ZWJ looked the same on every button yet counted as two display names.
    path = tmp_path / "hidden.yaml"
    path.write_text(SMALL.replace("ORG: {ar: منظمة", f"ORG: {{ar: شخص{hidden}"), encoding="utf-8")
    problems = schema.check(path)
    assert [p.code for p in problems] == ["schema.invisible"]
    assert problems[0].location == f"{path}:5: entities.ORG.ar"
    assert f"U+{ord(hidden):04X}; delete them" in problems[0].message
