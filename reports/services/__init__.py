"""Services that write reports: the AI draft, saves, claims, signing, addenda.

Every write locks the report row (``SELECT ... FOR UPDATE``), checks the caller's
``based_on_version`` against the newest version (optimistic locking across the round trip to
the browser, pessimistic inside the transaction) and appends a new immutable version. Each
success writes its audit row in the same transaction.
"""

from reports.services.claims import report_claim, report_claim_release
from reports.services.drafting import report_draft_save, report_reject_draft, report_version_save
from reports.services.export import report_fhir_export
from reports.services.integrity import report_integrity_verify
from reports.services.signing import report_addendum_add, report_sign

__all__ = [
    "report_addendum_add",
    "report_claim",
    "report_claim_release",
    "report_draft_save",
    "report_fhir_export",
    "report_integrity_verify",
    "report_reject_draft",
    "report_sign",
    "report_version_save",
]
