"""Agent-side compute: instances as libvirt/QEMU domains.

- :mod:`~agent.compute.driver`: the ComputeDriver interface and its errors (start here).
- :mod:`~agent.compute.spec`: what to run (InstanceSpec...) and what is reported (InstanceInfo, Inventory).
- names: `agent.contract.naming` (domain, tap, MAC and volume-serial conventions shared with the controller).
- :mod:`~agent.compute.domain_xml`: pure domain XML generation and parsing.
- :mod:`~agent.compute.libvirt_driver` / :mod:`~agent.compute.libvirt_conn`: the libvirt implementation.
- :mod:`~agent.compute.memory`: an in-memory driver for tests that need no VMs.
- :mod:`~agent.compute.images`: AMI manifests (from images/) and the per-host verified image cache.
- :mod:`~agent.compute.vif`: taps and the plugger interface the VPC dataplane implements.
- :mod:`~agent.compute.probe`: does KVM really work here, or must guests run under TCG.
- :mod:`~agent.compute.reconcile`: desired vs existing -> actions, after restarts and periodically.
- :mod:`~agent.compute.attachments`: EBS volumes attached to each domain (plan, iotune, LUKS secrets).
- :mod:`~agent.compute.service` / :mod:`~agent.compute.link`: the ``instances`` reconciler and its RPC calls.
- :mod:`~agent.compute.setup`: what the agent calls at start (host prep, accelerator, driver);
  :mod:`~agent.compute.host`: the host preparation itself (/dev/kvm access for libvirt).

libvirt-python is imported only by the libvirt modules, so the pure parts work without it.
"""
