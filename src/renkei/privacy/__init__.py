"""Privacy: a person deleted everywhere (Renkei and every connection), and exported.

Suppressions live with ingest (``events/suppressions.py``), which drops their events; this
package runs deletion requests across the features and assembles exports.
"""

from renkei.privacy.export import export_person
from renkei.privacy.requests import DELETE_TASK, PrivacyRequest, PrivacyRequests, VendorsToRetry

__all__ = ["DELETE_TASK", "PrivacyRequest", "PrivacyRequests", "VendorsToRetry", "export_person"]
