"""DescribeInstanceTypes' filter table, from the EC2 API Reference (API_DescribeInstanceTypes.html).

Each name maps to where its value sits in an InstanceTypeInfo output item (a JMESPath expression, see
:mod:`controller.ec2.filters`); list members (valid cores, architectures, boot modes) match on any item.
"""

from __future__ import annotations

from controller.ec2.filters import FilterFields

_EBS = "EbsInfo.EbsOptimizedInfo"
_STORE = "InstanceStorageInfo"

INSTANCE_TYPE_FILTERS: FilterFields = {
    "auto-recovery-supported": "AutoRecoverySupported", "bare-metal": "BareMetal",
    "burstable-performance-supported": "BurstablePerformanceSupported", "current-generation": "CurrentGeneration",
    "dedicated-hosts-supported": "DedicatedHostsSupported",
    "ebs-info.attachment-limit-type": "EbsInfo.AttachmentLimitType",
    "ebs-info.maximum-ebs-attachments": "EbsInfo.MaximumEbsAttachments",
    "ebs-info.ebs-optimized-info.baseline-bandwidth-in-mbps": f"{_EBS}.BaselineBandwidthInMbps",
    "ebs-info.ebs-optimized-info.baseline-iops": f"{_EBS}.BaselineIops",
    "ebs-info.ebs-optimized-info.baseline-throughput-in-mbps": f"{_EBS}.BaselineThroughputInMBps",
    "ebs-info.ebs-optimized-info.maximum-bandwidth-in-mbps": f"{_EBS}.MaximumBandwidthInMbps",
    "ebs-info.ebs-optimized-info.maximum-iops": f"{_EBS}.MaximumIops",
    "ebs-info.ebs-optimized-info.maximum-throughput-in-mbps": f"{_EBS}.MaximumThroughputInMBps",
    "ebs-info.ebs-optimized-support": "EbsInfo.EbsOptimizedSupport",
    "ebs-info.encryption-support": "EbsInfo.EncryptionSupport", "ebs-info.nvme-support": "EbsInfo.NvmeSupport",
    "free-tier-eligible": "FreeTierEligible", "hibernation-supported": "HibernationSupported",
    "hypervisor": "Hypervisor",
    "instance-storage-info.disk.count": f"{_STORE}.Disks[].Count",
    "instance-storage-info.disk.size-in-gb": f"{_STORE}.Disks[].SizeInGB",
    "instance-storage-info.disk.type": f"{_STORE}.Disks[].Type",
    "instance-storage-info.encryption-support": f"{_STORE}.EncryptionSupport",
    "instance-storage-info.nvme-support": f"{_STORE}.NvmeSupport",
    "instance-storage-info.total-size-in-gb": f"{_STORE}.TotalSizeInGB",
    "instance-storage-supported": "InstanceStorageSupported", "instance-type": "InstanceType",
    "memory-info.size-in-mib": "MemoryInfo.SizeInMiB",
    "network-info.bandwidth-weightings": "NetworkInfo.BandwidthWeightings",
    "network-info.efa-info.maximum-efa-interfaces": "NetworkInfo.EfaInfo.MaximumEfaInterfaces",
    "network-info.efa-supported": "NetworkInfo.EfaSupported", "network-info.ena-support": "NetworkInfo.EnaSupport",
    "network-info.flexible-ena-queues-support": "NetworkInfo.FlexibleEnaQueuesSupport",
    "network-info.encryption-in-transit-supported": "NetworkInfo.EncryptionInTransitSupported",
    "network-info.ipv4-addresses-per-interface": "NetworkInfo.Ipv4AddressesPerInterface",
    "network-info.ipv6-addresses-per-interface": "NetworkInfo.Ipv6AddressesPerInterface",
    "network-info.ipv6-supported": "NetworkInfo.Ipv6Supported",
    "network-info.maximum-network-cards": "NetworkInfo.MaximumNetworkCards",
    "network-info.maximum-network-interfaces": "NetworkInfo.MaximumNetworkInterfaces",
    "network-info.network-performance": "NetworkInfo.NetworkPerformance",
    "nitro-enclaves-support": "NitroEnclavesSupport", "nitro-tpm-support": "NitroTpmSupport",
    "nitro-tpm-info.supported-versions": "NitroTpmInfo.SupportedVersions",
    "processor-info.supported-architecture": "ProcessorInfo.SupportedArchitectures",
    "processor-info.sustained-clock-speed-in-ghz": "ProcessorInfo.SustainedClockSpeedInGhz",
    "processor-info.supported-features": "ProcessorInfo.SupportedFeatures",
    "reboot-migration-support": "RebootMigrationSupport", "supported-boot-mode": "SupportedBootModes",
    "supported-root-device-type": "SupportedRootDeviceTypes", "supported-usage-class": "SupportedUsageClasses",
    "supported-virtualization-type": "SupportedVirtualizationTypes",
    "vcpu-info.default-cores": "VCpuInfo.DefaultCores",
    "vcpu-info.default-threads-per-core": "VCpuInfo.DefaultThreadsPerCore",
    "vcpu-info.default-vcpus": "VCpuInfo.DefaultVCpus", "vcpu-info.valid-cores": "VCpuInfo.ValidCores",
    "vcpu-info.valid-threads-per-core": "VCpuInfo.ValidThreadsPerCore",
    # Earlier versions of the page also listed this one.
    "placement-group-info.supported-strategies": "PlacementGroupInfo.SupportedStrategies",
}

#: API_DescribeInstanceTypeOfferings.html
OFFERING_FILTERS: FilterFields = {"instance-type": "InstanceType", "location": "Location"}
