"""Pseudonymous ids and date shifts for one export, keyed by the export's secret salt.

Every value is an HMAC-SHA256 of the real identifier under the salt, so the same input maps
to the same output within an export (and across exports that reuse the salt), and nothing
maps back without the salt. The salt lives in memory (or in a file the caller keeps); it is
never written into the export. Imports no Django.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable

SALT_BYTES = 32

#: MIMIC-CXR-style 8-digit ids: subjects 10000000..99999999, studies 50000000..59999999 in
#: MIMIC; here both use the full 8-digit range above their base.
SUBJECT_BASE, SUBJECT_SPAN = 10_000_000, 90_000_000
STUDY_BASE, STUDY_SPAN = 50_000_000, 50_000_000

#: Dates move back by this many whole days (dicognito's own range), so times of day and
#: intervals between one patient's studies are kept exactly.
SHIFT_MIN_DAYS, SHIFT_MAX_DAYS = 62, 730


def salt_new() -> bytes:
    """A fresh random salt (``SALT_BYTES`` bytes)."""
    return secrets.token_bytes(SALT_BYTES)


class Pseudonyms:
    """The pseudonym table of one export.

    Ids are 8-digit integers drawn from an HMAC; the rare collision of two real ids on one
    pseudo id is resolved by re-hashing with a counter, so the table stays one-to-one (it is
    deterministic for a given salt and order of first use).
    """

    def __init__(self, *, salt: bytes) -> None:
        if len(salt) < 16:
            raise ValueError("the export salt must be at least 16 bytes")
        self._salt = salt
        self._subjects = _Table(self._digest, "subject", SUBJECT_BASE, SUBJECT_SPAN)
        self._studies = _Table(self._digest, "study", STUDY_BASE, STUDY_SPAN)

    def _digest(self, purpose: str, value: str) -> bytes:
        return hmac.new(self._salt, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()

    def subject(self, patient_key: str) -> int:
        """The pseudo subject id of a patient (``patient_key``: issuer and patient id)."""
        return self._subjects.get(patient_key)

    def study(self, study_uid: str) -> int:
        """The pseudo study id of a Study Instance UID."""
        return self._studies.get(study_uid)

    def dicom(self, sop_uid: str) -> str:
        """The pseudo dicom id of a SOP Instance UID: 5 groups of 8 hex digits (160 bits)."""
        hexed = self._digest("dicom", sop_uid).hex()[:40]
        return "-".join(hexed[i : i + 8] for i in range(0, 40, 8))

    def date_shift_days(self, patient_key: str) -> int:
        """How many days this patient's dates move back: ``SHIFT_MIN_DAYS..SHIFT_MAX_DAYS``."""
        number = int.from_bytes(self._digest("date-shift", patient_key)[:8], "big")
        return SHIFT_MIN_DAYS + number % (SHIFT_MAX_DAYS - SHIFT_MIN_DAYS + 1)

    def anonymizer_seed(self) -> str:
        """The seed of the export's dicognito Anonymizer (UID and fake-value mapping)."""
        return self._digest("dicognito-seed", "").hex()


class _Table:
    def __init__(
        self, digest: Callable[[str, str], bytes], purpose: str, base: int, span: int
    ) -> None:
        self._digest, self._purpose, self._base, self._span = digest, purpose, base, span
        self._forward: dict[str, int] = {}
        self._taken: set[int] = set()

    def get(self, key: str) -> int:
        known = self._forward.get(key)
        if known is not None:
            return known
        attempt = 0
        while True:
            value = self._digest(self._purpose, f"{key}\x00{attempt}")
            candidate = self._base + int.from_bytes(value[:8], "big") % self._span
            if candidate not in self._taken:
                break
            attempt += 1
        self._forward[key] = candidate
        self._taken.add(candidate)
        return candidate
