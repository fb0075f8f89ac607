"""Elastic Load Balancing's data plane: one HAProxy per load balancer node (an ENI in a subnet), in a
namespace plugged into the subnet's bridge like an EFS mount target (see :mod:`agent.nfs`)."""
