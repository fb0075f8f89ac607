"""Amazon S3: buckets and objects with S3's semantics, on local disk or an S3-compatible cluster.

The operations are plain functions over botocore's ``s3`` model (rest-xml), in
``buckets``, ``bucket_config``, ``bucket_features``, ``objects``, ``copy``, ``multipart`` and ``listings``.
Object bytes go through ``engine`` to a blob store (``storage/``); metadata lives in
the state store (``state.py``). ``access.resource_lookup`` tells the IAM authorizer
each bucket's owner and its effective resource policy (bucket policy plus canned ACLs,
filtered by the public access block). ``cors`` answers browser preflights and
``lifecycle`` runs the expiration rules in the background; ``unconfigured`` answers
reads of the features Cloudlet cannot configure. The gateway and the cloud
reach them through the ``ServiceApi`` hooks set below (``rewrite_request`` for virtual-hosted
addressing, ``anonymous_requests``, ``open_payload`` for aws-chunked bodies and payload checks,
``preflight``, ``response_headers``, ``on_start``, ``on_stop``).
"""

from controller.s3 import (  # noqa: F401  (modules register their operations on api)
    access,
    bucket_config,  # noqa: F401
    bucket_features,  # noqa: F401
    buckets,  # noqa: F401
    copy,  # noqa: F401
    cors,
    listings,  # noqa: F401
    multipart,  # noqa: F401
    objects,  # noqa: F401
    state,  # noqa: F401
    unconfigured,  # noqa: F401
)
from controller.s3.addressing import path_style
from controller.s3.lifecycle import start
from controller.s3.payload import wrap_payload
from controller.s3.runtime import stop
from controller.s3.service import api

api.resource_lookup = access.resource_lookup
api.rewrite_request = path_style
#: Anonymous requests are served; bucket policies, ACLs and the public access block decide (access.py).
api.anonymous_requests = True
api.open_payload = wrap_payload
api.preflight = cors.preflight
api.response_headers = cors.response_headers
api.on_start.append(start)
api.on_stop.append(stop)

__all__ = ["api", "start", "stop"]
