"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workstation.settings.base")
# Under ASGI each request's sync view may run on a different executor thread, and a persistent
# connection per thread is never reused: at 16 concurrent clients PostgreSQL ran out of
# connections (bench/web.py, "too many clients"). The web process closes its connection after
# each request unless DATABASE_CONN_MAX_AGE says otherwise; the SCP and workers keep theirs.
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from workstation.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
