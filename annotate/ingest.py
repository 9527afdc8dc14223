"""Ingest: read articles from .txt and .jsonl files (or folders of them) into ``Article``s.

The text is kept exactly as written except for the cleaning rules below, because
annotation offsets refer to it:

* ``line_endings`` (always): ``\\r\\n`` and lone ``\\r`` become ``\\n``; a byte-order mark is dropped.
* ``control_chars``: terminal escape sequences (ANSI/CSI ``ESC [ ... m``, OSC ``ESC ] ... BEL``,
  charset selections like ``ESC ( B``) are removed whole, then every other control character
  (Unicode category Cc: NUL, BEL, ESC, DEL, C1 U+0080-U+009F ...) except newline and tab. Format
  characters Arabic needs (ZWNJ, ZWJ, LRM/RLM and other bidi marks, category Cf) are kept.
  Applies to the title too.
* ``truncated_teaser``: a line near the top that ends in ``...``/``…`` and whose words
  open a later line (a scraped teaser repeating the lead) is removed.
* ``trailing_lines``: lines at the very end that are site navigation
  (``أقسام``, ``أخبار``, ``أخبار متعلقة`` ...) are removed.
* ``strip``: blank space at the start and end of the text is removed.

The rules can be changed with a YAML file (``--rules FILE``), see ``IngestRules``.

Whatever the rules, an article id (jsonl ``id`` or .txt file name) with a control character,
a field with invalid Unicode (an unpaired surrogate), and a .jsonl file without any article
are refused with an ``IngestError`` naming the file and line.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from .errors import IngestError, printable
from .models import Article, content_hash

SUFFIXES = (".txt", ".jsonl")
DEFAULT_TRAILING_LINES = (
    "أقسام",
    "أخبار",
    "أخبار متعلقة",
    "اخبار متعلقة",
    "مواضيع ذات صلة",
    "مواضيع متعلقة",
    "اقرأ أيضا",
    "اقرأ أيضاً",
    "الأكثر قراءة",
    "شارك",
    "شارك الخبر",
    "المزيد",
)
_ELLIPSIS = re.compile(r"(\.\.\.|…)\s*$")
_SPACE = re.compile(r"\s+")
JSONL_FIELDS = ("id", "title", "text", "url", "published_at", "source")
# The order rules run in, and the order ``Article.cleaning`` lists them.
RULE_ORDER = ("line_endings", "control_chars", "truncated_teaser", "trailing_lines", "strip")
# Terminal escape sequences go as a whole, or their parameters ("[31m") would stay behind as text:
# CSI (ESC [ or C1 CSI, parameters, intermediates, a final byte), OSC (ESC ] or C1 OSC, up to BEL,
# ESC \ or C1 ST, on one line so an unterminated one cannot eat the article), and charset
# selections such as ESC ( B that `tput sgr0` emits.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[\x20-\x2f]+[\x30-\x7e]"
)
# Category Cc without newline and tab. Cf (ZWNJ, ZWJ, LRM, RLM, bidi marks) is not Cc: Arabic needs it.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# In text decoded from UTF-8, a surrogate can only come from a JSON escape: lines without one skip the check.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


@dataclass(frozen=True)
class IngestRules:
    """Which cleaning rules run. Defaults are what the scraped seed needs."""

    control_chars: bool = True  # terminal escapes and control characters (not Cf marks)
    truncated_teaser: bool = True
    teaser_lines: int = 3  # only the first N non-blank lines can be a teaser
    teaser_min_chars: int = 20  # shorter "teasers" are too weak a match to remove
    trailing_lines: tuple[str, ...] = DEFAULT_TRAILING_LINES
    strip: bool = True


def load_rules(path: str | Path | None) -> IngestRules:
    """Rules from a YAML file with any of the ``IngestRules`` fields; defaults for the rest."""
    if path is None:
        return IngestRules()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise IngestError(f"{path}: cannot read the ingest rules: {exc}") from None
    if not isinstance(data, dict):
        raise IngestError(f"{path}: ingest rules must be a mapping of rule names to settings")
    known = set(IngestRules.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise IngestError(f"{path}: unknown rule(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    args: dict[str, Any] = {}
    for key, value in data.items():
        default = getattr(IngestRules(), key)
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise IngestError(f"{path}: {key} must be a list of lines")
            args[key] = tuple(v.strip() for v in value)
        elif type(value) is not type(default):
            raise IngestError(f"{path}: {key} must be {type(default).__name__}, not {value!r}")
        elif type(value) is int and value < 0:
            raise IngestError(f"{path}: {key} must be 0 or more, not {value}")
        else:
            args[key] = value
    return replace(IngestRules(), **args)


def clean(text: str, rules: IngestRules) -> tuple[str, tuple[str, ...]]:
    """Apply the cleaning rules; return the text and the names of the rules that changed it."""
    applied: list[str] = []
    normalized = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if normalized != text:
        applied.append("line_endings")
    text = normalized
    if rules.control_chars:
        text, removed = _drop_controls(text)
        if removed:
            applied.append("control_chars")
    if rules.truncated_teaser:
        text, removed = _drop_teaser(text, rules)
        if removed:
            applied.append("truncated_teaser")
    if rules.trailing_lines:
        text, removed = _drop_trailing_lines(text, set(rules.trailing_lines))
        if removed:
            applied.append("trailing_lines")
    if rules.strip:
        stripped = text.strip()
        if stripped != text:
            applied.append("strip")
        text = stripped
    return text, tuple(applied)


def _drop_controls(text: str) -> tuple[str, bool]:
    """Remove terminal escape sequences whole, then every control character but newline and tab."""
    # Every escape sequence opens with a control character (ESC, C1 CSI or OSC): a text without one
    # has nothing to remove, and most texts have none (one scan instead of the two substitutions).
    if _CONTROL.search(text) is None:
        return text, False
    cleaned = _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))
    return cleaned, cleaned != text


def _clean_title(title: str, rules: IngestRules) -> tuple[str, bool]:
    """The title gets the control_chars rule only: it is not annotated, but annotators read it."""
    if not rules.control_chars:
        return title.strip(), False
    cleaned, removed = _drop_controls(title)
    return cleaned.strip(), removed


def _merge_rules(*groups: Iterable[str]) -> tuple[str, ...]:
    applied = {rule for group in groups for rule in group}
    return tuple(rule for rule in RULE_ORDER if rule in applied)


def _bad_character(value: str) -> str | None:
    """Describe the first control character (any Cc, newline and tab included) in an id, or None."""
    match = _ANY_CONTROL.search(value)
    if match is None:
        return None
    return f"U+{ord(match.group()):04X} ({match.group()!r})"


def _drop_teaser(text: str, rules: IngestRules) -> tuple[str, bool]:
    """Remove a line near the top that ends in an ellipsis and whose words open a later line."""
    # Walks the lines by index (most texts have no teaser: only their first lines are looked at).
    start = 0  # where the line looked at starts in text
    seen = 0  # nonblank lines looked at; only the first teaser_lines can be a teaser
    while seen < rules.teaser_lines and start <= len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        line = text[start:end]
        stripped = line.rstrip()
        if stripped:
            seen += 1
            match = _ELLIPSIS.search(line) if stripped.endswith(("...", "…")) else None
            teaser = _SPACE.sub(" ", line[: match.start()]).strip() if match else ""
            if match and len(teaser) >= rules.teaser_min_chars:
                later = end + 1  # the start of each following line in turn
                while later <= len(text):
                    # The lead may be split over paragraphs where the teaser runs on: compare words, not bytes.
                    window = _SPACE.sub(" ", text[later : later + 2 * len(teaser) + 16]).strip()
                    if window.startswith(teaser):
                        return text[:start] + text[end + 1 :], True
                    following = text.find("\n", later)
                    if following < 0:
                        break
                    later = following + 1
        start = end + 1
    return text, False


def _drop_trailing_lines(text: str, boilerplate: set[str]) -> tuple[str, bool]:
    """Remove the blank and navigation lines at the end (walked back from the end: the rest is not looked at)."""
    end = len(text)  # the end of the last line kept so far
    removed = False
    while True:
        start = text.rfind("\n", 0, end) + 1
        line = text[start:end].strip()
        if line and line not in boilerplate:
            break
        removed = removed or bool(line)
        if start == 0:
            end = 0  # every line went
            break
        end = start - 1
    if not removed:
        return text, False
    return text[:end], True


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise IngestError(
            f"{path}:{line}: not UTF-8 (byte {exc.start}); save the file as UTF-8."
        ) from None


def _visible(text: str) -> bool:
    """Whether ``text`` has a character a reader sees: not only spaces, no-break spaces, zero-width and bidi marks."""
    return any(not c.isspace() and unicodedata.category(c) not in ("Cf", "Cc") for c in text)


def _derived_id(url: str | None, title: str, text: str) -> str:
    """An id for an article that has none: from its URL when known, else from its content."""
    basis = f"url:{url}" if url else f"content:{title}\n{text}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]


def read_txt(path: Path, rules: IngestRules) -> Article:
    """A .txt article: the first line is the title, the rest is the text; the id is the file name."""
    # The id is the file name: a control character in it would reach Label Studio and every export.
    bad = _bad_character(path.stem)
    if bad:
        raise IngestError(
            f"{printable(str(path), one_line=True)}: the file name (the article id) has the control character {bad};"
            " rename the file without it."
        )
    if _SURROGATE.search(path.stem):
        raise IngestError(f"{printable(str(path), one_line=True)}: the file name (the article id) is not valid UTF-8; rename the file.")
    raw = _decode(path, path.read_bytes())
    had_line_endings = "\r" in raw or raw.startswith("\ufeff")
    title, _, body = raw.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").partition("\n")
    title, title_cleaned = _clean_title(title, rules)
    if not title:
        raise IngestError(f"{path}:1: the first line must be the article's title, but it is empty.")
    if not _visible(body):
        raise IngestError(f"{path}:2: the article has a title but no text after it (only white space or invisible characters).")
    text, cleaning = clean(body, rules)
    cleaning = _merge_rules(
        cleaning, ("line_endings",) if had_line_endings else (), ("control_chars",) if title_cleaned else ()
    )
    if not _visible(text):
        raise IngestError(f"{path}: nothing is left of the text after the cleaning rules ({', '.join(cleaning)}).")
    return Article(
        id=path.stem,
        title=title,
        text=text,
        content_hash=content_hash(text),
        origin=str(path),
        cleaning=cleaning,
    )


MAX_LINE_PROBLEMS = 20  # bad lines named one by one; the rest are counted


def read_jsonl(path: Path, rules: IngestRules) -> Iterator[Article]:
    """A .jsonl file: one article a line with ``text`` and optional ``id``, ``title``, ``url``, ``published_at``, ``source``.

    Every bad line is named (up to ``MAX_LINE_PROBLEMS``, then counted) in one
    error after the file is read, so that one round of fixes is enough.
    """
    content = _decode(path, path.read_bytes()).removeprefix("\ufeff")  # a byte order mark (Windows editors) is no text
    found = 0
    problems: list[str] = []
    for number, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            article = _jsonl_article(f"{path}:{number}", line, rules)
        except IngestError as exc:
            problems.append(exc.message)
            continue
        found += 1
        yield article
    if problems:
        shown = "\n".join(f"  {p}" for p in problems[:MAX_LINE_PROBLEMS])
        more = f"\n  ... and {len(problems) - MAX_LINE_PROBLEMS} more bad line(s)" if len(problems) > MAX_LINE_PROBLEMS else ""
        raise IngestError(
            f"{path}: {len(problems)} bad line(s) of {found + len(problems)}:\n{shown}{more}",
            "Fix or remove those lines; nothing was pushed.",
        )
    if not found:
        # Otherwise push would create an empty project and report success.
        raise IngestError(
            f"{path}: the file has no articles (it is empty or has only blank lines);"
            " add one JSON object a line with \"text\", or leave the file out."
        )


def _jsonl_article(where: str, line: str, rules: IngestRules) -> Article:
    """One line of a .jsonl file as an article; ``where`` is ``path:line``."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise IngestError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}).") from None
    except RecursionError:
        # Valid JSON Python will not read: arrays or objects nested thousands deep.
        raise IngestError(f"{where}: the JSON is nested too deeply to read; flatten the line.") from None
    except ValueError as exc:
        # Valid JSON Python will not read: an integer of thousands of digits.
        reason = str(exc).split(";")[0]
        raise IngestError(f"{where}: cannot read this JSON ({reason}); write long numbers as text in quotes.") from None
    if not isinstance(record, dict):
        raise IngestError(f"{where}: each line must be a JSON object with at least \"text\".")
    values: dict[str, str | None] = {}
    escaped = _SURROGATE_ESCAPE.search(line) is not None
    for key in JSONL_FIELDS:
        value = record.get(key)
        if (value is not None and not isinstance(value, (str, int))) or isinstance(value, bool):
            raise IngestError(f"{where}: field \"{key}\" must be text, not {type(value).__name__}.")
        values[key] = None if value is None else str(value)
        # A "\\ud800" escape decodes to a lone surrogate, which cannot be hashed, sent or saved.
        surrogate = _SURROGATE.search(values[key] or "") if escaped else None
        if surrogate:
            raise IngestError(
                f"{where}: field \"{key}\" has an unpaired surrogate \\u{ord(surrogate.group()):04x}"
                " (invalid Unicode); fix the \\u escape."
            )
    if values["text"] is None:
        raise IngestError(f"{where}: the article has no \"text\".")
    if not _visible(values["text"]):
        raise IngestError(
            f"{where}: the article's \"text\" is blank (only white space or invisible characters); give it the article's text."
        )
    if values["id"] is not None and not _visible(values["id"]):
        # A blank id is a mistake, not a request for a derived one: leave "id" out for that.
        raise IngestError(f"{where}: the \"id\" is blank; give the article an id, or leave \"id\" out to have one made from its url or text.")
    # Checked before strip(), which would silently drop a trailing \\x1f or \\x85 from the id.
    bad = _bad_character(values["id"] or "")
    if bad:
        raise IngestError(f"{where}: the \"id\" has the control character {bad}; remove it.")
    text, cleaning = clean(values["text"], rules)
    if not _visible(text):
        raise IngestError(f"{where}: nothing is left of the text after the cleaning rules ({', '.join(cleaning)}).")
    title, title_cleaned = _clean_title(values["title"] or "", rules)
    if title_cleaned:
        cleaning = _merge_rules(cleaning, ("control_chars",))
    article_id = (values["id"] or "").strip() or _derived_id(values["url"], title, text)
    return Article(
        id=article_id,
        title=title,
        text=text,
        content_hash=content_hash(text),
        origin=where,
        url=values["url"],
        published_at=values["published_at"],
        source=values["source"],
        cleaning=cleaning,
    )


