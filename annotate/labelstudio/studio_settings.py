"""Label Studio's settings for the studio annotate runs without the guard (``studio.start(guard=False)``).

Django's way to extend a deployment: import the deployment's settings whole and add to
them. Nothing of Label Studio is copied or patched; annotate adds one middleware
(housekeeping: export files go with their exports and projects). ``guard_settings`` adds the guard on top.
"""

# The base first: Label Studio's settings read django.conf.settings while they load (its error reporting),
# which then sees this module half loaded, as it would see Label Studio's own.
from label_studio.core.settings.base import *  # noqa: F401,F403
from label_studio.core.settings.label_studio import *  # noqa: F401,F403
from label_studio.core.settings.label_studio import MIDDLEWARE

MIDDLEWARE = [*MIDDLEWARE, "annotate.labelstudio.housekeeping.ExportFiles"]
