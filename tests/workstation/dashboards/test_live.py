"""workstation.dashboards.live: concurrent requests on a cold cache share one refresh of
the broker figures and all return (they once ran kombu's connection pool dry and hung)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache

from workstation.dashboards import live


def test_concurrent_requests_on_a_cold_cache_share_one_refresh_and_all_return(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache.delete(f"dashboards:live:{settings.DRAFT_QUEUE}")
    pings: list[int] = []
    real_ping = live.workers_ping

    def counted_ping(timeout: float = live.PING_TIMEOUT_S) -> tuple[str, ...]:
        pings.append(1)
        return real_ping(timeout)  # a real broadcast over the real broker

    monkeypatch.setattr(live, "workers_ping", counted_ping)
    results: list[Any] = []
    barrier = threading.Barrier(16)

    def request() -> None:
        barrier.wait()
        results.append(live.live_status())

    threads = [threading.Thread(target=request, daemon=True) for _ in range(16)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))

    assert not any(thread.is_alive() for thread in threads), "a request hung"
    assert len(results) == 16 and len(pings) == 1
    assert all(status == results[0] for status in results)
    assert results[0].queue == settings.DRAFT_QUEUE and results[0].queue_depth is not None
