"""The audit trail: every API call, allowed, denied or failed, as a CloudTrail event."""

from controller.audit.trail import AuditTrail, CallRecord

__all__ = ["AuditTrail", "CallRecord"]
