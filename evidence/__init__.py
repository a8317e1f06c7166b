"""Evidence for disputed refunds: validation, storage of the files, recording, read models.

The API (api/routes/evidence.py) takes merchants' uploads through :func:`submit_evidence`;
an activity records a one-click rejection's risk reasons with :func:`record_risk_gate_evidence`.
"""

from evidence.risk_gate import RISK_GATE_CATEGORY, record_risk_gate_evidence
from evidence.store import (
    EvidenceStore,
    InvalidStorageKeyError,
    LocalDirStore,
    StoredObjectMissingError,
    new_storage_key,
)
from evidence.submissions import (
    EvidenceConflictError,
    EvidenceNotAcceptedError,
    EvidenceRequest,
    NotYourRefundError,
    RefundNotFoundError,
    Submitted,
    submit_evidence,
)
from evidence.validation import CATEGORIES, Category, CheckedFile, EvidenceLimits
from evidence.views import EvidenceFileView, EvidenceView, load_evidence

__all__ = [
    "CATEGORIES",
    "RISK_GATE_CATEGORY",
    "Category",
    "CheckedFile",
    "EvidenceConflictError",
    "EvidenceFileView",
    "EvidenceLimits",
    "EvidenceNotAcceptedError",
    "EvidenceRequest",
    "EvidenceStore",
    "EvidenceView",
    "InvalidStorageKeyError",
    "LocalDirStore",
    "NotYourRefundError",
    "RefundNotFoundError",
    "StoredObjectMissingError",
    "Submitted",
    "load_evidence",
    "new_storage_key",
    "record_risk_gate_evidence",
    "submit_evidence",
]
