"""Label Studio's side of the schema: the labelling config, the names it gives controls and relation
labels, and the annotators' and reviewers' instructions, all generated from a checked ``Schema``.
"""

from __future__ import annotations

import hashlib
import html
import re
from typing import Any
from xml.sax.saxutils import quoteattr


from .errors import SchemaError
from .models import EntityType, EventType, Schema


# Label Studio names of the control tags; annotations and validation refer to them.
ENTITY_TAG = "entity"
TRIGGER_TAG = "trigger"
TEXT_TAG = "text"
# A relation label shows the role and its Arabic name; only the part before the
# separator is read back, so renaming the Arabic never orphans an annotation.
ROLE_SEPARATOR = " · "


# --- the Label Studio labelling config ------------------------------------------


def _attrs(**attrs: Any) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        name = {"to_name": "toName", "show_alias": "showAlias", "show_inline": "showInline"}.get(key, key)
        parts.append(f"{name}={quoteattr('true' if value is True else str(value))}")
    return " ".join(parts)


def relation_label(schema: Schema, role: str) -> str:
    """The relation label Label Studio shows and stores for a role."""
    for event in schema.events:
        found = event.role(role)
        if found is not None:
            return f"{found.name}{ROLE_SEPARATOR}{found.ar}"
    raise SchemaError(f"schema {schema.name!r} has no role {role!r}; its roles: {', '.join(schema.role_names)}")


def role_of_relation_label(label: str) -> str:
    """The role name stored in a relation label (inverse of ``relation_label``)."""
    return label.split(ROLE_SEPARATOR, 1)[0].strip()


# Class names of the generated config, for its <Style> and for tests that look at the editor.
_LABEL_BAR_CLASS = "annotate-label-bar"
_ARTICLE_CLASS = "rtl-article"

# Label Studio gives every Choice without a hotkey the first of these keys not yet taken, in
# config order (Hotkey.makeComb in the editor). The config writes those keys out, so what the
# instructions list is what the editor binds.
_AUTO_HOTKEYS = "1234567890qwetasdfgzxcvbyiopjklnm"

# The editor's label CSS is written for left-to-right: in a right-to-left bar the hotkey's
# margin falls on its outer side and the key touches the code ("pPER", "lLOC" read as "ILOC").
# These rules draw the key as a key cap apart from the code (the alias span, isolated so
# "Conflict:Attack" keeps its order). The editor's text box sets its own small font and line
# height over the article's; a taller line leaves room for relation arrows between lines. The
# bar stays in view while a long article scrolls (.lsf-main-content is the editor's scrolling
# box), above the relation arrows (.relations-overlay, z-index 100), and the article keeps room
# above its first line for the arrows drawn there. Label Studio passes this text through an
# HTML sanitizer, which would escape any "<", ">" or "&": none are used.
_EDITOR_CSS = f"""
.{_ARTICLE_CLASS} {{ direction: rtl; text-align: right; padding-top: 24px; }}
.{_ARTICLE_CLASS} .lsf-richtext__container {{ font-size: 18px; line-height: 2.4; }}
.{_LABEL_BAR_CLASS} {{ position: sticky; top: 0; z-index: 150; padding: 6px 0 2px;
  background: var(--color-neutral-surface, #fff); border-bottom: 1px solid rgba(127, 127, 127, 0.4); }}
.{_LABEL_BAR_CLASS} .lsf-labels {{ margin: 0 0 4px; }}
.{_LABEL_BAR_CLASS} .lsf-label {{ margin: 0 0 6px; margin-inline-end: 8px; border-left: 0;
  border-right: 4px solid var(--color); }}
.{_LABEL_BAR_CLASS} .lsf-label__text span {{ font-family: monospace; font-size: 13px; unicode-bidi: isolate; }}
.{_LABEL_BAR_CLASS} .lsf-label__hotkey {{ margin: 0; margin-inline-start: 10px; padding: 0 6px;
  border: 1px solid currentColor; border-radius: 4px; font-family: monospace; font-size: 13px;
  line-height: 18px; text-transform: uppercase; unicode-bidi: isolate; }}
.lsf-choice .lsf-hint {{ margin-inline-start: 4px; font-family: monospace; text-transform: uppercase;
  unicode-bidi: isolate; }}
"""


