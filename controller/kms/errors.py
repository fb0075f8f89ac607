"""KMS's errors, by the names of its botocore model (all 400s with ``__type`` set to the name).

Other services receive these through ``lookup.py`` and reword them where AWS does (S3 answers
``KMS.DisabledException``).
"""

from controller.errors import error

NotFoundException = error("NotFoundException")
DisabledException = error("DisabledException")
KMSInvalidStateException = error("KMSInvalidStateException")
InvalidCiphertextException = error("InvalidCiphertextException")
IncorrectKeyException = error("IncorrectKeyException")
InvalidKeyUsageException = error("InvalidKeyUsageException")
AlreadyExistsException = error("AlreadyExistsException")
MalformedPolicyDocumentException = error("MalformedPolicyDocumentException")
ValidationException = error("ValidationException")
InvalidAliasNameException = error("InvalidAliasNameException")
InvalidArnException = error("InvalidArnException")
InvalidGrantIdException = error("InvalidGrantIdException")
InvalidGrantTokenException = error("InvalidGrantTokenException")
InvalidMarkerException = error("InvalidMarkerException")
LimitExceededException = error("LimitExceededException")
TagException = error("TagException")
UnsupportedOperationException = error("UnsupportedOperationException")
AccessDeniedException = error("AccessDeniedException")
DryRunOperationException = error("DryRunOperationException", 412)
KMSInvalidMacException = error("KMSInvalidMacException")
KMSInvalidSignatureException = error("KMSInvalidSignatureException")