def _files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix in SUFFIXES and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise IngestError(f"{printable(str(path), one_line=True)}: the folder has no .txt or .jsonl article files.")
            yield from found
        elif path.is_file():
            if path.suffix not in SUFFIXES:
                raise IngestError(
                    f"{printable(str(path), one_line=True)}: unknown article file type; use .txt (title on the first line) or .jsonl."
                )
            yield path
        else:
            raise IngestError(f"{printable(str(path), one_line=True)}: no such file or folder.")


def iter_articles(paths: Iterable[str | Path], rules: IngestRules | None = None) -> Iterator[Article]:
    """Every article in the given files and folders, in a stable order."""
    rules = rules or IngestRules()
    for path in _files(paths):
        try:
            if path.suffix == ".txt":
                yield read_txt(path, rules)
            else:
                yield from read_jsonl(path, rules)
        except OSError as exc:
            raise IngestError(f"{printable(str(path), one_line=True)}: cannot read the file ({exc.strerror}).") from None


def read_articles(paths: Iterable[str | Path], rules: IngestRules | None = None) -> list[Article]:
    """All articles, once each. The same id twice with different texts is an error naming both places."""
    by_id: dict[str, Article] = {}
    for article in iter_articles(paths, rules):
        seen = by_id.get(article.id)
        if seen is None:
            by_id[article.id] = article
        elif seen.content_hash != article.content_hash:
            raise IngestError(
                f"{article.origin}: article id {article.id!r} is also used by {seen.origin} with another text;"
                " give one of them another id."
            )
    return list(by_id.values())
