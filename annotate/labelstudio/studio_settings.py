"""Label Studio's settings for the studio annotate runs without the guard (``studio.start(guard=False)``).

Django's way to extend a deployment: import the deployment's settings whole and add to
them. Nothing of Label Studio is copied or patched; annotate adds one middleware
(housekeeping: export files go with their exports and projects) and turns on the switch
socketserver has for Nagle's algorithm in Django's development server. ``guard_settings`` adds
the guard on top.
"""

# The base first: Label Studio's settings read django.conf.settings while they load (its error reporting),
# which then sees this module half loaded, as it would see Label Studio's own.
from label_studio.core.settings.base import *  # noqa: F401,F403
from label_studio.core.settings.label_studio import *  # noqa: F401,F403
from label_studio.core.settings.label_studio import MIDDLEWARE

MIDDLEWARE = [*MIDDLEWARE, "annotate.labelstudio.housekeeping.ExportFiles"]

# Django's development server writes a response's headers and body apart; with Nagle's algorithm on,
# the body waits for the client's delayed ACK of the headers: 40 ms more on every request over a
# kept-alive connection (the editor's and annotate's alike). socketserver's own switch turns it off.
from django.core.servers.basehttp import WSGIRequestHandler  # noqa: E402

WSGIRequestHandler.disable_nagle_algorithm = True
