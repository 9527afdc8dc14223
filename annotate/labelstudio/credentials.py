"""The embedded studio's credentials: the owner's login, password and token, and its database choice,
in an owner-only file of the studio home; never printed whole, nor in a repr.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import postgres
from ..errors import StudioError
from .servers import HOST, home_paths, url_host


@dataclass(frozen=True)
class Credentials:
    """The embedded studio's login and token; stored owner-only, never printed whole (nor in a repr).

    Fields after ``port`` came later: a file without them is a studio made on SQLite, on 127.0.0.1.
    """

    email: str
    password: str = field(repr=False)
    token: str = field(repr=False)
    port: int
    host: str = HOST  # the address it was last started on
    # What its data was made with: "sqlite", "postgresql" (the private cluster) or a URL, its password
    # included (this file is owner-only); "" until a first start succeeded.
    database: str = field(default=postgres.SQLITE, repr=False)
    postgres_password: str = field(default="", repr=False)  # the private cluster's, made with it

    @property
    def url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}"

    def secret_values(self) -> list[str]:
        """Every secret in here, for scrubbing a log excerpt."""
        found = [self.token, self.password, self.postgres_password]
        if self.database.lower().startswith(postgres.URL_SCHEMES):
            found.append(postgres.from_url(self.database).password)
        return [s for s in found if s]



def credentials_path(root: Path) -> Path:
    """The owner-only file with the login, password and token of the studio in ``root``."""
    return home_paths(root)["credentials"]


def private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def load_credentials(root: Path) -> Credentials | None:
    path = home_paths(root)["credentials"]
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        creds = Credentials(
            email=data["email"],
            password=data["password"],
            token=data["token"],
            port=int(data["port"]),
            host=str(data.get("host", HOST)),
            database=str(data.get("database", postgres.SQLITE)),
            postgres_password=str(data.get("postgres_password", "")),
        )
        ipaddress.ip_address(creds.host)  # a hand-edited address is damage, not something to bind
        return creds
    except (OSError, ValueError, KeyError, TypeError):
        raise StudioError(
            f"{path}: the credentials file is damaged. Stop the studio, delete {root} to start afresh"
            " (this deletes the embedded studio's projects), or restore the file."
        ) from None


def save_credentials(root: Path, creds: Credentials) -> None:
    path = home_paths(root)["credentials"]
    private_dir(root)
    # Created owner-only from the start: the token is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(asdict(creds), f, indent=2)
    os.chmod(path, 0o600)


def new_credentials(port: int) -> Credentials:
    return Credentials(
        email="annotator@annotate.local",
        password=secrets.token_urlsafe(18),
        token=secrets.token_hex(20),
        port=port,
        database="",  # chosen by the first start that succeeds
    )


