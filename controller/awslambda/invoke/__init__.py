"""Lambda's synchronous invocation: the Invoke operation, the engine that runs one invocation on a host's
function runner (contract F), and the agents' code endpoint (contract D).

``engine.run`` is what every invocation goes through (Invoke's RequestResponse, H4's async worker and event
source pollers): pick the version by the alias's weights (``routing``), hold a concurrency slot
(``invoker``), hand the function its execution role's session (``sessions``), post the invocation to a host
(``runners``) and turn the runner's answer into AWS's shapes (``outcomes``).
"""