def _choice_hotkeys(schema: Schema) -> dict[tuple[str, str], str]:
    """(field, choice) -> the key Label Studio gives it: the first free key, in config order."""
    taken = {x.hotkey for x in (*schema.entities, *schema.events) if x.hotkey}
    free = (k for k in _AUTO_HOTKEYS if k not in taken)
    return {(doc.name, c.name): key for doc in schema.document for c, key in zip(doc.choices, free)}


def _label_tag(x: EntityType | EventType, hint: str) -> str:
    attrs = _attrs(value=x.ar, alias=x.name, show_alias=True, hint=hint, background=x.color, hotkey=x.hotkey)
    return f"        <Label {attrs}/>"


# The review project's tasks carry what the annotators did not agree on, one item a line (adjudicate.py).
DISPUTES_FIELD = "disputes"
_DISPUTES_CLASS = "annotate-disputes"
_DISPUTES_STYLE = (
    "direction: ltr; text-align: left; unicode-bidi: isolate; white-space: pre-wrap; margin: 6px 0;"
    " padding: 6px 10px; border: 1px solid rgba(127, 127, 127, 0.6); border-radius: 4px"
)
DISPUTES_HEADER = "ما لم يتفق عليه الموسِّمون (راجِعه في النص، وأبقِ ما سواه كما هو)"


