"""Who annotated: one pseudonym per Label Studio user, everywhere annotate shows or exports one.

A pseudonym is a keyed hash of the user id. The key is random and kept with the
project's pulled data in ``annotators.json`` (readable by its owner only), which
also maps each pseudonym back to the Label Studio user: the project owner can
tell who is who, a reader of the dataset or of the agreement figures cannot (a
plain hash of small user ids could be reversed by trying them all).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from pathlib import Path
from typing import Any

from .errors import PulledDataError
from .files import write_json

MAPPING = "annotators.json"
UNKNOWN = "annotator-unknown"  # an annotation Label Studio stored without its user


class Pseudonyms:
    """The pseudonyms of one project, from the key in ``<pulled project folder>/annotators.json``."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / MAPPING
        data: dict[str, Any] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                bytes.fromhex(data["key"])
            except (ValueError, KeyError, TypeError) as exc:
                raise PulledDataError(
                    f"{self.path}: the annotators' key file is damaged ({type(exc).__name__}: {exc}).",
                    "Restore it from a backup: without it, the pseudonyms of new exports change.",
                ) from None
        self.key = str(data.get("key") or secrets.token_hex(32))
        self.known: dict[str, dict[str, Any]] = dict(data.get("annotators") or {})
        self.changed = not self.path.exists()

    def __call__(self, user_id: int | None) -> str:
        if user_id is None:
            return UNKNOWN
        digest = hmac.new(bytes.fromhex(self.key), str(user_id).encode(), hashlib.sha256).hexdigest()
        name = f"annotator-{digest[:10]}"
        if name not in self.known:
            self.known[name] = {"label_studio_user_id": user_id}
            self.changed = True
        return name

    def record_users(self, users: list[dict[str, Any]]) -> None:
        """Add what Label Studio says of each user (email, name) to the owner's mapping."""
        for user in users:
            if not isinstance(user.get("id"), int):
                continue
            entry = self.known.setdefault(self(user["id"]), {"label_studio_user_id": user["id"]})
            details = {k: user[k] for k in ("email", "first_name", "last_name", "username") if user.get(k)}
            if any(entry.get(k) != v for k, v in details.items()):
                entry.update(details)
                self.changed = True

    def save(self) -> None:
        """Write the key and the mapping (owner-only: the file is created with mode 600 and replaced atomically)."""
        if self.changed:
            write_json(self.path, {"key": self.key, "annotators": dict(sorted(self.known.items()))})
            self.path.chmod(0o600)
            self.changed = False
