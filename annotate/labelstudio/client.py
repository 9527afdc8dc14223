"""The one door to Label Studio: every HTTP request of the tool goes through ``LabelStudioClient``.

It returns typed models, retries what is safe to retry, and maps HTTP failures
to the tool's own exceptions. The token never appears in a message or a log. One
class per resource (``projects``, ``tasks``, ``exports``, ``users``, ``predictions``) on
one HTTP core (``http``); sign-up and session logins are in ``sessions``.
"""

from __future__ import annotations

from .exports import Exports
from .http import (  # noqa: F401  (the settings callers and tests read here)
    BULK_TIMEOUT,
    CONNECT_TIMEOUT,
    ID_QUERY_BYTES,
    LEGACY_DISABLED_HINT,
    READ_TIMEOUT,
    RETRY_STATUSES,
    SETTLE_WAITS,
    TIMEOUT_RETRIES,
    id_chunks,
    is_personal_access_token,
)
from .predictions import Predictions
from .projects import Projects
from .tasks import Tasks
from .users import Users


class LabelStudioClient(Projects, Tasks, Exports, Users, Predictions):
    """A session with one Label Studio server: every resource, one connection."""
