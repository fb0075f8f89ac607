"""EBS: volumes (``volumes``), attachments, snapshots, modifications and encryption, and the ``volumes``
section of each host's desired document (``desired_volumes``). The tables are in ``state``; what other
parts of EC2 need of volumes (launch, termination, DescribeInstances) is in ``records``. Registered by
:mod:`controller.ec2`.
"""
