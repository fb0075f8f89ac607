"""Hosts: the agents that registered with this controller, and their liveness."""
