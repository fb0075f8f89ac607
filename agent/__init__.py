"""Cloudlet agent: runs on every host and makes the controller's desired state real."""
