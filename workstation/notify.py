"""The only code that talks to the channel layer: typed worklist events for the browser."""

from __future__ import annotations

from typing import Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

WORKLIST_GROUP = "worklist"


class StudyEvent(TypedDict):
    type: Literal["study.event"]
    event: str  # received | completed | drafted | claimed | signed
    study_uid: str
    status: str


def study_event_on_commit(*, event: str, study_uid: str, status: str) -> None:
    """Publish once the current transaction commits (never for a rolled-back change).

    Robust: a channel-layer failure is logged and never turns a committed change (a stored
    instance, a signature) into an error for its caller; open worklists also poll.
    """
    from django.db import transaction

    transaction.on_commit(
        lambda: study_event_publish(event=event, study_uid=study_uid, status=status),
        robust=True,
    )


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
