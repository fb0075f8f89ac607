"""AWS Batch on the host: each job attempt is a podman container the agent starts, follows and reaps.

``podman`` builds the command lines (pure); ``runner`` runs them and turns what podman reports into
Batch's job states and status reasons.
"""
