"""A Django app annotate adds to the studio it runs: export files go when their export goes.

Label Studio 1.23 deletes an export snapshot's row but leaves its file in
``media/export/<project>/``; every full pull made one (8 MB for 5,000 tasks) and deleted it
through the API, so the studio's disk filled pull after pull. This app removes the file of
each export, and of each converted format, once its deletion commits, whoever deleted it
(pull, the data manager); a project's deletion, which Label Studio makes with every signal
disconnected, takes its folder of export files with it (``ProjectExportFiles``).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete
from django.http import HttpRequest, HttpResponse

_PROJECT = re.compile(r"^/api/projects/(\d+)/?$")


def _remove_file(sender: type, instance: Any, **kwargs: Any) -> None:
    file = getattr(instance, "file", None)
    if not file or not file.name:
        return
    storage, name = file.storage, file.name
    # After the commit: a deletion rolled back keeps its file.
    transaction.on_commit(lambda: storage.delete(name))


class Housekeeping(AppConfig):
    name = "annotate.labelstudio.housekeeping"
    label = "annotate_housekeeping"
    verbose_name = "annotate: housekeeping"

    def ready(self) -> None:
        from data_export.models import ConvertedFormat, Export  # Label Studio's app, importable once apps load

        for model in (Export, ConvertedFormat):
            post_delete.connect(_remove_file, sender=model, dispatch_uid=f"annotate-remove-file-{model.__name__}")


class ProjectExportFiles:
    """Middleware: once Label Studio answers a project's deletion with success, its export files go too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        found = _PROJECT.match(request.path) if request.method == "DELETE" else None
        if found and 200 <= response.status_code < 300:
            folder = Path(settings.MEDIA_ROOT) / settings.DELAYED_EXPORT_DIR / found.group(1)
            shutil.rmtree(folder, ignore_errors=True)
        return response
