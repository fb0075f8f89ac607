"""EC2 instances: launch, lifecycle, views, types, placement, AMIs, key pairs and instance metadata."""

from controller.ec2.instances import (  # noqa: F401  (each module registers its operations on controller.ec2's api)
    actions,
    console,
    images,
    instance_profiles,
    instance_types,
    keypairs,
    placement,
    run_instances,
    spot_requests,
    views,
)
