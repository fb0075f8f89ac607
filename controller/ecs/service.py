"""The ecs ``ServiceApi``: only the container agent's calls, which run Batch attempts on EC2 instances.

Batch on EC2 runs its jobs as ECS tasks on the environment's container instances: their agent registers
(``RegisterContainerInstance``), polls for its tasks and reports their state (``SubmitTaskStateChange``),
authorized as AWS's ``AmazonEC2ContainerServiceforEC2Role`` grants. The model is botocore's ``ecs`` plus
``Poll`` (``controller/protocol/private_models/ecs.overlay.json``): AWS's agent polls over a websocket.
"""

from controller.api import ServiceApi

api = ServiceApi("ecs")
