"""Ingest: .txt and .jsonl articles, cleaning rules, ids and hashes, errors that name file and line."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotate import ingest
from annotate.cli import main
from annotate.errors import IngestError
from conftest import DATA, SEEDS

SEED = SEEDS / "000_4a8292b91947f388.txt"
HARD = DATA / "hard_cases.jsonl"


def test_seed_loses_teaser_and_navigation_and_keeps_everything_else_exactly() -> None:
    (article,) = ingest.read_articles([SEED])
    raw = SEED.read_text(encoding="utf-8")
    title, body = raw.split("\n", 1)
    assert article.id == "000_4a8292b91947f388"
    assert article.title == title
    assert article.cleaning == ("truncated_teaser", "trailing_lines", "strip")
    # The teaser line (ending in "ABC...") is gone, the caption and the full lead stay.
    assert "ABC..." not in article.text
    assert article.text.startswith("طائرة أمريكية تابعة لقوات التحالف")
    assert article.text.count("أعلن التحالف الدولي تنفيذ عشرات الضربات الجوية") == 1
    # The site navigation at the end is gone; the last sentence of the article is intact.
    assert article.text.endswith("أعلن تنظيم داعش مسؤوليته عنهما.")
    assert "أخبار متعلقة" not in article.text
    # Nothing else changed: the text is one contiguous piece of the file.
    assert article.text in body
    assert article.content_hash == ingest.content_hash(article.text)


def test_hard_cases_are_kept_character_for_character() -> None:
    articles = {a.id: a for a in ingest.read_articles([HARD])}
    records = [json.loads(line) for line in HARD.read_text(encoding="utf-8").splitlines()]
    for record in records:
        if "id" in record:
            assert articles[record["id"]].text == record["text"]
    emoji = articles["hard-emoji"]
    assert emoji.url == "https://example.org/news/emoji" and emoji.published_at == "2026-04-06"
    assert emoji.source == "tests" and emoji.origin == f"{HARD}:1"
    assert "\u200f" in articles["hard-digits-bidi"].text  # bidi marks are text too
    assert "ـــ" in articles["hard-tatweel"].text


def test_article_without_id_gets_a_stable_id_from_its_content(tmp_path: Path) -> None:
    first = [a for a in ingest.read_articles([HARD]) if a.title == "بلا معرف"][0]
    copy = tmp_path / "copy.jsonl"
    copy.write_text(HARD.read_text(encoding="utf-8").splitlines()[-1] + "\n", encoding="utf-8")
    (again,) = ingest.read_articles([copy])
    assert first.id == again.id and len(first.id) == 16
    with_url = tmp_path / "url.jsonl"
    rows = [{"text": "نص أول", "url": "https://example.org/a"}, {"text": "نص معدل", "url": "https://example.org/a"}]
    with_url.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows[:1]), encoding="utf-8")
    (by_url,) = ingest.read_articles([with_url])
    with_url.write_text(json.dumps(rows[1], ensure_ascii=False), encoding="utf-8")
    (edited,) = ingest.read_articles([with_url])
    # Same URL, edited text: the same article, so push can tell it changed.
    assert by_url.id == edited.id and by_url.content_hash != edited.content_hash


def test_windows_line_endings_become_newlines(tmp_path: Path) -> None:
    path = tmp_path / "crlf.txt"
    path.write_bytes("\ufeffعنوان الخبر\r\n\r\nالفقرة الأولى.\r\nالفقرة الثانية.\r\n".encode("utf-8"))
    (article,) = ingest.read_articles([path])
    assert article.title == "عنوان الخبر"
    assert article.text == "الفقرة الأولى.\nالفقرة الثانية."
    assert article.cleaning[0] == "line_endings"
    rows = tmp_path / "crlf.jsonl"
    rows.write_text(json.dumps({"id": "x", "title": "t", "text": "سطر\r\nسطر\rسطر"}, ensure_ascii=False), encoding="utf-8")
    (article,) = ingest.read_articles([rows])
    assert article.text == "سطر\nسطر\nسطر"


def test_rules_are_configurable(tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text("truncated_teaser: false\ntrailing_lines: []\n", encoding="utf-8")
    rules = ingest.load_rules(rules_file)
    (article,) = ingest.read_articles([SEED], rules)
    assert "ABC..." in article.text and article.text.endswith("أخبار متعلقة")
    rules_file.write_text("trailing_lines: [المزيد من الأخبار]\n", encoding="utf-8")
    path = tmp_path / "a.txt"
    path.write_text("عنوان\nنص الخبر.\n\nالمزيد من الأخبار\n", encoding="utf-8")
    (article,) = ingest.read_articles([path], ingest.load_rules(rules_file))
    assert article.text == "نص الخبر."
    rules_file.write_text("teaser: false\n", encoding="utf-8")
    with pytest.raises(IngestError, match="unknown rule"):
        ingest.load_rules(rules_file)


def test_teaser_rule_needs_the_repeat(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    text = "عنوان\nقال المتحدث إن العمليات مستمرة في المنطقة...\n\nثم انتقل الحديث إلى موضوع آخر تماما.\n"
    path.write_text(text, encoding="utf-8")
    (article,) = ingest.read_articles([path])
    assert article.text.startswith("قال المتحدث")  # an ellipsis alone is not a teaser


def test_folders_are_read_recursively_in_order(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.txt").write_text("عنوان\nنص\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("عنوان\nنص آخر\n", encoding="utf-8")
    (tmp_path / "notes.md").write_text("ignored", encoding="utf-8")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.txt").write_text("عنوان\nنص\n", encoding="utf-8")
    assert [a.id for a in ingest.read_articles([tmp_path])] == ["a", "z"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"id": "a", "text": "نص"}\n{"id": "b", "text": \n', r"bad.jsonl:2: not valid JSON"),
        ("list.jsonl", '["نص"]\n', r"list.jsonl:1: each line must be a JSON object"),
        ("notext.jsonl", '{"id": "a", "title": "عنوان"}\n', r"notext.jsonl:1: the article has no \"text\""),
        ("type.jsonl", '{"id": "a", "text": "نص", "url": ["x"]}\n', r"type.jsonl:1: field \"url\" must be text"),
        # Blank was reported as missing, a blank id was silently replaced, and a text of only
        # zero-width and no-break spaces was taken as an article.
        ("blank.jsonl", '{"id": "a", "text": "  \\n "}\n', r"blank.jsonl:1: the article's \"text\" is blank"),
        ("invisible.jsonl", '{"id": "a", "text": "\\u200b\\u00a0\\u200f\\ufeff"}\n', r"invisible.jsonl:1: the article's \"text\" is blank \(only white space or invisible"),
        ("noid.jsonl", '{"id": "", "text": "نص"}\n', r"noid.jsonl:1: the \"id\" is blank; give the article an id, or leave \"id\" out"),
        ("spaceid.jsonl", '{"id": " ", "text": "نص"}\n', r"spaceid.jsonl:1: the \"id\" is blank"),
        ("invisible.txt", "عنوان\n\u200b\u00a0\u200c\n", r"invisible.txt:2: the article has a title but no text after it \(only white space or invisible"),
        ("empty.txt", "\n\n", r"empty.txt:1: the first line must be the article's title"),
        ("title.txt", "عنوان فقط\n", r"title.txt:2: the article has a title but no text"),
        ("nav.txt", "عنوان\nأقسام\nأخبار\n", r"nav.txt: nothing is left of the text"),
        ("notes.md", "x", r"notes.md: unknown article file type"),
    ],
)
def test_bad_files_are_named_with_their_line(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(IngestError, match=message):
        ingest.read_articles([path])


@pytest.mark.parametrize("rule", ["teaser_lines: -5", "teaser_min_chars: -1"])
def test_negative_counts_in_ingest_rules_are_refused(tmp_path: Path, rule: str) -> None:
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(rule + "\n", encoding="utf-8")
    with pytest.raises(IngestError, match=rf"rules.yaml: {rule.split(':')[0]} must be 0 or more, not -"):
        ingest.load_rules(rules_file)


def test_non_utf8_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("عنوان\n".encode("utf-8") + "caf\xe9\n".encode("latin-1"))
    with pytest.raises(IngestError, match=r"latin.txt:2: not UTF-8"):
        ingest.read_articles([path])
    with pytest.raises(IngestError, match=r"nowhere: no such file or folder"):
        ingest.read_articles([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(IngestError, match="has no .txt or .jsonl"):
        ingest.read_articles([tmp_path / "empty"])


def test_same_id_with_two_texts_is_an_error_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    path.write_text('{"id": "a", "text": "نص"}\n{"id": "a", "text": "نص"}\n{"id": "a", "text": "نص آخر"}\n', encoding="utf-8")
    with pytest.raises(IngestError, match=r"dup.jsonl:3: article id 'a' is also used by .*dup.jsonl:1"):
        ingest.read_articles([path])
    path.write_text('{"id": "a", "text": "نص"}\n{"id": "a", "text": "نص"}\n', encoding="utf-8")
    assert len(ingest.read_articles([path])) == 1  # the same article twice is one article


def test_cli_ingest_lists_articles_and_reports_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(SEEDS), str(HARD)]) == 0
    out = capsys.readouterr().out
    assert "000_4a8292b91947f388" in out and "truncated_teaser" in out and "7 article(s)" in out
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n", encoding="utf-8")
    assert main(["ingest", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.jsonl:1: not valid JSON" in err and "Traceback" not in err


def test_cli_shows_bidi_and_zero_width_characters_of_ids_as_escapes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Printed raw, "abc\u202egpj.exe" showed as "abcexe.jpg" and a joiner hid between two letters.
    rows = tmp_path / "bidi.jsonl"
    rows.write_text(json.dumps({"id": "abc\u202egpj.exe", "text": "نص"}) + "\n" + json.dumps({"id": "خبر\u200dخفي", "text": "نص"}) + "\n", encoding="utf-8")
    assert main(["ingest", str(rows)]) == 0
    out = capsys.readouterr().out
    assert "abc\\u202egpj.exe" in out and "خبر\\u200dخفي" in out
    assert "\u202e" not in out and "\u200d" not in out


# --- control characters, bad ids, empty files ---------------------------------------

# Format characters (Cf) that Arabic text needs: ZWNJ, ZWJ, LRM, RLM, ALM, LRI/RLI/PDI, LRE/PDF.
ARABIC_MARKS = "\u200c\u200d\u200e\u200f\u061c\u2066\u2067\u2069\u202a\u202c"
DIRTY_TEXT = (
    "\x1b[1;31mقصف\x1b[0m على\x00 الرقة\x07\n"  # SGR colour (whole sequence), NUL, BEL
    "\x1b]0;window title\x07قتلى\x1b]8;;https://x.test\x1b\\ رابط\x1b]8;;\x1b\\\n"  # OSC ended by BEL and by ESC \
    "\x9b2Kسطر\x85 \x7fثالث\x0b\x0c\x1b(B\x1b[m\n"  # C1 CSI, NEL, DEL, VT, FF, charset + reset (tput sgr0)
    f"ال{ARABIC_MARKS}عراق\tجدول"
)
CLEAN_TEXT = f"قصف على الرقة\nقتلى رابط\nسطر ثالث\nال{ARABIC_MARKS}عراق\tجدول"


def test_control_characters_are_removed_and_arabic_format_marks_kept(tmp_path: Path) -> None:
    txt = tmp_path / "dirty.txt"
    txt.write_text("\x1b[32mعنوان\x1b[0m\u200f\x00\n" + DIRTY_TEXT + "\n", encoding="utf-8")
    rows = tmp_path / "dirty.jsonl"
    rows.write_text(json.dumps({"id": "j", "title": "عنوان\x9b1m", "text": DIRTY_TEXT}) + "\n", encoding="utf-8")
    by_id = {a.id: a for a in ingest.read_articles([txt, rows])}
    assert by_id["dirty"].text == CLEAN_TEXT and by_id["j"].text == CLEAN_TEXT
    assert by_id["dirty"].title == "عنوان\u200f" and by_id["j"].title == "عنوان"
    assert by_id["dirty"].cleaning == ("control_chars", "strip") and by_id["j"].cleaning == ("control_chars",)
    assert by_id["j"].content_hash == ingest.content_hash(CLEAN_TEXT)


def test_control_chars_rule_reports_a_title_only_change_and_not_clean_articles(tmp_path: Path) -> None:
    rows = tmp_path / "a.jsonl"
    rows.write_text(
        json.dumps({"id": "t", "title": "\x1b[31mعنوان\x1b[0m", "text": "نص"}) + "\n"
        + json.dumps({"id": "c", "title": "عنوان", "text": f"نص{ARABIC_MARKS}"}) + "\n",
        encoding="utf-8",
    )
    by_id = {a.id: a for a in ingest.read_articles([rows])}
    assert by_id["t"].cleaning == ("control_chars",) and by_id["t"].title == "عنوان"
    assert by_id["c"].cleaning == () and by_id["c"].text == f"نص{ARABIC_MARKS}"
    assert all("control_chars" not in a.cleaning for a in ingest.read_articles([HARD, SEED]))


def test_unterminated_osc_stops_at_the_line_end(tmp_path: Path) -> None:
    rows = tmp_path / "osc.jsonl"
    rows.write_text(json.dumps({"id": "o", "text": "قبل\x1b]0;عنوان\nبعد"}) + "\n", encoding="utf-8")
    (article,) = ingest.read_articles([rows])
    assert article.text == "قبل]0;عنوان\nبعد"  # the ESC goes; the article after it is not swallowed


def test_control_chars_rule_can_be_switched_off(tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text("control_chars: false\n", encoding="utf-8")
    rules = ingest.load_rules(rules_file)
    assert rules == ingest.IngestRules(control_chars=False)
    rows = tmp_path / "dirty.jsonl"
    rows.write_text(json.dumps({"id": "j", "title": "ع\x07", "text": DIRTY_TEXT}) + "\n", encoding="utf-8")
    (article,) = ingest.read_articles([rows], rules)
    assert article.text == DIRTY_TEXT and article.title == "ع\x07" and article.cleaning == ()
    rules_file.write_text("control_chars: no-thanks\n", encoding="utf-8")
    with pytest.raises(IngestError, match="control_chars must be bool"):
        ingest.load_rules(rules_file)


@pytest.mark.parametrize("article_id", ["a\x1b[31m", "a\x00b", "a\x1f", "a\x85", "\x07a", "a\nb", "a\tb"])
def test_jsonl_id_with_a_control_character_is_refused(tmp_path: Path, article_id: str) -> None:
    rows = tmp_path / "ids.jsonl"
    rows.write_text('{"id": "ok", "text": "نص"}\n' + json.dumps({"id": article_id, "text": "نص"}) + "\n", encoding="utf-8")
    with pytest.raises(IngestError, match=r"ids.jsonl:2: the \"id\" has the control character U\+00[0-9A-F]{2} .*; remove it"):
        ingest.read_articles([rows])


@pytest.mark.parametrize("name", ["a\x1b[31m.txt", "\x07.txt", "a\nb.txt", "a\x7f.txt"])
def test_txt_file_name_with_a_control_character_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("عنوان\nنص\n", encoding="utf-8")
    with pytest.raises(IngestError) as raised:
        ingest.read_articles([tmp_path])
    message = str(raised.value)
    assert "the file name (the article id) has the control character" in message and "rename the file" in message
    assert str(tmp_path) in message and not any(c in message for c in "\x1b\x07\n\x7f")  # shown escaped


@pytest.mark.parametrize("content", ["", "\n", "  \n\n\t\n"], ids=["empty", "newline", "blank-lines"])
def test_jsonl_without_articles_is_an_error(tmp_path: Path, content: str) -> None:
    rows = tmp_path / "none.jsonl"
    rows.write_text(content, encoding="utf-8")
    with pytest.raises(IngestError, match=r"none.jsonl: the file has no articles"):
        ingest.read_articles([rows])


def test_folder_of_empty_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "b.txt").write_text("", encoding="utf-8")
    with pytest.raises(IngestError, match=r"a.jsonl: the file has no articles"):
        ingest.read_articles([tmp_path])


def test_cli_ingest_refuses_an_empty_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = tmp_path / "none.jsonl"
    rows.write_text("\n", encoding="utf-8")
    assert main(["ingest", str(rows)]) == 1
    err = capsys.readouterr().err
    assert "has no articles" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "a", "text": "\\ud800"}', r"x.jsonl:1: field \"text\" has an unpaired surrogate"),
        ('{"id": "\\udfff", "text": "نص"}', r"x.jsonl:1: field \"id\" has an unpaired surrogate"),
        ('{"text": "نص", "url": "https://x.test/\\ud83d"}', r"x.jsonl:1: field \"url\" has an unpaired surrogate"),
        ('{"id": ' + "7" * 5000 + ', "text": "نص"}', r"x.jsonl:1: cannot read this JSON"),
        ('{"text": "نص", "extra": ' + "[" * 100_000 + "]" * 100_000 + "}", r"x.jsonl:1: the JSON is nested too deeply"),
    ],
    ids=["surrogate-text", "surrogate-id", "surrogate-url", "huge-number", "deep-nesting"],
)
def test_odd_jsonl_raises_only_ingest_error(tmp_path: Path, content: str, message: str) -> None:
    rows = tmp_path / "x.jsonl"
    rows.write_text(content + "\n", encoding="utf-8")
    with pytest.raises(IngestError, match=message):
        ingest.read_articles([rows])


def test_odd_paths_raise_only_ingest_error(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"\\x00\.txt: no such file or folder"):
        ingest.read_articles([tmp_path / "\x00.txt"])
    undecodable = tmp_path / os.fsdecode(b"caf\xe9.txt")  # a Latin-1 file name on a UTF-8 system
    undecodable.write_text("عنوان\nنص\n", encoding="utf-8")
    with pytest.raises(IngestError, match=r"caf\\udce9\.txt: the file name \(the article id\) is not valid UTF-8"):
        ingest.read_articles([undecodable])


def test_every_bad_line_of_a_jsonl_file_is_named_in_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = json.dumps({"id": "ok", "text": "قصفت طائرات التحالف مواقع في الرقة."}, ensure_ascii=False)
    bad = ["{not json", json.dumps({"text": ""}), json.dumps(["a list"]), json.dumps({"text": "نص", "title": 5.5})]
    lines = [good] + [bad[i % len(bad)] for i in range(25)] + [good.replace('"ok"', '"ok2"')]
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(IngestError) as caught:
        ingest.read_articles([path])
    message = caught.value.message
    assert f"{path}: 25 bad line(s) of 27:" in message
    named = [line for line in message.splitlines() if line.startswith(f"  {path}:")]
    assert [int(line.split(":")[1]) for line in named] == list(range(2, 2 + ingest.MAX_LINE_PROBLEMS))
    assert "not valid JSON" in named[0] and '"text" is blank' in named[1] and "JSON object" in named[2] and '"title" must be text' in named[3]
    assert message.endswith("... and 5 more bad line(s)")
    assert main(["ingest", str(path)]) == 1
    err = capsys.readouterr().err
    assert "25 bad line(s)" in err and "nothing was pushed" in err and "Traceback" not in err


def test_a_jsonl_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """Issue 18: a BOM (as Windows editors save UTF-8) was refused with 'decode using utf-8-sig'."""
    path = tmp_path / "bom.jsonl"
    line = json.dumps({"id": "b1", "title": "عنوان", "text": "نص الخبر عن الرقة."}, ensure_ascii=False)
    path.write_bytes(b"\xef\xbb\xbf" + line.encode("utf-8") + b"\n")
    (article,) = ingest.read_articles([path])
    assert (article.id, article.title) == ("b1", "عنوان")


def _teaser_as_specified(text: str, rules: ingest.IngestRules) -> str:
    """The teaser rule read literally: of the first ``teaser_lines`` nonblank lines, the first that ends in an
    ellipsis, has at least ``teaser_min_chars`` before it, and whose words open some later line (words compared
    across line breaks) goes."""
    lines = text.split("\n")
    starts = [sum(len(line) + 1 for line in lines[:i]) for i in range(len(lines))]
    for i in [i for i, line in enumerate(lines) if line.strip()][: rules.teaser_lines]:
        match = re.search(r"(\.\.\.|…)\s*$", lines[i])
        teaser = " ".join(lines[i][: match.start()].split()) if match else ""
        if match and len(teaser) >= rules.teaser_min_chars:
            if any(" ".join(text[s : s + 2 * len(teaser) + 16].split()).startswith(teaser) for s in starts[i + 1 :]):
                return "\n".join(lines[:i] + lines[i + 1 :])
    return text


def _trailing_as_specified(text: str, boilerplate: set[str]) -> str:
    """The trailing-lines rule read literally: the lines after the last one that is neither blank nor navigation
    go, when at least one of them is navigation."""
    lines = text.split("\n")
    kept = len(lines)
    while kept and (not lines[kept - 1].strip() or lines[kept - 1].strip() in boilerplate):
        kept -= 1
    if not any(line.strip() for line in lines[kept:]):
        return text
    return "\n".join(lines[:kept])


_LINE_WORDS = st.sampled_from(["قال", "المتحدث", "إن", "القوات", "...", "…", " ", "", "\x1b[31m", "\x85", "\u200f", "أخبار", "شارك"])


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.lists(_LINE_WORDS, max_size=6).map(" ".join), max_size=8).map("\n".join),
    st.integers(0, 4),
    st.integers(0, 12),
)
def test_the_cleaning_shortcuts_change_nothing(text: str, teaser_lines: int, min_chars: int) -> None:
    """Cleaning skips the work where nothing can change (a text without a control character, lines past the
    teaser's reach, lines before the navigation at the end): it must remove exactly what the rules say."""
    rules = ingest.IngestRules(teaser_lines=teaser_lines, teaser_min_chars=min_chars)
    assert ingest._drop_controls(text)[0] == ingest._CONTROL.sub("", ingest._ESCAPE_SEQUENCE.sub("", text))
    assert ingest._drop_teaser(text, rules)[0] == _teaser_as_specified(text, rules)
    trailing = _trailing_as_specified(text, set(rules.trailing_lines))
    assert ingest._drop_trailing_lines(text, set(rules.trailing_lines)) == (trailing, trailing != text)
