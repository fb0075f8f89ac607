"""The agent's long-running service: register, heartbeat, and reconcile the host to the controller's wishes.

- :mod:`~agent.service.loop`: :class:`~agent.service.loop.AgentService`, the registration/heartbeat
  thread and the desired-state loop (long-poll, apply on change, periodic drift repair, clean stop
  that leaves the dataplane in place).
- :mod:`~agent.service.reconcilers`: a ``Reconciler`` per section of the desired document, registered
  by name; other agent features (compute) register theirs at start.
- :mod:`~agent.service.network`: the ``network`` section through ``agent.network.dataplane``, with the
  metadata service; :mod:`~agent.service.metadata`: its controller-backed content provider.
- :mod:`~agent.service.namespaces`: the ``namespaces`` section: addresses inside namespace instances.
"""
