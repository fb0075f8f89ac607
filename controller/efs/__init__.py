"""Amazon Elastic File System: file systems, mount targets (NFS servers behind ENIs in a VPC), access
points and the policies recorded with them; the ``efs`` host section tells agents what to serve."""

from controller.efs import (  # noqa: F401  (register operations on api; state declares EFS's tables)
    access_points,
    file_systems,
    mount_targets,
    policies,
    state,
    tags,
)
from controller.efs.access import resource_lookup
from controller.efs.desired import efs_section
from controller.efs.service import api

#: File systems and access points have owners and tags that IAM conditions read.
api.resource_lookup = resource_lookup
#: What each host serves (contract D); after EC2's sections, whose ``network`` plugs the ENIs.
api.host_sections["efs"] = efs_section
