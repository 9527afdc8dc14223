"""Label Studio's settings with annotate's studio guard: what ``DJANGO_SETTINGS_MODULE`` names for the embedded studio.

``studio_settings`` (Label Studio's own, plus housekeeping) and one more middleware, last, so
that it sees the person every authentication (session, JWT) already found.
"""

# The base first, here too: Label Studio's settings read django.conf.settings while they load,
# which then sees this module half loaded (see studio_settings).
from label_studio.core.settings.base import *  # noqa: F401,F403
from annotate.labelstudio.studio_settings import *  # noqa: F401,F403
from annotate.labelstudio.studio_settings import MIDDLEWARE

MIDDLEWARE = [*MIDDLEWARE, "annotate.labelstudio.guard.TeamGuard"]
