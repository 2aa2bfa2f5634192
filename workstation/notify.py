"""The only code that talks to the channel layer: typed worklist events for the browser."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

WORKLIST_GROUP = "worklist"

# One background thread per process sends the events, in order: a C-STORE answer or a
# signature never waits on Redis, and callers inside an event loop (ASGI) can publish too.
_sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="worklist-events")


class StudyEvent(TypedDict):
    type: Literal["study.event"]
    event: str  # received | completed | drafted | draft_failed | claimed | assigned | signed
    study_uid: str
    status: str


def study_event_on_commit(*, event: str, study_uid: str, status: str) -> None:
    """Publish once the current transaction commits (never for a rolled-back change).

    Best effort, in the background: a channel-layer failure is logged and never turns a
    committed change (a stored instance, a signature) into an error; open worklists also poll.
    """
    from django.db import transaction

    transaction.on_commit(
        lambda: _sender.submit(_publish_logged, event, study_uid, status), robust=True
    )


def _publish_logged(event: str, study_uid: str, status: str) -> None:
    try:
        study_event_publish(event=event, study_uid=study_uid, status=status)
    except Exception as exc:  # redis/channels raise transport-specific errors
        logger.warning("worklist event %s for %s not sent: %s", event, study_uid, exc)


def study_event_publish(*, event: str, study_uid: str, status: str) -> None:
    """Tell every open worklist that a study changed (best effort: the page also polls)."""
    layer = get_channel_layer()
    if layer is None:
        return
    message: StudyEvent = {
        "type": "study.event",
        "event": event,
        "study_uid": study_uid,
        "status": status,
    }
    async_to_sync(layer.group_send)(WORKLIST_GROUP, message)
