"""What can go wrong with a report, each with the HTTP status the API answers."""

from __future__ import annotations

import datetime as dt


class ReportError(Exception):
    http_status = 409

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.audited = False  # set by a service that already wrote the refusal's audit row


class StaleVersion(ReportError):
    """The save was based on a version that is no longer the newest."""

    http_status = 409

    def __init__(self, *, latest_number: int, author: str, created_at: dt.datetime) -> None:
        super().__init__(
            f"version {latest_number} was saved by {author or 'the AI'} at "
            f"{created_at.isoformat()}; reload it and apply your changes again"
        )
        self.latest_number = latest_number
        self.author = author
        self.created_at = created_at


class ReportClaimed(ReportError):
    """Another radiologist holds the report (423 Locked)."""

    http_status = 423

    def __init__(self, *, holder: str, expires_at: dt.datetime) -> None:
        super().__init__(
            f"{holder} is working on this report until {expires_at.isoformat()} "
            "(the claim lapses if they stop saving)"
        )
        self.holder = holder
        self.expires_at = expires_at


class ReportStateError(ReportError):
    """The action does not fit the report's state (editing after signing, signing twice...)."""

    http_status = 409


class InvalidContent(ReportError):
    """The request itself is unusable (an empty report to sign, an empty addendum)."""

    http_status = 400


class NotAllowed(ReportError):
    """The user's role does not allow the action, or re-authentication failed (403)."""

    http_status = 403


class IntegrityFailure(ReportError):
    """Stored content no longer matches its recorded SHA-256: exports are refused."""

    http_status = 409
