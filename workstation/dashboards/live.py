"""Live figures that are not in the database: the drafting queue's depth (Redis) and which
Celery workers answer a ping. Both are bounded in time and cached for a few seconds, so a
dashboard refresh never waits on a slow broker for long.

One thread per process refreshes them; the others wait for it and read its result. Without
that, concurrent requests on a cold cache (16 dashboard clients under ASGI) each took a
broker connection from kombu's pool for a broadcast ping and then waited for a second one
for its producer: the pool ran dry and every request hung (found by ``bench.web``)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from kombu.exceptions import ChannelError, OperationalError

logger = logging.getLogger(__name__)

PING_TIMEOUT_S = 0.5
LIVE_CACHE_S = 10
_refreshing = threading.Lock()  # one refresh at a time in this process


@dataclass(frozen=True)
class LiveStatus:
    queue: str
    queue_depth: int | None  # None: the broker did not answer
    workers: tuple[str, ...]  # names of workers that answered the ping
    error: str

    def as_json(self) -> dict[str, object]:
        return {
            "queue": self.queue,
            "queue_depth": self.queue_depth,
            "workers": list(self.workers),
            "worker_count": len(self.workers),
            "error": self.error,
        }


def queue_depth(queue: str) -> int:
    """Messages waiting in ``queue`` (all Redis priority lists kombu keeps for it).

    Raises ``OperationalError`` when the broker is unreachable."""
    from workstation.celery import app

    with app.connection_for_read() as conn:
        channel: Any = conn.default_channel
        try:
            return int(channel.queue_declare(queue=queue, passive=True).message_count)
        except ChannelError:
            return 0  # kombu's Redis transport has no key for an empty queue


def workers_ping(timeout: float = PING_TIMEOUT_S) -> tuple[str, ...]:
    """Names of the Celery workers that answered within ``timeout`` seconds."""
    from workstation.celery import app

    replies = app.control.inspect(timeout=timeout).ping() or {}
    return tuple(sorted(replies))


def live_status() -> LiveStatus:
    """Queue depth of ``settings.DRAFT_QUEUE`` and worker status, cached for a few seconds."""
    key = f"dashboards:live:{settings.DRAFT_QUEUE}"
    cached = cache.get(key)
    if isinstance(cached, LiveStatus):
        return cached
    with _refreshing:
        cached = cache.get(key)  # refreshed by the thread this one waited for
        if isinstance(cached, LiveStatus):
            return cached
        queue = settings.DRAFT_QUEUE
        try:
            status = LiveStatus(queue, queue_depth(queue), workers_ping(), "")
        except (OperationalError, OSError) as exc:
            logger.warning("dashboards: broker unavailable: %s", exc)
            status = LiveStatus(queue, None, (), f"broker unavailable: {exc}")
        cache.set(key, status, LIVE_CACHE_S)
    return status
