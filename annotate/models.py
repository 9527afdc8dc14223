"""Plain typed models shared by every stage.

They carry data only; reading, checking and writing them is the job of the
stage modules (ingest, schema, push, ...).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Problem:
    """One finding of a check: what is wrong, where, and how bad."""

    code: str
    location: str
    message: str
    severity: Severity = "error"
    article_id: str | None = None
    annotation_id: int | None = None
    region_id: str | None = None

    def __str__(self) -> str:
        return f"{self.location}: {self.message} [{self.code}]"


# --- articles ---------------------------------------------------------------


def content_hash(text: str) -> str:
    """What identifies an article's text: push compares it, validate checks offsets still refer to it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Article:
    """One news article as it is annotated. Offsets of annotations refer to ``text``."""

    id: str
    title: str
    text: str
    content_hash: str
    origin: str  # where it was read from: "path" or "path:line"
    url: str | None = None
    published_at: str | None = None
    source: str | None = None
    version: int = 1
    cleaning: tuple[str, ...] = ()  # names of the ingest rules that changed this article


# --- schema -----------------------------------------------------------------


@dataclass(frozen=True)
class EntityType:
    name: str  # stored in annotations and exports, e.g. "PER"
    ar: str  # Arabic display name shown to annotators
    description: str
    color: str
    hotkey: str | None = None
    kind: Literal["entity", "value"] = "entity"


@dataclass(frozen=True)
class Role:
    name: str  # e.g. "Attacker"
    ar: str
    types: tuple[str, ...]  # entity/value types this role may take
    description: str = ""
    max: int | None = None  # most arguments with this role per event mention (None: any number)


@dataclass(frozen=True)
class EventType:
    name: str  # e.g. "Conflict:Attack"
    ar: str
    description: str
    color: str
    roles: tuple[Role, ...]
    hotkey: str | None = None

    def role(self, name: str) -> Role | None:
        return next((r for r in self.roles if r.name == name), None)


@dataclass(frozen=True)
class Choice:
    name: str
    ar: str


