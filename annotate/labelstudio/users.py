"""The server and its people: version, who the token is, users, tokens and the invitation link."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

from ..errors import LabelStudioError
from ..models import ServerInfo
from .http import Http


class Users(Http):
    """The server and its people: version, who the token is, users, tokens and the invitation link."""

    def list_users(self) -> list[dict[str, Any]]:
        """The users of the organisation (id, email, names): pull keeps them in the owner's pseudonym mapping."""
        body = self._call("GET", "/api/users/", "list users")
        users = body.get("results") if isinstance(body, dict) else body
        if not isinstance(users, list):
            raise self.nonsense("GET", "/api/users/", body)
        return [u for u in users if isinstance(u, dict)]

    def server_info(self) -> ServerInfo:
        """The server's version, and its clock (pull lists what changed since its last listing, by the server's time)."""
        body, response = self._answer("GET", "/api/version", "read its version", expect=dict)
        package = body.get("label-studio-os-package")
        version = body.get("release") or (package.get("version") if isinstance(package, dict) else None) or "unknown"
        try:
            when = parsedate_to_datetime(response.headers["date"])
        except (KeyError, TypeError, ValueError, IndexError):
            when = None
        return ServerInfo(url=self.url, version=str(version), time=when if when is not None and when.tzinfo else None)

    def whoami(self) -> dict[str, Any]:
        """The user the token belongs to; also the cheapest check that the token works."""
        body = self._call("GET", "/api/current-user/whoami", "identify the token's user", expect=dict)
        if not isinstance(body.get("id"), int):
            raise self.nonsense("GET", "/api/current-user/whoami", body)
        return body

    def create_user(self, email: str, first_name: str = "", last_name: str = "") -> int:
        """Add a user to the organization (an annotator); returns the user id."""
        body = self._call(
            "POST", "/api/users/", f"create the user {email}",
            json={"email": email, "username": email, "first_name": first_name, "last_name": last_name},
            retry=False,
        )
        return int(body["id"])

    def set_token_settings(self, *, legacy: bool, personal: bool = True) -> dict[str, Any]:
        return self._call(
            "POST",
            "/api/jwt/settings",
            "change the API token settings",
            json={"legacy_api_tokens_enabled": legacy, "api_tokens_enabled": personal},
        )

    def create_personal_access_token(self) -> str:
        body = self._call("POST", "/api/token/", "create a personal access token", retry=False)
        return str(body["token"])

    def invite_token(self) -> str:
        """The organization's invitation token (what the invite link carries): whoever holds it may sign up."""
        body = self._call("GET", "/api/invite", "read the organization's invitation link")
        token = body.get("token") if isinstance(body, dict) else None
        if not token:
            raise LabelStudioError(f"Label Studio at {self.url} gave no invitation token (GET /api/invite).")
        return str(token)
