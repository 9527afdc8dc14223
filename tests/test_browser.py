"""The annotator's path in Label Studio's own web editor, in headless Chromium (Debian's package).

Every step is done the way the generated instructions say (label first, then a mouse drag over
the words; arguments with Alt+R or the link button; document questions by their keys), so a
sentence of the instructions that the editor does not obey fails a test here.

Run alone with ``pytest -m browser``, or leave out with ``-m "not browser"``. Screenshots of the
instructions and of the labelling views are saved in ``$ANNOTATE_ARTIFACTS`` (default: the
git-ignored ``test-artifacts/`` of the repository) for a person to look at.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import datasets
import pytest

from annotate import adjudicate, distribute, export, ingest, labelconfig, pull, push, schema, team
from annotate.export.documents import split_of
from annotate.labelstudio import studio
from annotate.labelstudio.client import LabelStudioClient
from annotate.model import suggest as suggest_mod
from annotate.model import train as train_mod
from annotate.model.report import report as model_report
from annotate.model.tagger import Tagger
from annotate.models import ExportConfig
from annotate.validate import validate_project
from conftest import POSTGRESQL_GROUP, ROOT
from test_pull import ent
from test_validate import answer

pytestmark = [pytest.mark.studio, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ARTIFACTS = Path(os.environ.get("ANNOTATE_ARTIFACTS") or ROOT / "test-artifacts")
SCHEMA = schema.load()
BAR = f".{labelconfig._LABEL_BAR_CLASS}"
GUIDE = f".{labelconfig._GUIDE_CLASS}"
LABELS = {x.name: x for x in (*SCHEMA.entities, *SCHEMA.events)}
# An emoji before every selection, diacritics on the trigger, tatweel inside a name, and an
# entity attached to the clitic ل.
TEXT = "🔥 قَصَفَتْ طائرات التحالـــف الدولي فجر اليوم مواقع لتنظيم داعش في الرقة."
# Nested and neighbouring mentions, for the order of actions and the editing steps.
SHORT = "قصفت طائرات التحالف الدولي مواقع لتنظيم داعش في الرقة، وأعلنت وزارة الدفاع الأمريكية مقتل قائد في دير الزور."
# A long article: the mentions to label are in its last line, far below the label bar.
_FILLER = [
    "قالت مصادر محلية إن الاشتباكات تجددت صباح اليوم على أطراف المدينة بين القوات الحكومية ومسلحين.",
    "وأضافت المصادر أن عشرات العائلات نزحت نحو القرى المجاورة هرباً من القصف المتواصل منذ أيام.",
    "وذكر المرصد أن فرق الدفاع المدني انتشلت جثث عدد من الضحايا من تحت أنقاض المباني المدمرة.",
    "ودعت منظمات إنسانية إلى فتح ممرات آمنة لإيصال المساعدات الغذائية والطبية إلى السكان المحاصرين.",
    "وفي سياق متصل أعلنت السلطات المحلية حظراً للتجوال في الأحياء الشرقية حتى إشعار آخر.",
]
LONG = "\n".join(f"{i + 1}. {_FILLER[i % len(_FILLER)]}" for i in range(45)) + (
    "\nوفي ختام اليوم أعلنت وزارة الدفاع الأمريكية أن طائراتها قصفت مخزن أسلحة قرب مطار الطبقة العسكري."
)

# [start, end) of the article (UTF-16 units, as the browser counts) -> the rectangles of its first
# and last characters, after scrolling the first into the middle of the view. The editor shows
# the text split on "\n" into lines; each line's text nodes hold the characters in order.
RECTS = """
([start, end]) => {
  const root = document.querySelector('.rtl-article .lsf-htx-richtext');  // the article (a review also shows its disputes)
  const lines = Array.from(root.querySelectorAll('.lsf-richtext__line'));
  function locate(offset) {
    let base = 0;
    for (const line of lines) {
      const length = line.textContent.length;
      if (offset < base + length) {
        const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
        let node, rest = offset - base;
        while ((node = walker.nextNode())) {
          if (rest < node.data.length) return [node, rest];
          rest -= node.data.length;
        }
      }
      base += length + 1;
    }
    throw new Error('offset ' + offset + ' is not in the text');
  }
  function rect(offset) {
    const [node, at] = locate(offset);
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(node, at + 1);
    const box = range.getBoundingClientRect();
    return {x: box.x, y: box.y, width: box.width, height: box.height};
  }
  locate(start)[0].parentElement.scrollIntoView({block: 'center'});
  return [rect(start), rect(end - 1)];
}
"""
# What the label bar shows of each label: the Arabic name, the code (alias) and the key.
BAR_LABELS = """
(bar) => Array.from(document.querySelectorAll(bar + ' .lsf-label')).map((label) => {
  const text = label.querySelector('.lsf-label__text');
  const alias = text.querySelector('span');
  const key = label.querySelector('.lsf-label__hotkey');
  const box = (e) => {
    const r = e.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom};
  };
  return {
    name: text.firstChild.textContent, code: alias.textContent.trim(), key: key.innerText,
    codeBox: box(alias), keyBox: box(key), keyBorder: parseFloat(getComputedStyle(key).borderTopWidth),
  };
})
"""


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def span(text: str, piece: str, last: bool = False) -> tuple[int, int]:
    start = text.rindex(piece) if last else text.index(piece)
    return start, start + len(piece)


def regions(page: Any) -> list[str]:
    return page.locator(".lsf-outliner-item").all_inner_texts()


def selected_labels(page: Any) -> list[str]:
    return page.locator(".lsf-label_selected").all_inner_texts()


def drag(page: Any, text: str, piece: str, last: bool = False) -> None:
    """Select the piece with the mouse: press on its first character, release on its last.

    The article reads right to left, so a word starts at the right edge of its first character.
    """
    start, end = span(text, piece, last)
    first, final = page.evaluate(RECTS, [units(text[:start]), units(text[:end])])
    page.mouse.move(first["x"] + first["width"] - 1, first["y"] + first["height"] / 2)
    page.mouse.down()
    page.mouse.move(final["x"] + 1, final["y"] + final["height"] / 2, steps=8)
    page.mouse.up()


def click_text(page: Any, text: str, piece: str, last: bool = False) -> None:
    """Click the middle of a piece of the article (a labelled mention selects its region)."""
    start, end = span(text, piece, last)
    middle = units(text[: (start + end) // 2])
    (box, _) = page.evaluate(RECTS, [middle, middle + 1])
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def label(page: Any, text: str, piece: str, code: str, key: bool = False, last: bool = False) -> None:
    """As the instructions say: choose the label (its button, or its key), then select the words."""
    before = len(regions(page))
    if key:
        page.keyboard.press(LABELS[code].hotkey or "")
    else:
        page.locator(f"{BAR} .lsf-label", has_text=code).first.click()
    assert any(code in s for s in selected_labels(page)), selected_labels(page)
    drag(page, text, piece, last)
    page.wait_for_function(f"() => document.querySelectorAll('.lsf-outliner-item').length > {before}")
    page.locator(".lsf-outliner-item", has_text=piece).filter(has_text=LABELS[code].ar).first.wait_for()
    assert selected_labels(page) == [], "the label is released after each selection"
    # The editor settles a new region for a moment (a next region begun within ~0.2 s can take the
    # previous label); a person never labels that fast.
    page.wait_for_timeout(500)


def show_tab(page: Any, name: str) -> None:
    page.locator(".lsf-panel-tabs__tab:visible", has_text=name).first.click()


def relate(page: Any, text: str, trigger: str, entity: str, role: str, how: str = "alt+r", last: bool = False) -> None:
    """Draw an argument as the instructions say, then pick its role in the Relations tab.

    ``how``: "alt+r" (trigger clicked in the text, then Alt+R), "button" (the link button of the
    Info tab) or "regions" (trigger clicked in the Regions tab, then Alt+R).
    """
    show_tab(page, "Relations")
    before = page.locator(".lsf-relations__item").count()
    show_tab(page, "Regions")
    if how == "regions":
        page.locator(".lsf-outliner-item", has_text=trigger).first.click()
    else:
        click_text(page, text, trigger, last)
    link = page.locator("[aria-label='Create Relation']")
    link.wait_for()  # the Info tab shows the selected trigger
    if how == "button":
        link.click()
    else:
        page.keyboard.press("Alt+R")
    click_text(page, text, entity, last)
    show_tab(page, "Relations")
    page.wait_for_function(f"() => document.querySelectorAll('.lsf-relations__item').length > {before}")
    item = page.locator(".lsf-relations__item").last
    item.hover()
    item.locator("[aria-label='Show Relation Labels']").click()
    page.locator(".lsf-relation-meta [data-testid='select-trigger']").last.click()
    page.get_by_text(schema.relation_label(SCHEMA, role), exact=True).last.click()
    page.keyboard.press("Escape")
    show_tab(page, "Regions")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One Chromium for a worker's editor tests: each editor opens in a context of its own (cookies, storage)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def editor(
    chromium: Any, credentials: Any, project_id: int, task_id: int | None, login: tuple[str, str] | None = None
) -> Iterator[Any]:
    """A logged-in page on the task's labelling view, in a new browser context (nobody logged in before).

    ``login`` (email, password) logs in as that person instead of the studio owner;
    without ``task_id`` the page opens the project and presses "Label All Tasks", the
    path an annotator takes from their queue URL.
    """
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, locale="ar")
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{credentials.url}/user/login/")
        email, password = login or (credentials.email, credentials.password)
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/user/login" not in url)
        if task_id is None:
            page.goto(f"{credentials.url}/projects/{project_id}/data")
            page.get_by_role("button", name="Label All Tasks").click()
            # The label stream opens with the instructions, as the project asks: read, then close.
            page.get_by_text("Labeling Instructions").wait_for()
            page.keyboard.press("Escape")
            page.get_by_text("Labeling Instructions").wait_for(state="hidden")
        else:
            page.goto(f"{credentials.url}/projects/{project_id}/data?task={task_id}")
        page.wait_for_load_state("networkidle")
        page.wait_for_selector(".lsf-htx-richtext .lsf-richtext__line")
        page.locator(f"{BAR} .lsf-label", has_text="GPE").first.wait_for()
        yield page
    finally:
        context.close()


def push_article(client: LabelStudioClient, title: str, tmp_path: Path, text: str) -> tuple[int, int]:
    """Push one article with the default schema; return the project and task ids."""
    articles = tmp_path / "article.jsonl"
    article = {"id": "browser-1", "title": "اختبار المحرر", "text": text}
    articles.write_text(json.dumps(article, ensure_ascii=False), encoding="utf-8")
    report = push.push(client, [articles], title=title)
    (task,) = client.iter_tasks(report.project.id)
    return report.project.id, task["id"]


def screenshot(page: Any, name: str, **kwargs: Any) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    (kwargs.pop("element", None) or page).screenshot(path=str(path), **kwargs)
    assert path.stat().st_size > 10_000
    return path


def press_key_with_arabic_layout(page: Any, key: str) -> None:
    """Press a letter key as a keyboard with the Arabic layout sends it: another character, the same key."""
    arabic = {"l": "م", "p": "ح", "o": "خ", "g": "ل"}[key]
    code = {"key": arabic, "code": f"Key{key.upper()}", "windowsVirtualKeyCode": ord(key.upper())}
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchKeyEvent", {"type": "keyDown", "text": arabic, **code})
    cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", **code})


# --- 1. the order of actions the instructions give is the one the editor obeys ------------------


def test_select_then_label_creates_nothing_label_then_select_does(
    client: LabelStudioClient, credentials: Any, project_title: str, tmp_path: Path, chromium: Any
) -> None:
    guide = schema.instructions_html(SCHEMA)
    assert "التسمية أولاً ثم التظليل" in guide and "تظليل الكلمات قبل اختيار التسمية فلا يُنشئ شيئاً" in guide
    project, task = push_article(client, project_title, tmp_path, SHORT)
    with editor(chromium, credentials, project, task) as page:
        # What new annotators did: select the words, then click the label or press its key.
        drag(page, SHORT, "الرقة")
        page.locator(f"{BAR} .lsf-label", has_text="GPE").first.click()
        page.wait_for_timeout(800)
        assert regions(page) == []
        page.locator(f"{BAR} .lsf-label", has_text="GPE").first.click()  # unselect it again
        drag(page, SHORT, "تنظيم داعش")
        page.keyboard.press("o")
        page.wait_for_timeout(800)
        assert regions(page) == []
        page.keyboard.press("o")
        assert selected_labels(page) == []

        # What the instructions say: the label first (its button or its key), then the words.
        label(page, SHORT, "الرقة", "GPE")
        label(page, SHORT, "تنظيم داعش", "ORG", key=True)
        # A key pressed with the Arabic layout on is the same key; Shift+key is not.
        page.keyboard.press("Shift+L")
        assert selected_labels(page) == []
        press_key_with_arabic_layout(page, "l")
        assert any("LOC" in s for s in selected_labels(page)), selected_labels(page)
        page.locator(f"{BAR} .lsf-label", has_text="LOC").first.click()  # unselect
        # A mention inside another: choose the label, then select inside the existing mention.
        label(page, SHORT, "وزارة الدفاع الأمريكية", "ORG")
        label(page, SHORT, "الأمريكية", "GPE", last=True)
        assert len(regions(page)) == 4
        # Change a mention's label: click it in the text, then the right label.
        click_text(page, SHORT, "تنظيم داعش")
        page.locator(f"{BAR} .lsf-label", has_text="PER").first.click()
        page.locator(".lsf-outliner-item", has_text="تنظيم داعش").filter(has_text=LABELS["PER"].ar).wait_for()
        # Delete it: click it, then Backspace.
        page.keyboard.press("Escape")
        click_text(page, SHORT, "تنظيم داعش")
        page.keyboard.press("Backspace")
        page.wait_for_function("() => document.querySelectorAll('.lsf-outliner-item').length === 3")
        assert not any("تنظيم داعش" in r for r in regions(page))


# --- 2. the label bar shows the Arabic name, the code and the key apart -------------------------


def test_label_bar_shows_name_code_and_key_apart(
    client: LabelStudioClient, credentials: Any, project_title: str, tmp_path: Path, chromium: Any
) -> None:
    project, task = push_article(client, project_title, tmp_path, SHORT)
    with editor(chromium, credentials, project, task) as page:
        shown_labels = page.evaluate(BAR_LABELS, BAR)
        screenshot(page, "label-bar.png", element=page.locator(BAR))
    expected = [(x.ar, x.name, labelconfig._key_name(x.hotkey or "")) for x in LABELS.values()]
    assert [(x["name"], x["code"], x["key"]) for x in shown_labels] == expected
    for x in shown_labels:
        # Right to left: the key cap sits left of the code with a clear gap, never "pPER".
        gap = x["codeBox"]["left"] - x["keyBox"]["right"]
        assert gap >= 6, (x["code"], x["key"], gap)
        assert x["keyBorder"] >= 1, x
        assert x["keyBox"]["top"] < x["codeBox"]["bottom"] and x["codeBox"]["top"] < x["keyBox"]["bottom"]  # one line


# --- 3. the instructions: ruled tables, isolated codes, the keys the editor binds ----------------

# Each text node of the instructions with a Latin letter, and whether an ancestor isolates it
# left to right (bdi, kbd with dir="ltr").
LATIN_ISOLATED = """
(guide) => {
  const root = document.querySelector(guide);
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const out = [];
  let node;
  while ((node = walker.nextNode())) {
    if (!/[A-Za-z]/.test(node.data) || node.parentElement.closest('style')) continue;
    let e = node.parentElement, isolated = false;
    for (; e && e !== root; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.direction === 'ltr' && s.unicodeBidi.includes('isolate')) { isolated = true; break; }
    }
    out.push([node.data, isolated]);
  }
  return out;
}
"""
CELLS = """
(guide) => Array.from(document.querySelectorAll(guide + ' th, ' + guide + ' td')).map((c) => {
  const s = getComputedStyle(c);
  return [parseFloat(s.borderTopWidth), parseFloat(s.paddingRight)];
})
"""
# The keys the instructions list for the document questions: answer -> key.
GUIDE_CHOICE_KEYS = """
(guide) => {
  const tables = document.querySelectorAll(guide + ' table');
  const last = tables[tables.length - 1];
  return Object.fromEntries(Array.from(last.querySelectorAll('kbd')).map(
    (k) => [k.previousSibling.textContent.trim(), k.innerText]));
}
"""
# The keys the editor shows after each answer ("نعم[8]").
EDITOR_CHOICE_KEYS = """
() => Object.fromEntries(Array.from(document.querySelectorAll('.lsf-choice')).map((c) => {
  const hint = c.querySelector('.lsf-hint');
  return [c.innerText.replace(hint.innerText, '').trim(), hint.innerText.replace(/[\\[\\]]/g, '')];
}))
"""


def test_instructions_are_ruled_isolated_and_list_the_keys_the_editor_binds(
    client: LabelStudioClient, credentials: Any, project_title: str, tmp_path: Path, chromium: Any
) -> None:
    project, task = push_article(client, project_title, tmp_path, SHORT)
    with editor(chromium, credentials, project, task) as page:
        editor_keys = page.evaluate(EDITOR_CHOICE_KEYS)
        # The key of an answer works from the top of the article, without scrolling to the question.
        page.keyboard.press("Escape")
        page.keyboard.press(next(k for k in labelconfig._choice_hotkeys(SCHEMA).values()))
        assert page.locator(".lsf-choice input").first.is_checked()
        page.locator(".lsf-choice", has_text="غير واضح").click()  # or a click on the answer
        assert page.locator(".lsf-choice", has_text="غير واضح").locator("input").is_checked()
        page.get_by_role("button", name="Instructions").click()
        guide = page.locator(GUIDE)
        guide.wait_for()
        cells = page.evaluate(CELLS, GUIDE)
        latin = page.evaluate(LATIN_ISOLATED, GUIDE)
        guide_keys = page.evaluate(GUIDE_CHOICE_KEYS, GUIDE)
        bar = {x["code"]: x["key"] for x in page.evaluate(BAR_LABELS, BAR)}
        guide_bar = page.evaluate(
            f"() => Array.from(document.querySelectorAll('{GUIDE} tr')).filter((r) => r.querySelector('kbd'))"
            ".map((r) => [r.cells[1].innerText, r.querySelector('kbd').innerText])"
        )
        page.set_viewport_size({"width": 1400, "height": guide.evaluate("e => e.scrollHeight") + 300})
        screenshot(page, "instructions.png", element=page.locator(".lsf-modal-ls__content"))
    assert len(cells) > 20 and all(border >= 1 and padding >= 4 for border, padding in cells), cells
    not_isolated = [text for text, isolated in latin if not isolated]
    assert latin and not not_isolated, not_isolated
    assert any("GPE, LOC, FAC" in text for text, _ in latin)
    # The instructions list every key as the editor shows it, for answers and for labels.
    assert guide_keys == editor_keys and len(editor_keys) == sum(len(d.choices) for d in SCHEMA.document)
    assert {code: key for code, key in guide_bar if code in bar} == bar


# --- 4. a long article: the label bar stays in view; overlapping role names ---------------------


def test_label_bar_stays_in_view_on_a_long_article(
    client: LabelStudioClient, credentials: Any, project_title: str, tmp_path: Path, chromium: Any
) -> None:
    project, task = push_article(client, project_title, tmp_path, LONG)
    with editor(chromium, credentials, project, task) as page:
        scroller = page.locator(".lsf-main-content")
        bar = page.locator(BAR)
        top = bar.bounding_box()
        # The mentions are in the last line: selecting one scrolls the article far down.
        label(page, LONG, "قصفت", "Conflict:Attack", last=True)
        assert scroller.evaluate("e => e.scrollTop") > 1000
        box, view = bar.bounding_box(), scroller.bounding_box()
        assert box and view and top and abs(box["y"] - view["y"]) <= 1 and box["height"] == top["height"]
        # Nothing of the article covers the bar: its labels are still what the mouse reaches.
        middle = page.locator(f"{BAR} .lsf-label", has_text="FAC").first.bounding_box()
        assert middle
        hit = page.evaluate(
            "([x, y, bar]) => !!document.elementFromPoint(x, y).closest(bar)",
            [middle["x"] + middle["width"] / 2, middle["y"] + middle["height"] / 2, BAR],
        )
        assert hit
        label(page, LONG, "مخزن أسلحة", "FAC", key=True)
        label(page, LONG, "مطار الطبقة العسكري", "FAC")
        relate(page, LONG, "قصفت", "مخزن أسلحة", "Target", last=True)
        relate(page, LONG, "قصفت", "مطار الطبقة العسكري", "Place", how="button", last=True)
        screenshot(page, "labelling-long.png")
        # Role names of two close arguments overlap above the text (the editor places them; the
        # config cannot): the Relations tab, as the instructions say, lists each with its role.
        show_tab(page, "Relations")
        listed = page.locator(".lsf-relations__item").all_inner_texts()
        # The eye button next to an argument hides its arrow.
        hidden = ".relations-overlay g[visibility='hidden']"
        assert page.locator(hidden).count() == 0
        first = page.locator(".lsf-relations__item").first
        first.hover()
        first.locator("[aria-label='Hide Relation']").click()
        page.locator(hidden).first.wait_for(state="attached")
    assert len(listed) == 2
    assert schema.relation_label(SCHEMA, "Target") in listed[0] and schema.relation_label(SCHEMA, "Place") in listed[1]


# --- the whole path, through pull, validate and export -------------------------------------------


# The PostgreSQL studio's tests share one worker, which boots it once (conftest: POSTGRESQL_GROUP).
@pytest.fixture(params=["development", pytest.param("production", marks=pytest.mark.xdist_group(POSTGRESQL_GROUP))])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[LabelStudioClient, studio.Credentials]]:
    """The studio as one person runs it (SQLite, Django's server), and as a team does (PostgreSQL, gunicorn)."""
    home = request.getfixturevalue("studio_home" if request.param == "development" else "team_studio_home")
    assert studio.status(home).server == request.param
    creds = studio.load_credentials(home)
    assert creds is not None
    with studio.connect(home) as c:
        yield c, creds


def test_annotator_labels_in_the_real_editor_and_export_gives_it_back(
    served: tuple[LabelStudioClient, studio.Credentials], tmp_path: Path, chromium: Any
) -> None:
    """An annotator of the team, logged in as themselves, labels from their own queue, on either server."""
    client, credentials = served
    project_title = f"browser-{uuid.uuid4().hex[:10]}"
    [new] = team.add_members(client, [f"browser-{uuid.uuid4().hex[:6]}@example.org"], project=project_title)
    articles = tmp_path / "article.jsonl"
    articles.write_text(json.dumps({"id": "browser-1", "title": "اختبار المحرر", "text": TEXT}, ensure_ascii=False), encoding="utf-8")
    pushed = distribute.push_queues(client, ingest.read_articles([articles]), title=project_title, schema=SCHEMA, overlap=1)
    queue = pushed.queues[new.member.email].project
    (task,) = client.iter_tasks(queue.id)
    task_id = int(task["id"])
    with editor(chromium, credentials, queue.id, None, login=(new.member.email, new.password or "")) as page:
        screenshot(page, "annotator-queue.png")
        # The article reads right to left (a locator waits out the editor's re-renders).
        assert page.locator(".lsf-htx-richtext").first.evaluate("e => getComputedStyle(e).direction") == "rtl"
        label(page, TEXT, "قَصَفَتْ", "Conflict:Attack", key=True)
        label(page, TEXT, "التحالـــف الدولي", "ORG")
        label(page, TEXT, "تنظيم داعش", "ORG", key=True)
        label(page, TEXT, "الرقة", "GPE")
        relate(page, TEXT, "قَصَفَتْ", "التحالـــف الدولي", "Attacker")
        relate(page, TEXT, "قَصَفَتْ", "تنظيم داعش", "Target", how="button")
        relate(page, TEXT, "قَصَفَتْ", "الرقة", "Place", how="regions")
        # The document question, by the key the instructions list for "نعم".
        key = labelconfig._choice_hotkeys(SCHEMA)[("on_topic", "conflict")]
        page.keyboard.press(key)
        assert page.locator(".lsf-choice", has_text="نعم").locator("input").is_checked()
        screenshot(page, "labelling-view.png", full_page=True)
        page.locator("[data-testid='bottombar-submit-button']").click()
        # Submitted when Label Studio has the annotation (not after a guessed pause).
        deadline = time.monotonic() + 30
        while not client.get_task(task_id).get("annotations") and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        # Their home page lists their queue only: not the pool, the roster, nor anyone else's queue.
        page.goto(f"{credentials.url}/")
        page.get_by_text(queue.title).first.wait_for()
        page.wait_for_load_state("networkidle")
        screenshot(page, "annotator-home.png")
        assert page.locator("body").inner_text().count(project_title) == 1
        # Another's page is refused with a plain page that points to their own queue.
        refused = page.goto(f"{credentials.url}/projects/{pushed.pool.project.id}/data")
        assert refused is not None and refused.status == 403
        assert page.get_by_text("Not part of your work").is_visible()

    (submitted,) = client.get_task(task_id)["annotations"]
    by = submitted["completed_by"]
    assert (by["id"] if isinstance(by, dict) else by) == new.member.user_id  # the annotator's own work, not the owner's
    pulled = tmp_path / "pulled"
    pull.pull(client, title=project_title, root=pulled)
    result, _ = validate_project(project_title, root=pulled)
    (verdict,) = result.verdicts
    assert verdict.status in ("kept", "repaired"), verdict.problems
    assert all(p.code.startswith("repair.") for p in verdict.problems), verdict.problems
    out = tmp_path / "gold"
    export.export(project_title, out, ExportConfig(split=(1.0, 0.0, 0.0)), root=pulled)
    train = datasets.load_dataset(str(out))["train"]
    (row,) = train
    types = train.features["entities"].feature["type"].names
    expected = {("ORG", "التحالـــف الدولي"), ("ORG", "تنظيم داعش"), ("GPE", "الرقة")}
    assert {(types[e["type"]], e["text"]) for e in row["entities"]} == expected
    for e in row["entities"]:
        assert (e["start"], e["end"]) == (TEXT.index(e["text"]), TEXT.index(e["text"]) + len(e["text"]))
    (event,) = row["events"]
    assert (event["trigger"]["text"], event["trigger"]["start"]) == ("قَصَفَتْ", TEXT.index("قَصَفَتْ"))
    roles = train.features["events"].feature["arguments"].feature["role"].names
    by_id = {e["id"]: e["text"] for e in row["entities"]}
    assert {(roles[a["role"]], by_id[a["entity_id"]]) for a in event["arguments"]} == {
        ("Attacker", "التحالـــف الدولي"),
        ("Target", "تنظيم داعش"),
        ("Place", "الرقة"),
    }
    assert "ل" in row["tokens"] and row["tokens"][row["tokens"].index("ل") + 1] == "تنظيم"  # the clitic split off


def test_a_reviewer_decides_a_dispute_in_the_real_editor(
    served: tuple[LabelStudioClient, studio.Credentials], tmp_path: Path, chromium: Any
) -> None:
    """The reviewer's path, as themselves, with the guard on: the disputes above the article, the merge, a decision."""
    client, credentials = served
    title = f"review-{uuid.uuid4().hex[:10]}"
    run = uuid.uuid4().hex[:6]
    added = team.add_members(client, [f"rv-a-{run}@example.org", f"rv-b-{run}@example.org"], project=title)
    [reviewer] = team.add_members(client, [f"rv-r-{run}@example.org"], project=title, reviewer=True)
    articles = tmp_path / "article.jsonl"
    articles.write_text(json.dumps({"id": "review-1", "title": "اختبار المراجعة", "text": TEXT}, ensure_ascii=False), encoding="utf-8")
    distribute.push_queues(client, ingest.read_articles([articles]), title=title, schema=SCHEMA, overlap=2)
    for n, code in zip(added, ("GPE", "LOC")):  # a 1-vs-1 disagreement: the merge keeps neither
        with team.login(client.url, n.member.email, n.password or "") as session:
            queue = session.list_projects()[0]
            (task,) = session.iter_tasks(queue.id)
            session.create_annotation(int(task["id"]), [ent("g", code, TEXT, "الرقة"), answer()])
    pulled = tmp_path / "pulled"
    pull.pull(client, title=title, root=pulled)
    found = adjudicate.disputes(title, root=pulled)
    sent = adjudicate.push_disputes(client, title, found, SCHEMA, root=pulled)
    assert sent.review and sent.articles == 1
    (review_task,) = client.iter_tasks(sent.project_id)

    with editor(chromium, credentials, sent.project_id, None, login=(reviewer.member.email, reviewer.password or "")) as page:
        # What is disputed is listed above the article, as the reviewer instructions say.
        page.get_by_text(schema.DISPUTES_HEADER).wait_for()
        page.get_by_text("1/2 annotators", exact=False).first.wait_for()
        screenshot(page, "reviewer-dispute.png", full_page=True)
        label(page, TEXT, "الرقة", "GPE")
        page.locator("[data-testid='bottombar-submit-button']").click()
        deadline = time.monotonic() + 30
        while not client.get_task(int(review_task["id"])).get("annotations") and time.monotonic() < deadline:
            page.wait_for_timeout(250)

    (decision,) = client.get_task(int(review_task["id"]))["annotations"]
    by = decision["completed_by"]
    assert (by["id"] if isinstance(by, dict) else by) == reviewer.member.user_id
    pull.pull(client, title=title, root=pulled)
    out = tmp_path / "gold"
    report = export.export(title, out, ExportConfig(split=(1.0, 0.0, 0.0)), root=pulled)
    assert report.stats.gold_sources == {"ground_truth": 1}
    (row,) = datasets.load_dataset(str(out))["train"]
    types = datasets.load_dataset(str(out))["train"].features["entities"].feature["type"].names
    assert [(types[e["type"]], e["text"]) for e in row["entities"]] == [("GPE", "الرقة")]


# --- suggestions: the annotator starts from the model's pre-annotation -----------------------------


def test_an_annotator_edits_suggestions_in_the_real_editor_and_the_report_counts_it(
    client: LabelStudioClient, credentials: studio.Credentials, tmp_path: Path, chromium: Any
) -> None:
    """The suggested mentions are in the editor when the annotator opens the task; they keep, relabel, delete, add."""
    from test_suggest import articles

    title = f"suggest-{uuid.uuid4().hex[:10]}"
    [new] = team.add_members(client, [f"sg-{uuid.uuid4().hex[:6]}@example.org"], project=title)
    session = team.login(client.url, new.member.email, new.password or "")
    gold, results = articles(11, 40)
    distribute.push_queues(client, gold, title=title, schema=SCHEMA, overlap=1)
    queue = team.queue_projects(client, title)[new.member.user_id]
    for task in session.iter_tasks(queue.id):
        session.create_annotation(int(task["id"]), results[task["data"]["article_id"]])
    pulled = tmp_path / "pulled"
    pull.pull(client, title=title, root=pulled)
    tagger = Tagger(train_mod.train(title, root=pulled).folder)
    # An article that gets suggestions (not test, not control) with at least two entities and a trigger.
    fresh = next(
        a for a in articles(12, 40)[0]
        if split_of(a.text, 13, (0.8, 0.1, 0.1)) != "test" and not suggest_mod.in_control(a.id, suggest_mod.CONTROL_SHARE)
        and sum(f.kind == "entity" for f in tagger.find(a.text)) >= 2 and any(f.kind == "trigger" for f in tagger.find(a.text))
    )
    distribute.push_queues(client, [*gold, fresh], title=title, schema=SCHEMA, overlap=1)
    assert suggest_mod.suggest(client, title, root=pulled).suggested == 1
    (task_id,) = [int(t["id"]) for t in client.iter_tasks(queue.id) if t["data"]["article_id"] == fresh.id]
    found = tagger.find(fresh.text)
    entities = [f for f in found if f.kind == "entity"]
    relabelled, deleted = entities[0], next(f for f in found if f.kind == "trigger")
    new_label = "LOC" if relabelled.label != "LOC" else "GPE"

    with editor(chromium, credentials, queue.id, task_id, login=(new.member.email, new.password or "")) as page:
        # The suggestions are the annotation the editor starts from.
        page.wait_for_function(f"() => document.querySelectorAll('.lsf-outliner-item').length === {len(found)}")
        screenshot(page, "suggested-article.png", full_page=True)
        for f in found:
            page.locator(".lsf-outliner-item", has_text=f.text).filter(has_text=LABELS[f.label].ar).first.wait_for()
        # Fix one: select it, choose the right label.
        page.locator(".lsf-outliner-item", has_text=relabelled.text).first.click()
        page.locator(f"{BAR} .lsf-label", has_text=new_label).first.click()
        page.locator(".lsf-outliner-item", has_text=relabelled.text).filter(has_text=LABELS[new_label].ar).first.wait_for()
        page.keyboard.press("Escape")
        # Delete one: select it, press Backspace (the editor's key for it).
        page.locator(".lsf-outliner-item", has_text=deleted.text).filter(has_text=LABELS[deleted.label].ar).first.click()
        page.keyboard.press("Backspace")
        page.wait_for_function(f"() => document.querySelectorAll('.lsf-outliner-item').length === {len(found) - 1}")
        page.keyboard.press("Escape")
        # Add one the model missed.
        label(page, fresh.text, "النهاية", "TIME", last=True)
        page.keyboard.press(labelconfig._choice_hotkeys(SCHEMA)[("on_topic", "conflict")])  # the question the project asks
        screenshot(page, "suggested-article-edited.png", full_page=True)
        page.locator("[data-testid='bottombar-submit-button']").click()
        deadline = time.monotonic() + 30
        while not client.get_task(task_id).get("annotations") and time.monotonic() < deadline:
            page.wait_for_timeout(250)

    (submitted,) = client.get_task(task_id)["annotations"]
    assert submitted.get("parent_prediction") is not None  # the editor recorded where the work started
    pull.pull(client, title=title, root=pulled)
    report = model_report(title, root=pulled)
    assert (report.annotations, dict(report.totals)) == (
        1, {"accepted": len(found) - 2, "relabelled": 1, "deleted": 1, "added": 1}
    )
    assert report.per_label[new_label]["relabelled"] == 1 and report.per_label["TIME"]["added"] == 1
