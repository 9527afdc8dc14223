"""The annotator's path in Label Studio's own web editor, in headless Chromium (Debian's package).

Run alone with ``pytest -m browser``, or leave out with ``-m "not browser"``. A screenshot
of the labelling view is saved in ``test-artifacts/`` for a person to check.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import datasets
import pytest

from annotate import export, pull, push, schema
from annotate.labelstudio.client import LabelStudioClient
from annotate.models import ExportConfig
from annotate.validate import validate_project
from conftest import ROOT

pytestmark = [pytest.mark.studio, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ARTIFACTS = ROOT / "test-artifacts"
SCHEMA = schema.load()
# An emoji before every selection, diacritics on the trigger, tatweel inside a name, and an
# entity attached to the clitic ل.
TEXT = "🔥 قَصَفَتْ طائرات التحالـــف الدولي فجر اليوم مواقع لتنظيم داعش في الرقة."

# Selects [start, end) of the article (offsets in UTF-16 units, as the browser counts) the way a
# mouse drag does, then lets the editor see the selection end. The editor shows the text split
# on "\n" into lines; each line's text nodes hold the characters in order.
SELECT = """
([start, end]) => {
  const root = document.querySelector('.lsf-htx-richtext');
  const lines = Array.from(root.querySelectorAll('.lsf-richtext__line'));
  function locate(offset) {
    let base = 0;
    for (const line of lines) {
      const length = line.textContent.length;
      if (offset <= base + length) {
        const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
        let node, rest = offset - base;
        while ((node = walker.nextNode())) {
          if (rest <= node.data.length) return [node, rest];
          rest -= node.data.length;
        }
      }
      base += length + 1;
    }
    throw new Error('offset ' + offset + ' is not in the text');
  }
  const [startNode, startOffset] = locate(start);
  const [endNode, endOffset] = locate(end);
  const range = document.createRange();
  range.setStart(startNode, startOffset);
  range.setEnd(endNode, endOffset);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  return range.toString();
}
"""


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def select(page: Any, piece: str, label: str) -> None:
    """Pick a label, then select the piece of text with it, as an annotator does."""
    # The editor takes a moment to settle a new region; a label clicked meanwhile would relabel it.
    page.wait_for_function("() => !document.querySelector('.lsf-label_selected')")
    page.wait_for_timeout(500)
    page.locator(".lsf-label", has_text=label).first.click()
    selected = page.evaluate("() => Array.from(document.querySelectorAll('.lsf-label_selected')).map(e => e.textContent)")
    assert any(label in s for s in selected), selected
    start = TEXT.index(piece)
    assert page.evaluate(SELECT, [units(TEXT[:start]), units(TEXT[: start + len(piece)])]) == piece
    page.locator(".lsf-htx-richtext").dispatch_event("mouseup")
    shown = next(x.ar for x in list(SCHEMA.entities) + list(SCHEMA.events) if x.name == label)
    page.locator(".lsf-outliner-item", has_text=piece).filter(has_text=shown).first.wait_for()


def relate(page: Any, trigger: str, entity: str, role: str) -> None:
    """Draw an argument: select the trigger, Create Relation, click the entity, pick the role."""
    page.locator(".lsf-outliner-item", has_text=trigger).first.click()
    page.locator("[aria-label='Create Relation']").click()
    page.locator(".lsf-outliner-item", has_text=entity).first.click()
    page.locator(".lsf-panel-tabs__tab:visible", has_text="Relations").first.click()
    item = page.locator(".lsf-relations__item").last
    item.hover()
    show = item.locator("[aria-label='Show Relation Labels']")
    if show.count():
        show.first.click()
    page.locator(".lsf-relation-meta [data-testid='select-trigger']").last.click()
    page.get_by_text(schema.relation_label(SCHEMA, role), exact=True).last.click()
    page.keyboard.press("Escape")
    page.locator(".lsf-panel-tabs__tab:visible", has_text="Regions").first.click()


def test_annotator_labels_in_the_real_editor_and_export_gives_it_back(
    client: LabelStudioClient, credentials: Any, project_title: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
    articles = tmp_path / "article.jsonl"
    articles.write_text(json.dumps({"id": "browser-1", "title": "اختبار المحرر", "text": TEXT}, ensure_ascii=False), encoding="utf-8")
    report = push.push(client, [articles], title=project_title)
    (task,) = client.iter_tasks(report.project.id)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="ar")
        page.set_default_timeout(20_000)
        page.goto(f"{credentials.url}/user/login/")
        page.fill("input[name=email]", credentials.email)
        page.fill("input[name=password]", credentials.password)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/user/login" not in url)
        page.goto(f"{credentials.url}/projects/{report.project.id}/data?task={task['id']}")
        page.wait_for_load_state("networkidle")
        page.wait_for_selector(".lsf-htx-richtext .lsf-richtext__line")
        page.locator(".lsf-label", has_text="GPE").first.wait_for()
        # The article reads right to left (a locator waits out the editor's re-renders).
        assert page.locator(".lsf-htx-richtext").first.evaluate("e => getComputedStyle(e).direction") == "rtl"

        select(page, "قَصَفَتْ", "Conflict:Attack")
        select(page, "التحالـــف الدولي", "ORG")
        select(page, "تنظيم داعش", "ORG")
        select(page, "الرقة", "GPE")
        relate(page, "قَصَفَتْ", "التحالـــف الدولي", "Attacker")
        relate(page, "قَصَفَتْ", "تنظيم داعش", "Target")
        relate(page, "قَصَفَتْ", "الرقة", "Place")
        page.locator(".lsf-choice", has_text="نعم").first.click()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "labelling-view.png"), full_page=True)
        page.locator("[data-testid='bottombar-submit-button']").click()
        # Submitted when Label Studio has the annotation (not after a guessed pause).
        deadline = time.monotonic() + 30
        while not client.get_task(task["id"]).get("annotations") and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        browser.close()

    pulled = tmp_path / "pulled"
    pull.pull(client, title=project_title, root=pulled)
    result, _ = validate_project(project_title, root=pulled)
    (verdict,) = result.verdicts
    assert verdict.status in ("kept", "repaired"), verdict.problems
    assert all(p.code.startswith("repair.") for p in verdict.problems), verdict.problems
    out = tmp_path / "gold"
    export.export(project_title, out, ExportConfig(split=(1.0, 0.0, 0.0)), root=pulled)
    (row,) = datasets.load_dataset(str(out))["train"]
    types = datasets.load_dataset(str(out))["train"].features["entities"].feature["type"].names
    expected = {("ORG", "التحالـــف الدولي"), ("ORG", "تنظيم داعش"), ("GPE", "الرقة")}
    got = {(types[e["type"]], e["text"]) for e in row["entities"]}
    assert got == expected
    for e in row["entities"]:
        assert (e["start"], e["end"]) == (TEXT.index(e["text"]), TEXT.index(e["text"]) + len(e["text"]))
    (event,) = row["events"]
    assert (event["trigger"]["text"], event["trigger"]["start"]) == ("قَصَفَتْ", TEXT.index("قَصَفَتْ"))
    roles = datasets.load_dataset(str(out))["train"].features["events"].feature["arguments"].feature["role"].names
    by_id = {e["id"]: e["text"] for e in row["entities"]}
    assert {(roles[a["role"]], by_id[a["entity_id"]]) for a in event["arguments"]} == {
        ("Attacker", "التحالـــف الدولي"),
        ("Target", "تنظيم داعش"),
        ("Place", "الرقة"),
    }
    assert "ل" in row["tokens"] and row["tokens"][row["tokens"].index("ل") + 1] == "تنظيم"  # the clitic split off
    assert (ARTIFACTS / "labelling-view.png").stat().st_size > 10_000
