"""EBS on a host: the volume pool (qcow2 files, LUKS when encrypted), the ``volumes`` reconciler and
snapshots. Attachments to instances are compute's (``agent.compute.attachments``)."""
