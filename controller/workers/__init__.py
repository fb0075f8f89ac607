"""API worker processes: the controller on every core.

One Python process is bound by its GIL, so ``cloudlet up`` (the *primary*) starts ``--workers N - 1`` more
processes that accept from the same listening socket and share the state store:

- **What a worker serves.** The calls of :data:`LOCAL_SERVICES`, whose every piece of state is in the
  database, or in caches that the state bus keeps right across processes (``controller/state/bus.py``).
  Every other request (the other services, Cloudlet's own endpoints, invoke URLs) is relayed unchanged to
  the primary over a Unix socket (``relay.py``): services that keep live state in memory (WAF's and API
  Gateway's rate counters, Lambda's concurrency, Session Manager's relay) stay correct by construction, and
  join this list one by one as their state moves out of memory.
- **What only the primary runs.** The start hooks (crash recovery) and every background worker (lifecycle,
  alarms, deliveries, reconcilers) run once per cloud, in the primary; so do the websocket listeners and
  the local agent.
- **Lifetimes.** The supervisor (``supervisor.py``) restarts a worker that dies; a worker ends with the
  primary (``PR_SET_PDEATHSIG``), whatever ends it.
"""

from __future__ import annotations

#: The services an API worker serves itself (botocore names).
LOCAL_SERVICES = frozenset({"sts", "iam", "organizations", "ec2", "s3", "sqs"})
