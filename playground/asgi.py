"""ASGI entry point: `uvicorn playground.asgi:application`.

Besides HTTP and WebSocket it answers the ASGI lifespan protocol: at startup it routes event
broadcasts through the server's own loop, imports TensorFlow and, in embedded mode, starts the
in-process worker.
"""
from __future__ import annotations

import asyncio
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from playground.body_limit import BodyLimit  # noqa: E402
from playground.jobs import events  # noqa: E402
from playground.jobs.routing import websocket_urlpatterns  # noqa: E402
from playground.jobs.ws_auth import TokenOrSessionAuth  # noqa: E402
from trainer import import_tensorflow  # noqa: E402

# Bodies are limited before Django reads them (playground/body_limit.py); WebSocket frames by
# uvicorn's --ws-max-size.
router = ProtocolTypeRouter(
    {"http": BodyLimit(django_asgi_app), "websocket": TokenOrSessionAuth(URLRouter(websocket_urlpatterns))}
)


async def application(scope, receive, send):
    if scope["type"] != "lifespan":
        return await router(scope, receive, send)
    worker = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            events.use_loop(asyncio.get_running_loop())
            # Before any request or the embedded worker can import it from another thread
            # (trainer.import_tensorflow); off the loop, 4-6 s here, once per process.
            await asyncio.get_running_loop().run_in_executor(None, import_tensorflow)
            if settings.EMBEDDED_WORKER:
                from playground.embedded import EmbeddedWorker

                worker = EmbeddedWorker()
                worker.start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if worker is not None:
                await asyncio.get_running_loop().run_in_executor(None, worker.stop)
            events.use_loop(None)
            await send({"type": "lifespan.shutdown.complete"})
            return
