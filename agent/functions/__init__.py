"""Lambda on the host: execution environments that run functions under AWS's Runtime API.

The controller posts a :class:`agent.contract.functions.FunctionInvocation` to this host's function server
(``server``); the warm ``pool`` hands it to an idle ``environment`` of that function version or
starts one: a bubblewrap sandbox in its own cgroup (``sandbox``) running the runtime's own client
(``runtimes``: the unmodified ``awslambdaric`` for Python) against a per-environment Runtime API
(``runtime_api``). ``packages`` fetches and unpacks code, layers and images by sha256; ``reports``
writes the START/END/REPORT lines Lambda writes.
"""