def label_config(schema: Schema, *, review: bool = False) -> str:
    """Label Studio's XML labelling config for the schema; ``review``: the review project's, with the disputes listed.

    Entities and event triggers are two label sets on the same text, so a
    trigger may overlap an entity; arguments are relations from trigger to
    entity labelled with their role. The value shown is Arabic, the alias
    (what annotations store) is the schema name. Both label sets sit in a bar
    that stays at the top while the article scrolls.
    """
    multiple = "multiple" if schema.policy.labels_per_region > 1 else "single"
    lines = [
        "<View>",
        f"  <Style>{_EDITOR_CSS}</Style>",
        '  <View style="direction: rtl; text-align: right">',
        '    <Header value="$title" size="4"/>',
        *(
            [
                f"    <View {_attrs(className=_DISPUTES_CLASS)}>",
                f"      <Header {_attrs(value=DISPUTES_HEADER, size='6')}/>",
                f"      <View {_attrs(style=_DISPUTES_STYLE)}><Text {_attrs(name=DISPUTES_FIELD, value='$' + DISPUTES_FIELD)}/></View>",
                "    </View>",
            ]
            if review
            else []
        ),
        f'    <View className="{_LABEL_BAR_CLASS}">',
        f"      <Labels {_attrs(name=ENTITY_TAG, to_name=TEXT_TAG, choice=multiple, show_inline=True)}>",
    ]
    lines += [_label_tag(e, f"{e.name}: {e.description}") for e in schema.entities]
    lines.append("      </Labels>")
    if schema.events:
        lines.append(f"      <Labels {_attrs(name=TRIGGER_TAG, to_name=TEXT_TAG, choice=multiple, show_inline=True)}>")
        for ev in schema.events:
            roles = ", ".join(f"{r.ar} ({r.name})" for r in ev.roles)
            lines.append(_label_tag(ev, f"{ev.name}: {ev.description} — {roles}"))
        lines.append("      </Labels>")
    lines.append("    </View>")
    if schema.events:
        lines.append('    <Relations choice="single">')
        for role in schema.role_names:
            lines.append(f"      <Relation {_attrs(value=relation_label(schema, role))}/>")
        lines.append("    </Relations>")
    lines.append(f'    <View className="{_ARTICLE_CLASS}">')
    lines.append(f"      <Text {_attrs(name=TEXT_TAG, value='$text', granularity='symbol')}/>")
    lines.append("    </View>")
    keys = _choice_hotkeys(schema)
    for doc in schema.document:
        lines.append(f"    <Header {_attrs(value=doc.ar, size='6')}/>")
        if doc.kind == "text":
            lines.append(
                f"    <TextArea {_attrs(name=doc.name, to_name=TEXT_TAG, required=doc.required, maxSubmissions=1, editable=True)}/>"
            )
            continue
        lines.append(
            f"    <Choices {_attrs(name=doc.name, to_name=TEXT_TAG, choice=doc.kind, required=doc.required, show_inline=True)}>"
        )
        for c in doc.choices:
            lines.append(f"      <Choice {_attrs(value=c.ar, alias=c.name, hotkey=keys.get((doc.name, c.name)))}/>")
        lines.append("    </Choices>")
    lines.append("  </View>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def config_hash(config: str) -> str:
    return hashlib.sha256(config.encode("utf-8")).hexdigest()


# The instructions are shown as raw HTML in Label Studio's modal (about 600 px wide), so they
# bring their own style, scoped to their class: ruled, padded tables and key caps like those of
# the label bar. The colours are translucent greys, readable in the light and the dark theme.
_GUIDE_CLASS = "annotate-guide"
_GUIDE_CSS = f"""<style>
.{_GUIDE_CLASS} {{ direction: rtl; text-align: right; line-height: 1.7; }}
.{_GUIDE_CLASS} table {{ border-collapse: collapse; width: 100%; margin: 6px 0 14px; }}
.{_GUIDE_CLASS} th, .{_GUIDE_CLASS} td {{ border: 1px solid rgba(127, 127, 127, 0.6); padding: 5px 8px;
  text-align: right; vertical-align: top; }}
.{_GUIDE_CLASS} th {{ background: rgba(127, 127, 127, 0.15); }}
.{_GUIDE_CLASS} td table {{ margin: 4px 0 0; }}
.{_GUIDE_CLASS} kbd {{ display: inline-block; min-width: 1em; padding: 0 6px; border: 1px solid currentColor;
  border-radius: 4px; font-family: monospace; font-size: 0.9em; line-height: 1.5; text-align: center; }}
.{_GUIDE_CLASS} ol {{ list-style: decimal; padding-inline-start: 1.6em; margin: 4px 0 10px; }}
.{_GUIDE_CLASS} li {{ margin-bottom: 4px; }}
.{_GUIDE_CLASS} h3 {{ margin: 14px 0 4px; }}
</style>"""
# A code, a list of codes or an English UI name inside Arabic text ("ACE 2005", "GPE, LOC, FAC",
# "Conflict:Attack"): isolated left to right, or the bidi algorithm reorders it with its neighbours.
_LATIN_RUN = re.compile(r"[A-Za-z][\w.:+\-]*(?:[ ,·]+[A-Za-z0-9][\w.:+\-]*)*", re.ASCII)


def _ltr(text: str) -> str:
    return f'<bdi dir="ltr">{html.escape(text)}</bdi>'


def _rtl(text: str) -> str:
    """Escaped Arabic text whose Latin runs are isolated left to right."""
    out: list[str] = []
    last = 0
    for m in _LATIN_RUN.finditer(text):
        out += [html.escape(text[last : m.start()]), _ltr(m.group())]
        last = m.end()
    return "".join(out) + html.escape(text[last:])


def _key_name(hotkey: str) -> str:
    """A hotkey as printed on the keyboard: "l" -> "L", "shift+a" -> "Shift+A", "backspace" -> "Backspace"."""
    return "+".join(part.upper() if len(part) == 1 else part.capitalize() for part in hotkey.split("+"))


def _kbd(hotkey: str | None) -> str:
    return f'<kbd dir="ltr">{html.escape(_key_name(hotkey))}</kbd>' if hotkey else ""


def _row(cells: list[str], tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{cell}</{tag}>" for cell in cells) + "</tr>"


def _table(head: list[str], rows: list[str]) -> str:
    """A ruled table: Arabic head cells, rows already HTML (see ``_row``)."""
    return "\n".join([f"<table>{_row([html.escape(h) for h in head], 'th')}", *rows, "</table>"])


def _steps(items: list[str]) -> str:
    return "<ol>" + "".join(f"<li>{item}</li>" for item in items) + "</ol>"


def _roles_row(schema: Schema, event: EventType) -> str:
    """The roles of an event under its row: as the relation list shows them, and the types they take."""
    rows = []
    for role in event.roles:
        at_most = " (مرة واحدة على الأكثر)" if role.max == 1 else (f" (على الأكثر {role.max})" if role.max else "")
        rows.append(_row([_ltr(relation_label(schema, role.name)) + at_most, _ltr(", ".join(role.types))]))
    title = f"أدوار «{html.escape(event.ar)}»: الدور كما في قائمة {_ltr('Select labels')}، والأنواع التي يأخذها"
    return f'<tr><td colspan="4">{title}<table>{"".join(rows)}</table></td></tr>'


def instructions_html(schema: Schema) -> str:
    """Annotator instructions (shown by Label Studio before and during labelling), from the schema.

    Every step is what Label Studio 1.23's editor does (tests/test_browser.py follows them); in
    particular a label is chosen before the text is selected, never after.
    """
    out = [f'<div class="{_GUIDE_CLASS}" dir="rtl" lang="ar">', _GUIDE_CSS, f"<h2>{_rtl(schema.description)}</h2>"]
    if schema.instructions:
        out.append("".join(f"<p>{_rtl(p)}</p>" for p in schema.instructions.split("\n\n")))
    keyed = next((x for x in schema.entities if x.hotkey), None)
    key_example = f" (مثل {_kbd(keyed.hotkey)} لتسمية {html.escape(keyed.ar)})" if keyed else ""
    out.append("<h3>طريقة الوسم</h3>")
    out.append(
        _steps(
            [
                "<b>التسمية أولاً ثم التظليل:</b> انقر التسمية في الشريط أعلى المقال أو اضغط مفتاحها،"
                " ثم ظلّل الكلمات بالفأرة. أما تظليل الكلمات قبل اختيار التسمية فلا يُنشئ شيئاً.",
                "تُلغى التسمية بعد كل تظليل، فاخترها من جديد قبل كل ذكر.",
                f"على كل زر في الشريط الاسمُ العربي ثم الرمز اللاتيني ثم المفتاح في مربع{key_example}."
                f" اضغط المفتاح وحده بلا {_ltr('Shift')}؛ ويعمل كذلك والتخطيط العربي مفعّل (المفتاح نفسه على"
                " لوحة المفاتيح).",
                "يبقى شريط التسميات ظاهراً أعلى المقال مهما نزلت في المقال الطويل.",
                "لتغيير تسمية ذكرٍ انقره في النص ثم انقر التسمية الصحيحة. ولحذفه انقره ثم اضغط"
                f" {_kbd('backspace')}.",
                "يجوز أن تتداخل الكيانات ومحفِّزات الأحداث، وأن يقع ذكر داخل ذكر: اختر التسمية ثم ظلّل"
                " داخل الذكر الموجود.",
                "لا تُدخل في التظليل المسافات ولا علامات الترقيم في الطرفين؛ أما السوابق المتصلة"
                " (و، ف، ب، ل، ك، ال) فتبقى خارج الكيان إلا إذا كانت جزءاً من الاسم.",
            ]
        )
    )
    out.append("<h3>الكيانات والقيم</h3>")
    rows = [_row([html.escape(e.ar), _ltr(e.name), _kbd(e.hotkey), _rtl(e.description)]) for e in schema.entities]
    out.append(_table(["التسمية", "الرمز", "المفتاح", "الوصف"], rows))
    if schema.events:
        relations = _ltr("Relations")
        out.append("<h3>الأحداث ومشاركوها</h3>")
        out.append(
            _steps(
                [
                    "اختر نوع الحدث ثم ظلّل الكلمة التي تدل على وقوعه (المحفِّز).",
                    f"لكل مشارك: انقر المحفِّز في النص (أو في لسان {_ltr('Regions')} على اليمين)، ثم اضغط"
                    f" {_kbd('alt+r')} أو انقر زر الربط في لسان {_ltr('Info')} (أقصى اليسار تحت المحفِّز،"
                    f" وتلميحه {_ltr('Create relation between regions')})، ثم انقر الكيان. يظهر سهم من المحفِّز"
                    " إلى الكيان.",
                    f"ثم حدّد دوره: افتح لسان {relations} على اليمين، ومرّر الفأرة فوق العلاقة وانقر زر «…»"
                    f" الذي يظهر، واختر الدور من قائمة {_ltr('Select labels')}. يظهر الدور في القائمة برمزه"
                    " ثم باسمه العربي كما في الجدول أدناه.",
                    "إذا كان للمحفِّز مشاركان متقاربان تراكبت أسماء أدوارهما فوق النص، ولا تغيّر ذلك إعدادات"
                    f" المشروع. اقرأ الأدوار عندئذ في لسان {relations}: كل مشارك في سطر وتحته دوره، وزر العين"
                    " بجانبه يُخفي سهمه.",
                ]
            )
        )
        rows = []
        for ev in schema.events:
            rows.append(_row([html.escape(ev.ar), _ltr(ev.name), _kbd(ev.hotkey), _rtl(ev.description)]))
            rows.append(_roles_row(schema, ev))
        out.append(_table(["الحدث", "الرمز", "المفتاح", "الوصف"], rows))
    if schema.document:
        keys = _choice_hotkeys(schema)
        out.append("<h3>أسئلة عن المقال كله</h3>")
        if keys:
            example = f" (مثل [{html.escape(_key_name(next(iter(keys.values()))))}])"
            out.append(
                f"<p>تحت المقال. انقر الجواب أو اضغط مفتاحه، ويظهر المفتاح بين قوسين بعد الجواب{example}؛"
                " ويعمل المفتاح دون النزول إلى السؤال.</p>"
            )
        rows = []
        for doc in schema.document:
            if doc.kind == "text":
                answers = "نص حر يُكتب في المربع"
            else:
                how = "جواب واحد" if doc.kind == "single" else "كل ما ينطبق"
                answers = f"{how}:<br>" + "<br>".join(
                    f"{html.escape(c.ar)} {_kbd(keys.get((doc.name, c.name)))}" for c in doc.choices
                )
            required = " <b>(إلزامي)</b>" if doc.required else ""
            rows.append(_row([html.escape(doc.ar) + required, answers, _rtl(doc.description)]))
        out.append(_table(["السؤال", "الأجوبة ومفاتيحها", "ملاحظة"], rows))
    out.append(
        f"<p>حين تنتهي انقر {_ltr('Submit')} أسفل الصفحة. وهذه التعليمات متاحة أثناء الوسم من زر"
        f" {_ltr('Instructions')} أعلى الصفحة.</p>"
    )
    out.append("</div>")
    return "\n".join(out)


def review_instructions_html(schema: Schema) -> str:
    """The review project's instructions: what a reviewer does, then the annotators' guide they judge by.

    What it says is what annotate does with the result: a reviewer's submitted annotation in
    the review project is the decision (gold) by itself, so no star (ground truth) is asked for.
    """
    steps = _steps([
        f"تبدأ من نتيجة الدمج ({_ltr('annotate: majority merge')}): ما اتفقت عليه أغلبية الموسِّمين موسوم مسبقاً.",
        "فوق المقال قائمة بما لم يتفق عليه الموسِّمون، بنداً في كل سطر: راجع كل بند في النص.",
        f"نسخة كل موسِّم في قائمة {_ltr('Predictions')} باسمه المستعار ({_ltr('annotator A')}،"
        f" {_ltr('annotator B')}...): اخترها لتراها، ثم عد إلى نتيجة الدمج لتصححها.",
        "صحِّح البنود المختلف فيها فقط، وأبقِ ما سواها كما هو.",
        f"انقر {_ltr('Submit')}: ما ترسله هو القرار، ويصبح البيانات الذهبية لهذا المقال. لا حاجة إلى النجمة"
        f" ({_ltr('ground truth')}). ولا يُحتسب ما يرسله في هذا المشروع أحد غير المراجعين.",
    ])
    guide = instructions_html(schema)
    return f'<div class="{_GUIDE_CLASS}" dir="rtl" lang="ar"><h2>تعليمات المراجعة</h2>{steps}</div>\n{guide}'
