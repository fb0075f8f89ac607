"""EC2 launch templates: templates and their versions, GetLaunchTemplateData, and RunInstances from a template
(``launch.py``)."""

from controller.ec2.launch_templates import (  # noqa: F401  (each module registers its operations on controller.ec2's api)
    instance_data,
    templates,
    versions,
)
