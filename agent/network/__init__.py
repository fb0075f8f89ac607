"""The agent's VPC dataplane: a desired-state document in, namespaces, bridges, routes and nftables out.

``model`` is the document the controller ships (plain, versioned JSON dataclasses); ``cidr``, ``routes``,
``naming``, ``nft``, ``dhcp``, ``plan`` and ``imds`` are pure cores that turn it into kernel objects and
rulesets; ``netns``, ``links`` and ``dataplane`` are the thin privileged edges that make it so.
"""
