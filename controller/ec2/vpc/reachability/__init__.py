"""VPC Reachability Analyzer: network insights paths, their analyses, and the pure analysis behind them.

``snapshot.py`` freezes the VPC rows once, ``rules.py`` and ``analysis.py`` judge a path over them
without I/O, and ``paths.py``/``analyses.py`` are the API. A verdict's ``Probe`` is what confirming it
with a real packet through the dataplane needs: ``probes.py`` hands it to the agent that plugs the source
interface and records what that agent saw (``probe_reports.py``). ``controller/ec2/vpc/__init__.py``
imports the API modules (they register their operations); this package imports none, so its table
module (``state.py``) serves ``ec2/lookups.py`` without a circle.
"""