@dataclass(frozen=True)
class DocumentField:
    """A question about the whole article, e.g. whether it is on topic."""

    name: str
    ar: str
    description: str
    kind: Literal["single", "multiple", "text"]
    choices: tuple[Choice, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class Policy:
    """How regions may relate to each other; validation enforces it."""

    allow_overlap: bool = True  # entity spans may cross each other
    allow_nested: bool = True  # an entity inside another ("وزارة الدفاع الأمريكية" ⊃ "الأمريكية")
    labels_per_region: int = 1


@dataclass(frozen=True)
class Schema:
    name: str
    version: str
    description: str
    entities: tuple[EntityType, ...]
    events: tuple[EventType, ...]
    document: tuple[DocumentField, ...] = ()
    policy: Policy = field(default_factory=Policy)
    instructions: str = ""
    path: str = ""  # the file it was read from
    sha256: str = ""  # hash of the file's bytes, recorded with every push and export

    def entity(self, name: str) -> EntityType | None:
        return next((e for e in self.entities if e.name == name), None)

    def event(self, name: str) -> EventType | None:
        return next((e for e in self.events if e.name == name), None)

    @property
    def role_names(self) -> tuple[str, ...]:
        """Every role of every event type, once, in schema order."""
        seen: dict[str, None] = {}
        for event in self.events:
            for role in event.roles:
                seen.setdefault(role.name, None)
        return tuple(seen)


# --- Label Studio -----------------------------------------------------------


@dataclass(frozen=True)
class Project:
    id: int
    title: str
    label_config: str
    task_number: int = 0
    maximum_annotations: int = 1  # annotators wanted per task (Label Studio's overlap)
    created_at: str = ""  # as Label Studio sends it (to the microsecond): with the id, names the project at any address


@dataclass(frozen=True)
class TaskRef:
    """What push needs to know of a task already in Label Studio."""

    id: int
    article_id: str | None
    version: int
    content_hash: str | None


Listed = tuple[str | None, int, int]  # a task as Label Studio lists it: updated_at, annotations, skipped annotations
Who = tuple[str | None, tuple[int, ...]]  # a task's article id, and the authors of its annotations (skips too)


@dataclass(frozen=True)
class ServerInfo:
    url: str
    version: str
    time: datetime | None = None  # the server's clock when it answered (its Date header, to the second)


# --- annotations (what comes back from Label Studio) ----------------------------


@dataclass(frozen=True)
class EntityMention:
    id: str  # the Label Studio region id
    type: str  # schema entity/value type
    start: int  # character offsets into Article.text (code points)
    end: int
    text: str


@dataclass(frozen=True)
class Argument:
    role: str
    entity_id: str  # id of an EntityMention of the same annotation


@dataclass(frozen=True)
class EventMention:
    id: str  # the trigger region's id
    type: str  # schema event type
    start: int  # the trigger's offsets
    end: int
    text: str
    arguments: tuple[Argument, ...] = ()


@dataclass(frozen=True)
class Annotation:
    """One annotator's submitted work on one article, read into the schema's terms."""

    id: int
    task_id: int
    article_id: str
    article_version: int
    annotator: int | None  # Label Studio user id (exports turn it into a pseudonym)
    created_at: str | None
    updated_at: str | None
    lead_time: float | None
    ground_truth: bool
    cancelled: bool
    entities: tuple[EntityMention, ...] = ()
    events: tuple[EventMention, ...] = ()
    document: dict[str, Any] = field(default_factory=dict)  # field name -> choice name(s) or text
    parent_prediction: int | None = None  # the prediction (pre-annotation) the editor started it from, if any


# --- validation ---------------------------------------------------------------

# What became of a pulled annotation; "misplaced": made outside its author's place in a team project (see store.Places).
Status = Literal["kept", "repaired", "rejected", "cancelled", "misplaced"]


@dataclass
class Counts:
    pulled: int = 0
    kept: int = 0  # valid as pulled
    repaired: int = 0  # kept after reported repairs
    rejected: int = 0
    cancelled: int = 0
    misplaced: int = 0  # never a vote nor gold, whatever it holds

    def add(self, status: Status) -> None:
        self.pulled += 1
        setattr(self, status, getattr(self, status) + 1)

    def merge(self, later: Counts) -> None:
        """Add what ``later`` counted (of other annotations: a second process's)."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(later, f.name))

    @property
    def balanced(self) -> bool:
        return self.pulled == self.kept + self.repaired + self.rejected + self.cancelled + self.misplaced



# --- export ------------------------------------------------------------------

Format = Literal["hf", "conll", "brat", "jsonl", "wojood", "textee", "spacy"]
Unit = Literal["document", "sentence"]
FORMATS: tuple[Format, ...] = ("hf", "conll", "brat", "jsonl", "wojood", "textee", "spacy")
UNITS: tuple[Unit, ...] = ("document", "sentence")
SPLITS = ("train", "validation", "test")
# How a gold mention or trigger came (``model suggest``): by hand, as a model suggested it, or a suggestion changed.
ORIGINS = ("manual", "suggested", "suggested-edited")
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class ExportConfig:
    """How an export is made; the CLI's defaults are these (and the card records them)."""

    format: Format = "hf"
    unit: Unit = "document"
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train, validation, test: by a hash of the text
    seed: int = 13
    threshold: float = DEFAULT_THRESHOLD  # majority merge: the share of annotators that keeps a mention
    repair: bool = True  # make validate's certain repairs, as `validate` does unless --no-repair
    overwrite: bool = False


# --- team (who annotates and who reviews) ---------------------------------------

MemberStatus = Literal["created", "adopted", "updated", "unchanged"]


@dataclass(frozen=True)
class Member:
    """One person of the team: a Label Studio account of the organization, and whether they review."""

    email: str  # lower case, as Label Studio stores it
    user_id: int
    reviewer: bool = False  # Label Studio's free edition has no roles: annotate records this itself


@dataclass(frozen=True)
class NewMember:
    """What adding one email did. ``password`` is set only for an account just created, and is shown once."""

    member: Member
    status: MemberStatus  # created: new account; adopted: existing account joined the team; updated: reviewer flag changed
    password: str | None = field(default=None, repr=False)  # never in a repr, so never in a log by accident
    note: str = ""  # something the owner should know (e.g. an adopted account that never logged in)


@dataclass(frozen=True)
class Team:
    """The roster: who annotates and who reviews, as stored in Label Studio (see ``annotate.team``)."""

    members: tuple[Member, ...] = ()

    def member(self, email: str) -> Member | None:
        wanted = email.strip().lower()
        return next((m for m in self.members if m.email == wanted), None)

    @property
    def reviewers(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.reviewer)

    @property
    def annotators(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if not m.reviewer)
