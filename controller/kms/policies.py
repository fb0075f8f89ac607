"""Key policies: the ones AWS writes for new keys, and what KMS accepts from a caller.

The texts are AWS's own, in the layout GetKeyPolicy returns them (AWS KMS Developer Guide,
"Default key policy" and "AWS managed keys" key policies): a customer key gets the one statement
"Enable IAM User Permissions" that gives the account (its root principal) ``kms:*`` and so lets IAM
policies govern the key; an AWS managed key lets every principal of the account use it through
its service only (``kms:ViaService``), and lets the account read its metadata.
"""

from __future__ import annotations

import json

from controller.iam import policy as iam_policy
from controller.kms.errors import MalformedPolicyDocumentException

#: "The key policy document ... can be up to 32 kilobytes (32768 bytes)" (CreateKey, Policy).
MAX_POLICY_BYTES = 32768
LOCKOUT_MESSAGE = "The new key policy will not allow you to update the key policy in the future."

_DEFAULT = """{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:%(partition)s:iam::%(account)s:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}"""

_MANAGED = """{
  "Version" : "2012-10-17",
  "Id" : "auto-%(service)s-2",
  "Statement" : [ {
    "Sid" : "Allow access through %(title)s for all principals in the account that are authorized to use %(title)s",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "*"
    },
    "Action" : [ "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", %(grant)s"kms:DescribeKey" ],
    "Resource" : "*",
    "Condition" : {
      "StringEquals" : {
        "kms:CallerAccount" : "%(account)s",
        "kms:ViaService" : "%(service_endpoint)s.%(region)s.amazonaws.com"
      }
    }
  }, {
    "Sid" : "Allow direct access to key metadata to the account",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:%(partition)s:iam::%(account)s:root"
    },
    "Action" : [ "kms:Describe*", "kms:Get*", "kms:List*" ],
    "Resource" : "*"
  } ]
}"""

#: How the managed keys' policies name their service (its title, and its endpoint prefix for kms:ViaService).
_SERVICE_NAMES = {"ebs": ("EBS", "ec2"), "s3": ("S3", "s3"), "sqs": ("SQS", "sqs"), "sns": ("SNS", "sns"),
                  "lambda": ("Lambda", "lambda"),
                  "elasticfilesystem": ("Amazon Elastic File System", "elasticfilesystem"),
                  "ssm": ("SSM", "ssm")}

#: Services that attach their managed key to resources through grants (EBS volumes, EFS, Lambda).
_GRANTING_SERVICES = frozenset({"ebs", "elasticfilesystem", "lambda"})


def default_key_policy(partition: str, account_id: str) -> str:
    """The policy CreateKey gives a key when the caller sends none."""
    return _DEFAULT % {"partition": partition, "account": account_id}


def managed_key_policy(partition: str, region: str, account_id: str, service: str) -> str:
    """The policy of the AWS managed key ``aws/<service>`` (its service may use it for the account)."""
    title, endpoint = _SERVICE_NAMES[service]
    return _MANAGED % {"partition": partition, "region": region, "account": account_id, "service": service,
                       "title": title, "service_endpoint": endpoint,
                       "grant": '"kms:CreateGrant", ' if service in _GRANTING_SERVICES else ""}


def via_service(service: str, region: str) -> str:
    """The ``kms:ViaService`` value of calls a service makes for a caller (``s3.home-1.amazonaws.com``)."""
    return f"{_SERVICE_NAMES.get(service, (service, service))[1]}.{region}.amazonaws.com"


def check_key_policy(text: str) -> None:
    """Refuse what KMS refuses in CreateKey/PutKeyPolicy with MalformedPolicyDocumentException."""
    if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
        raise MalformedPolicyDocumentException(f"Key policy exceeds the maximum size of {MAX_POLICY_BYTES} bytes.")
    try:
        document = json.loads(text)
    except ValueError:
        raise MalformedPolicyDocumentException("The policy is not in valid JSON format.") from None
    if not isinstance(document, dict):
        raise MalformedPolicyDocumentException("The policy is not in valid JSON format.")
    try:
        iam_policy.validate_policy(text, kind="resource", max_size=MAX_POLICY_BYTES)
    except iam_policy.PolicyError as exc:
        raise MalformedPolicyDocumentException(str(exc)) from None
    statements = document.get("Statement")
    for statement in statements if isinstance(statements, list) else [statements]:
        if isinstance(statement, dict) and "Principal" not in statement and "NotPrincipal" not in statement:
            raise MalformedPolicyDocumentException("Policy contains a statement with no principal.")
