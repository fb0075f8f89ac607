"""Elastic Load Balancing v2's errors, by the codes and HTTP statuses of its botocore model."""

from __future__ import annotations

from controller.errors import ServiceError, error

ValidationError = error("ValidationError", 400)
CertificateNotFound = error("CertificateNotFound", 400)
DuplicateListener = error("DuplicateListener", 400)
DuplicateLoadBalancerName = error("DuplicateLoadBalancerName", 400)
DuplicateTagKeys = error("DuplicateTagKeys", 400)
DuplicateTargetGroupName = error("DuplicateTargetGroupName", 400)
IncompatibleProtocols = error("IncompatibleProtocols", 400)
InvalidConfigurationRequest = error("InvalidConfigurationRequest", 400)
InvalidLoadBalancerAction = error("InvalidLoadBalancerAction", 400)
InvalidScheme = error("InvalidScheme", 400)
InvalidSecurityGroup = error("InvalidSecurityGroup", 400)
InvalidSubnet = error("InvalidSubnet", 400)
InvalidTarget = error("InvalidTarget", 400)
ListenerNotFound = error("ListenerNotFound", 400)
LoadBalancerNotFound = error("LoadBalancerNotFound", 400)
OperationNotPermitted = error("OperationNotPermitted", 400)
PriorityInUse = error("PriorityInUse", 400)
ResourceInUse = error("ResourceInUse", 400)
RuleNotFound = error("RuleNotFound", 400)
SSLPolicyNotFound = error("SSLPolicyNotFound", 400)
SubnetNotFound = error("SubnetNotFound", 400)
TargetGroupNotFound = error("TargetGroupNotFound", 400)
TooManyActions = error("TooManyActions", 400)
TooManyListeners = error("TooManyListeners", 400)
TooManyLoadBalancers = error("TooManyLoadBalancers", 400)
TooManyRules = error("TooManyRules", 400)
TooManyTags = error("TooManyTags", 400)
TooManyTargetGroups = error("TooManyTargetGroups", 400)
TooManyTargets = error("TooManyTargets", 400)
UnsupportedProtocol = error("UnsupportedProtocol", 400)

__all__ = ["ServiceError"]
TargetGroupAssociationLimit = error("TargetGroupAssociationLimit", 400)
