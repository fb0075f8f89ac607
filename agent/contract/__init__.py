"""The controller–agent contract: the only code the controller and the agents share.

It imports nothing from the controller or the rest of the agent (``tests/unit/test_import_graph.py``
holds both sides to that), so the agent installs alone and either side evolves its internals freely.
docs/contract.md describes it module by module, with the compatibility rule (``version``).
"""
