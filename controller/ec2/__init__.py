"""Amazon EC2: the VPC network (``vpc/``), instances on libvirt (``instances/``) and EBS (``volumes/``).

``vpc/`` holds VPCs, subnets, route tables, gateways, security groups, network ACLs, ENIs, peering,
addresses and the compiler of each host's desired network; ``instances/`` holds RunInstances and the
instance lifecycle, views, types, placement and scheduling, AMIs, key pairs and instance metadata. The
modules here are what both share: resource kinds and ids, errors, input checks, filters, Describe
paging, tags, the operation wrapper, regions and zones, and account attributes.
"""

from controller.ec2 import (  # noqa: F401  (each module registers its operations on api)
    account_attributes,
    instances,
    launch_templates,
    regions,
    tags,
    vpc,
)
from controller.ec2.instances import spot_interruptions
from controller.ec2.instances.desired_instances import instances_section
from controller.ec2.service import api as api  # the service's operations, for controller.cloud
from controller.ec2.volumes import (  # noqa: F401  (each module registers its operations on api)
    attachments,
    encryption,
    modifications,
    snapshots,
    volumes,
)
from controller.ec2.volumes.desired_volumes import volumes_section
from controller.ec2.volumes.snapshot_store import start as start_volumes
from controller.ec2.vpc.desired_network import namespaces_section, network_section
from controller.ec2.vpc.reachability.probes import probes_section

#: What every host runs, in the order its agent applies it: interfaces exist before anything plugs in, and
#: volumes' files before instances attach them; probes last, once every port is plugged.
api.host_sections.update(network=network_section, namespaces=namespaces_section, volumes=volumes_section,
                         instances=instances_section, probes=probes_section)
api.on_start.append(start_volumes)
api.on_start.append(spot_interruptions.start)
api.on_stop.append(spot_interruptions.stop)
