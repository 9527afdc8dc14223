"""A middleware annotate adds to the studio it runs: export files go when their export or project goes.

Label Studio 1.23 deletes an export snapshot's row but leaves its file in
``media/export/<project>/``; every full pull made one (8 MB for 5,000 tasks) and deleted it
through the API, so the studio's disk filled pull after pull. Deleting a project leaves its
folder of export files too.

A middleware, not a ``post_delete`` receiver: Label Studio deletes a project with every
signal disconnected and then puts the receivers back by assigning the list, which leaves
Django's per-sender cache empty for the models that deletion touched (exports among them),
so a receiver is never called again after the first project deletion.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import HttpRequest, HttpResponse

_PROJECT = re.compile(r"^/api/projects/(\d+)/?$")
_EXPORT = re.compile(r"^/api/projects/(\d+)/exports/(\d+)/?$")


def _export_files(project_id: int, export_id: int) -> list[str]:
    """The storage names of an export's file and of its converted formats."""
    from data_export.models import ConvertedFormat, Export  # Label Studio's app, loaded by the time requests come

    names = list(Export.objects.filter(id=export_id, project_id=project_id).values_list("file", flat=True))
    names += ConvertedFormat.objects.filter(export_id=export_id).values_list("file", flat=True)
    return [n for n in names if n]


class ExportFiles:
    """Once Label Studio answers the deletion of an export or a project with success, its files go too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "DELETE":
            return self.get_response(request)
        export = _EXPORT.match(request.path)
        files = _export_files(int(export.group(1)), int(export.group(2))) if export else []
        response = self.get_response(request)
        if not 200 <= response.status_code < 300:
            return response
        for name in files:
            default_storage.delete(name)
        project = _PROJECT.match(request.path)
        if project:
            shutil.rmtree(Path(settings.MEDIA_ROOT) / settings.DELAYED_EXPORT_DIR / project.group(1), ignore_errors=True)
        return response
