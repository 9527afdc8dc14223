"""Projects: listed, found by exact title, created, configured, deleted."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigRejected, ProjectError, RequestRejected
from ..models import Project
from .http import SETTLE_WAITS, Http


# The fields ``Project`` is read from. Asked for by name, Label Studio counts only task_number, not its
# seven other counts (about half a second a request at 150,000 tasks), and sends only these.
PROJECT_FIELDS = "id,title,label_config,task_number,maximum_annotations,created_at"


class Projects(Http):
    """Projects: listed, found by exact title, created, configured, deleted."""

    def _project(self, body: Any, path: str = "/api/projects/") -> Project:
        try:
            return Project(
                id=int(body["id"]),
                title=str(body.get("title") or ""),
                label_config=str(body.get("label_config") or ""),
                task_number=int(body.get("task_number") or 0),
                maximum_annotations=int(body.get("maximum_annotations") or 1),
                created_at=str(body.get("created_at") or ""),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise self.nonsense("GET", path, body) from None

    def list_projects(self, title: str | None = None) -> list[Project]:
        """All projects, or those whose title contains ``title`` (Label Studio filters case-insensitively)."""
        projects: list[Project] = []
        page = 1
        while True:
            params: dict[str, Any] = {"page": page, "page_size": 100, "include": PROJECT_FIELDS}
            if title:
                params["title"] = title
            body = self._call("GET", "/api/projects/", "list projects", params=params)
            results = body.get("results") if isinstance(body, dict) else body
            if not isinstance(results, list):
                raise self.nonsense("GET", "/api/projects/", body)
            projects.extend(self._project(p) for p in results)
            if not isinstance(body, dict) or not body.get("next"):
                return projects
            page += 1

    def projects_titled(self, title: str) -> list[Project]:
        """The projects with exactly this title (Label Studio's own filter also matches parts of titles)."""
        return [p for p in self.list_projects(title=title) if p.title == title]

    def find_project(self, title: str) -> Project | None:
        """The project with exactly this title; two of them is an error, since pushing to either could be wrong.

        Two are first looked at again a few times: pushes that created a project at the
        same moment delete all but one of them within a round trip (push's ``resolve_title``).
        """
        return self._find_listed(title)[0]

    def _find_listed(self, title: str) -> tuple[Project | None, list[Project]]:
        """``find_project``, and the listing it was found in: every project whose title holds ``title``."""
        for wait in (*SETTLE_WAITS, None):
            listed = self.list_projects(title=title)
            matches = [p for p in listed if p.title == title]
            if len(matches) <= 1:
                return (matches[0] if matches else None), listed
            if wait is not None:
                time.sleep(wait)
        ids = ", ".join(str(p.id) for p in sorted(matches, key=lambda p: p.id))
        raise ProjectError(
            f"{len(matches)} Label Studio projects are titled {title!r} (ids {ids}); rename all but one in Label Studio."
        )

    def project_titled(self, title: str) -> Project:
        """``find_project`` for a project that must exist (pull, adjudicate)."""
        return self.project_listed(title)[0]

    def project_listed(self, title: str) -> tuple[Project, list[Project]]:
        """``project_titled``, and every project the same listing found: those whose title holds ``title`` (a team
        project's queues, review and roster among them), for the caller that needs them too."""
        project, listed = self._find_listed(title)
        if project is None:
            raise ProjectError(f"Label Studio has no project titled {title!r}.", "Check --project, or push articles first.")
        return project, listed

    def get_project(self, project_id: int) -> Project:
        path = f"/api/projects/{project_id}/"
        return self._project(self._call("GET", path, f"read project {project_id}", params={"include": PROJECT_FIELDS}), path)

    def project_counts(self, project_id: int) -> tuple[int, int, int]:
        """A project's live counts, counted by Label Studio when asked: tasks, annotations (not skipped), skipped annotations."""
        fields = ("task_number", "total_annotations_number", "skipped_annotations_number")
        path = f"/api/projects/{project_id}/"
        body = self._call("GET", path, f"count the tasks of project {project_id}", params={"include": ",".join(fields)}, expect=dict)
        values = [body.get(f) for f in fields]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise self.nonsense("GET", path, {f: body.get(f) for f in fields})
        return values[0], values[1], values[2]

    def projects_counts(self, project_ids: Sequence[int]) -> dict[int, tuple[int, int, int]]:
        """``project_counts`` of several projects in one request (of those that exist)."""
        fields = ("task_number", "total_annotations_number", "skipped_annotations_number")
        counts: dict[int, tuple[int, int, int]] = {}
        page = 1
        while project_ids:
            params = {"ids": ",".join(str(i) for i in project_ids), "include": ",".join(("id", *fields)), "page": page, "page_size": 100}
            body = self._call("GET", "/api/projects/", "count the tasks of projects", params=params, expect=dict)
            results = body.get("results")
            if not isinstance(results, list):
                raise self.nonsense("GET", "/api/projects/", body)
            for project in results:
                values = [project.get(f) for f in ("id", *fields)] if isinstance(project, dict) else [None]
                if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                    raise self.nonsense("GET", "/api/projects/", project)
                counts[values[0]] = (values[1], values[2], values[3])
            if not body.get("next"):
                break
            page += 1
        return counts

    def create_project(self, title: str, **fields: Any) -> Project:
        body = self._call("POST", "/api/projects/", f"create project {title!r}", json={"title": title, **fields})
        return self._project(body)

    def update_project(self, project_id: int, **fields: Any) -> Project:
        """Change project settings.

        A new labelling config is first checked the way Label Studio's own editor
        does (strictly, against existing annotations and drafts): the PATCH alone
        would accept a config that orphans annotated labels. A refusal raises
        ``ConfigRejected`` with Label Studio's reason.
        """
        if "label_config" in fields:
            try:
                self._call(
                    "POST",
                    f"/api/projects/{project_id}/validate/",
                    f"accept the new labelling config of project {project_id}",
                    json={"label_config": fields["label_config"]},
                    retry=True,
                )
            except RequestRejected as exc:
                raise ConfigRejected(
                    exc.message,
                    "Existing annotations use labels the new schema removes. Keep those labels in the schema,"
                    " or change the annotations in Label Studio first.",
                    status=exc.status,
                ) from None
        body = self._call("PATCH", f"/api/projects/{project_id}/", f"update project {project_id}", json=fields)
        return self._project(body)

    def validate_config(self, label_config: str) -> None:
        """Ask Label Studio whether it accepts a labelling config (raises ``ConfigRejected`` if not)."""
        try:
            self._call("POST", "/api/projects/validate/", "accept the labelling config", json={"label_config": label_config})
        except RequestRejected as exc:
            raise ConfigRejected(exc.message, status=exc.status) from None

    def delete_project(self, project_id: int) -> None:
        self._call("DELETE", f"/api/projects/{project_id}/", f"delete project {project_id}")

    def project_description(self, project_id: int) -> str:
        """A project's description as stored (push marks the projects it creates there until it settles on one)."""
        body = self._call("GET", f"/api/projects/{project_id}/", f"read project {project_id}")
        return str(body.get("description") or "")
