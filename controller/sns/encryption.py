"""Topics encrypted with KMS (``KmsMasterKeyId``): a Publish needs the key usable, as at AWS.

AWS's SNS asks KMS for a data key for the messages of an encrypted topic, as the publisher: the
publisher needs ``kms:GenerateDataKey`` on the key, and a disabled key, a key pending deletion or a
missing one fails the Publish with SNS's own KMS errors
(https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html). Cloudlet asks KMS the same
through contract B (``controller.kms.lookup``).
"""

from __future__ import annotations

from controller.api import RequestContext
from controller.errors import ServiceError, error
from controller.kms import lookup
from controller.sns import records

KMSNotFound = error("KMSNotFound")
KMSDisabled = error("KMSDisabled")
KMSInvalidState = error("KMSInvalidState")
KMSAccessDenied = error("KMSAccessDenied")
_SNS_CODES = {"NotFoundException": KMSNotFound, "DisabledException": KMSDisabled,
              "KMSInvalidStateException": KMSInvalidState, "AccessDeniedException": KMSAccessDenied}


def check_key(ctx: RequestContext, topic_arn: str) -> None:
    """Raise SNS's KMS error unless the caller may publish to ``topic_arn`` under its key (if it has one)."""
    with ctx.cloud.db.read() as conn:
        topic = records.find_topic(conn, topic_arn)
    key_ref = topic.attributes.get("KmsMasterKeyId") if topic is not None else None
    if not key_ref:
        return
    context = {"aws:sns:topicArn": topic_arn}
    try:
        key_arn = lookup.resolve_key(ctx.cloud, topic.account_id, key_ref)
        lookup.authorize_use(ctx, "kms:GenerateDataKey", key_arn, context)
        lookup.generate_data_key(ctx.cloud, topic.account_id, key_arn, context)
    except ServiceError as exc:
        sns_error = _SNS_CODES.get(exc.code)
        if sns_error is None:
            raise
        raise sns_error(f"{exc.message} (Service: AWSKMS; Error Code: {exc.code})") from None
