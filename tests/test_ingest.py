"""Ingest: .txt and .jsonl articles, cleaning rules, ids and hashes, errors that name file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
