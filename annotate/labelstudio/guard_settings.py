"""Label Studio's settings with annotate's studio guard: what ``DJANGO_SETTINGS_MODULE`` names for the embedded studio.

Django's way to extend a deployment: import the deployment's settings whole and add to
them. Nothing of Label Studio is copied or patched; the guard is one more middleware,
last, so that it sees the person every authentication (session, JWT) already found.
"""

# The base first: Label Studio's settings read django.conf.settings while they load (its error reporting),
# which then sees this module half loaded, as it would see Label Studio's own.
from label_studio.core.settings.base import *  # noqa: F401,F403
from label_studio.core.settings.label_studio import *  # noqa: F401,F403
from label_studio.core.settings.label_studio import MIDDLEWARE

MIDDLEWARE = [*MIDDLEWARE, "annotate.labelstudio.guard.TeamGuard"]
