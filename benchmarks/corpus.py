"""A synthetic Arabic news corpus with annotations, shaped like the real one.

Articles mix plain words, diacritized words, tatweel, clitic-attached names,
Arabic-Indic and ASCII numbers, punctuation and emoji, with a few long
articles. Every article comes with one annotation in Label Studio's result
format (entities, one event with arguments, the document answer), built while
the text is written, so the offsets are exact.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

WORDS = (
    "أعلن قال أضاف أكد ذكر أشار بيان مصدر مسؤول عملية قوات مواقع الضربات الجوية الحرب المنطقة الأراضي"
    " الحدود المدينة القرية الريف الشرقي الغربي الشمالي الجنوبي اليوم أمس الأسبوع الماضي الحالي خلال"
    " بعد قبل ضد على في من إلى عن مع حتى منذ بين حول نحو عدد كبير صغير جديد قديم مسلح مدني عسكري"
).split()
DIACRITIZED = ["قَصَفَتْ", "الطَّائِرَاتُ", "مَوَاقِعَ", "التَّنْظِيمِ", "الْحُكُومَةُ", "المُتَحَدِّثُ"]
TATWEEL = ["الدفـــاع", "الأمريكيـــة", "العمليـــات", "الحكومـــة"]
PUNCT = ["،", ".", "؛", "؟", ":", "«", "»"]
EMOJI = ["🔥", "💥", "🇸🇾", "😢", "📍"]
ENTITIES = {
    "PER": ["شون روبرتسون", "أحمد الخطيب", "مَحْمُودُ عَبَّاس", "سارة العلي"],
    "ORG": ["التحالف الدولي", "تنظيم داعش", "قوات سوريا الديمقراطية", "وزارة الدفـــاع", "الأمم المتحدة"],
    "GPE": ["سوريا", "العراق", "الرقة", "دير الزور", "منبج", "الحسكة", "بغداد"],
    "LOC": ["الجزيرة السورية", "نهر الفرات", "البادية"],
    "FAC": ["مطار الطبقة", "سد تشرين", "جسر الرشيد"],
    "VEH": ["طائرة", "مروحية", "مدرعة"],
    "WEA": ["عبوة ناسفة", "صاروخ", "قذيفة"],
    "TIME": ["اليوم الخميس", "٢٣ آذار", "فجر الأحد", "الأسبوع الماضي"],
    "NUM": ["28", "٣", "72", "عشرات"],
}
CLITICS = ["و", "ب", "ل", "ف", "وب", "ول"]
EVENTS = [
    ("Conflict:Attack", ["قصفت", "استهدفت", "هاجمت"], [("Attacker", "ORG"), ("Place", "GPE"), ("Instrument", "WEA")]),
    ("Life:Die", ["قتل", "لقي حتفه"], [("Victim", "PER"), ("Place", "GPE")]),
    ("Justice:Arrest-Jail", ["اعتقلت", "أوقفت"], [("Agent", "ORG"), ("Person", "PER"), ("Time", "TIME")]),
    ("Contact:Meet", ["التقى", "اجتمع"], [("Entity", "PER"), ("Place", "GPE")]),
]


@dataclass
class SyntheticArticle:
    id: str
    title: str
    text: str
    result: list[dict[str, Any]]  # one annotation, Label Studio's format

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "text": self.text, "source": "synthetic", "url": f"https://example.org/{self.id}"}


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.result: list[dict[str, Any]] = []

    def add(self, piece: str) -> tuple[int, int]:
        start = self.length
        self.parts.append(piece)
        self.length += len(piece)
        return start, self.length

    def region(self, rid: str, control: str, label: str, span: tuple[int, int], text: str) -> None:
        self.result.append(
            {
                "id": rid,
                "from_name": control,
                "to_name": "text",
                "type": "labels",
                "value": {"start": span[0], "end": span[1], "text": text, "labels": [label]},
            }
        )


def _sentence(rng: random.Random, b: _Builder, n_words: int) -> None:
    for i in range(n_words):
        roll = rng.random()
        word = (
            rng.choice(DIACRITIZED) if roll < 0.06
            else rng.choice(TATWEEL) if roll < 0.09
            else rng.choice(EMOJI) if roll < 0.11
            else str(rng.randint(1, 999)) if roll < 0.14
            else rng.choice(WORDS)
        )
        b.add(word)
        b.add(rng.choice(PUNCT) + " " if rng.random() < 0.08 else " ")
    b.add(rng.choice([".", "؟", "."]) + ("\n\n" if rng.random() < 0.3 else " "))


def article(i: int, seed: int = 0) -> SyntheticArticle:
    """The i-th article of the corpus (deterministic)."""
    rng = random.Random(f"{seed}:{i}")
    b = _Builder()
    long = rng.random() < 0.02  # a few long articles, as in real news
    event_type, triggers, roles = rng.choice(EVENTS)
    _sentence(rng, b, rng.randint(5, 15))
    trigger = rng.choice(triggers)
    span = b.add(trigger)
    b.region("t0", "trigger", event_type, span, trigger)
    b.add(" ")
    for n, (role, kind) in enumerate(roles):
        clitic = rng.choice(CLITICS) if rng.random() < 0.3 else ""
        name = rng.choice(ENTITIES[kind])
        b.add(clitic)  # attached to the name: the entity starts inside the word
        span = b.add(name)
        b.region(f"e{n}", "entity", kind, span, name)
        b.result.append({"from_id": "t0", "to_id": f"e{n}", "type": "relation", "direction": "right", "labels": [role]})
        b.add(" " + rng.choice(WORDS) + " ")
    for _ in range(rng.randint(3, 8) * (40 if long else 1)):
        _sentence(rng, b, rng.randint(6, 20))
        if rng.random() < 0.3:
            kind = rng.choice(list(ENTITIES))
            name = rng.choice(ENTITIES[kind])
            span = b.add(name)
            b.region(f"x{len(b.result)}", "entity", kind, span, name)
            b.add(" ")
    b.add("النهاية.")
    text = "".join(b.parts)
    b.result.append({"id": "doc", "from_name": "on_topic", "to_name": "text", "type": "choices", "value": {"choices": ["conflict"]}})
    return SyntheticArticle(id=f"syn-{seed}-{i:06d}", title=f"خبر تجريبي رقم {i}", text=text, result=b.result)


# --- a corpus for the suggestion model: names made up, some never seen in training -----------

LETTERS = "بتثجحخدذرزسشصضطظعغفقكلمنهي"
# The contexts a name comes in: (before, the name's shape, after); ``{}`` is the made-up name, the
# words around it in the shape are part of the mention. Some cues are strong (مدينة, حركة), some
# are shared by kinds (أعلن/أعلنت, في) or missing, and the same cues also come before plain words.
NAME_CONTEXTS = {
    "PER": [("قال ", "{}", " إن الوضع خطير"), ("أعلن المتحدث ", "{}", " أمس"), ("التقى الوزير ", "{}", " في العاصمة"),
            ("صرح ", "{}", " للصحفيين"), ("", "{}", " قال إن القصف مستمر"), ("ونقل عن ", "{}", " أن")],
    "GPE": [("في مدينة ", "{}", " شمال البلاد"), ("وصل الوفد إلى ", "{}", " صباحا"), ("قرب بلدة ", "{}", " الحدودية"),
            ("في ", "{}", " أمس"), ("من ", "{}", " إلى الحدود"), ("سكان ", "{}", " نزحوا")],
    "ORG": [("أعلنت ", "حركة {}", " مسؤوليتها"), ("قال بيان ", "جبهة {}", " إن"), ("هاجم مقاتلو ", "جماعة {}", " موقعا"),
            ("أعلنت ", "{}", " أن"), ("ذكرت ", "وكالة {}", " للأنباء"), ("", "منظمة {}", " دعت إلى التهدئة")],
}
# Names with no cue at all, mid-sentence: found only if seen in training (or by their shape).
BARE = 0.15
# The same cues before words that name nothing.
DISTRACTORS = ["قال مسؤول إن", "في المنطقة أمس", "أعلنت الحكومة أن", "من الحدود إلى", "صرح مصدر للصحفيين", "سكان القرية نزحوا"]


_PIECES = sorted({w[k : k + 2] for w in WORDS for k in range(0, len(w) - 1) if "ال" not in w[k : k + 2]})


def made_up_name(rng: random.Random, held_out: bool) -> str:
    """A made-up word of pieces of real words (so its letters look like any word's); a stable quarter is held out."""
    while True:
        word = "".join(rng.choice(_PIECES) for _ in range(rng.randint(2, 3)))
        if (hashlib.sha256(word.encode("utf-8")).digest()[0] % 4 == 0) == held_out:
            return word


def news_article(i: int, seed: int = 0, held_out: bool = False) -> SyntheticArticle:
    """An article whose names are made up: never one a training article has when ``held_out``.

    Names come in contexts of varying help (a strong cue, a cue other kinds share, none), with a
    proclitic now and then (وب, ل) or the article ال, among sentences where the same cues come
    before plain words. A tagger finds a name it never saw only by that context and its shape.
    """
    rng = random.Random(f"news:{seed}:{i}:{held_out}")
    b = _Builder()
    for n in range(rng.randint(3, 7)):
        _sentence(rng, b, rng.randint(4, 10))
        for _ in range(rng.randint(0, 3)):  # words a tagger has not seen that name nothing: not every new word is a name
            b.add(rng.choice(WORDS) + " " + made_up_name(rng, held_out) + " ")
        if rng.random() < 0.5:
            b.add(rng.choice(DISTRACTORS) + " ")
        kind = rng.choice(list(NAME_CONTEXTS))
        before, shape, after = rng.choice(NAME_CONTEXTS[kind])
        if rng.random() < BARE:
            before, after = rng.choice(WORDS) + " ", " " + rng.choice(WORDS)
        name = made_up_name(rng, held_out)
        if kind == "PER":
            name += " " + made_up_name(rng, held_out)
        elif kind == "GPE" and rng.random() < 0.3:
            name = "ال" + name
        b.add(before)
        if not before and rng.random() < 0.3:
            b.add(rng.choice(["و", "ول", "وب"]))  # a proclitic on the mention's first word
        words = shape.format(name)
        span = b.add(words)
        b.region(f"e{n}", "entity", kind, span, words)
        b.add(after + " ")
        if rng.random() < 0.5:
            event_type, triggers, _ = rng.choice(EVENTS)
            trigger = rng.choice(triggers)
            span = b.add(trigger)
            b.region(f"t{n}", "trigger", event_type, span, trigger)
            b.add(" " + rng.choice(WORDS) + ". ")
    b.add("النهاية.")
    b.result.append({"id": "doc", "from_name": "on_topic", "to_name": "text", "type": "choices", "value": {"choices": ["conflict"]}})
    return SyntheticArticle(id=f"news-{seed}-{'h' if held_out else 't'}-{i:06d}", title=f"خبر رقم {i}", text="".join(b.parts), result=b.result)
