"""DescribeImages' filter table, from the EC2 API Reference (API_DescribeImages.html).

Each name maps to where its value sits in an Image output item (a JMESPath expression, see
:mod:`controller.ec2.filters`). Filters on what this cloud's images never carry (Inspector scan results,
watermarks, product codes, kernels) are accepted and match no image, as on AWS for images without them.
"""

from __future__ import annotations

from controller.ec2.filters import FilterFields

_EBS = "BlockDeviceMappings[].Ebs"
_SCAN = "ScanResults"

IMAGE_FILTERS: FilterFields = {
    "architecture": "Architecture",
    "block-device-mapping.delete-on-termination": f"{_EBS}.DeleteOnTermination",
    "block-device-mapping.device-name": "BlockDeviceMappings[].DeviceName",
    "block-device-mapping.snapshot-id": f"{_EBS}.SnapshotId",
    "block-device-mapping.volume-size": f"{_EBS}.VolumeSize",
    "block-device-mapping.volume-type": f"{_EBS}.VolumeType",
    "block-device-mapping.encrypted": f"{_EBS}.Encrypted",
    "boot-mode": "BootMode", "creation-date": "CreationDate", "description": "Description",
    "ena-support": "EnaSupport", "free-tier-eligible": "FreeTierEligible", "hypervisor": "Hypervisor",
    "image-allowed": "ImageAllowed", "image-id": "ImageId",
    "image-watermark.source-image-creation-time": "ImageWatermarks[].SourceImageCreationTime",
    "image-watermark.source-image-id": "ImageWatermarks[].SourceImageId",
    "image-watermark.source-image-region": "ImageWatermarks[].SourceImageRegion",
    "image-watermark.watermark-creation-time": "ImageWatermarks[].WatermarkCreationTime",
    "image-watermark.watermark-key": "ImageWatermarks[].WatermarkKey",
    "image-type": "ImageType",
    "instance-type-specification.supported-instance-type":
        "InstanceTypeSpecification.SupportedInstanceTypes[].InstanceType",
    "instance-type-specification.unsupported-instance-type":
        "InstanceTypeSpecification.UnsupportedInstanceTypes[].InstanceType",
    "is-public": "Public", "kernel-id": "KernelId", "manifest-location": "ImageLocation", "name": "Name",
    "owner-alias": "ImageOwnerAlias", "owner-id": "OwnerId", "platform": "Platform",
    "product-code": "ProductCodes[].ProductCodeId", "product-code.type": "ProductCodes[].ProductCodeType",
    "public-ssm-parameter-name": "PublicSsmParameterName", "ramdisk-id": "RamdiskId",
    "root-device-name": "RootDeviceName", "root-device-type": "RootDeviceType",
    "scan-result.critical-fix-available-since": f"{_SCAN}.CriticalFixAvailableSince",
    "scan-result.finding-scan-date": f"{_SCAN}.FindingScanDate",
    "scan-result.high-fix-available-since": f"{_SCAN}.HighFixAvailableSince",
    "scan-result.highest-finding-severity-label": f"{_SCAN}.HighestFindingSeverityLabel",
    "scan-result.informational-fix-available-since": f"{_SCAN}.InformationalFixAvailableSince",
    "scan-result.low-fix-available-since": f"{_SCAN}.LowFixAvailableSince",
    "scan-result.medium-fix-available-since": f"{_SCAN}.MediumFixAvailableSince",
    "source-image-id": "SourceImageId", "source-image-region": "SourceImageRegion",
    "source-instance-id": "SourceInstanceId", "state": "State", "state-reason-code": "StateReason.Code",
    "state-reason-message": "StateReason.Message", "sriov-net-support": "SriovNetSupport",
    "virtualization-type": "VirtualizationType",
    # Earlier versions of the page also listed these.
    "image-location": "ImageLocation", "platform-details": "PlatformDetails",
}
