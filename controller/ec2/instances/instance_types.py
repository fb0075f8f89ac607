"""Instance types: AWS's naming scheme parsed, the catalogue Cloudlet offers, and the homelab scaling.

An instance type name reads ``<series><generation><options>[-flex].<size>`` (``m6in.4xlarge``: series
``m`` general purpose, 6th generation, ``i`` Intel processor, ``n`` network optimised, size ``4xlarge``).
:func:`parse_name` splits a name that way; :data:`CATALOGUE` holds the types this cloud offers with
AWS's published shape (vCPUs, memory, network interfaces and addresses per interface, instance store);
:func:`guest_size` turns a type into what a guest really gets here: memory times
``instance_memory_scale`` (``t3.micro``'s 1 GiB is 256 MiB at the default 0.25) and at most
``instance_max_vcpus`` vCPUs, because a homelab host cannot give an ``r5.24xlarge`` its 768 GiB.

The catalogue is generated from per-family rules (memory per vCPU, the sizes a family comes in, AWS's
interface limits by size) rather than typed out type by type; burstable families use AWS's own table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from controller.api import Params, RequestContext
from controller.config import Config
from controller.ec2.describe import describe, listing
from controller.ec2.errors import invalid_value
from controller.ec2.filters import check_names
from controller.ec2.instances.type_filters import INSTANCE_TYPE_FILTERS, OFFERING_FILTERS
from controller.ec2.regions import describe_availability_zones
from controller.ec2.service import api
from controller.errors import error

InvalidInstanceType = error("InvalidInstanceType")

NAME = re.compile(r"^(?P<series>[a-z]+?)(?P<generation>\d+)(?P<options>[a-z]*)(?P<flex>-flex)?\."
                  r"(?P<size>nano|micro|small|medium|large|xlarge|\d+xlarge|metal)$")

#: Option letters after the generation. Processor letters come first when present.
PROCESSORS = {"a": "amd", "g": "aws-graviton", "i": "intel"}
CAPABILITIES = {"b": "block-storage", "d": "instance-store", "e": "extra-capacity", "n": "network",
                "z": "high-frequency", "q": "qualcomm-inference"}
SERIES = {"t": "burstable", "m": "general-purpose", "c": "compute-optimized", "r": "memory-optimized",
          "x": "memory-optimized", "z": "memory-optimized", "i": "storage-optimized", "d": "storage-optimized",
          "g": "accelerated-computing", "p": "accelerated-computing", "inf": "accelerated-computing"}


@dataclass(frozen=True)
class TypeName:
    """The parts of an instance type name."""

    name: str
    series: str
    generation: int
    processor: str
    capabilities: tuple[str, ...]
    flex: bool
    size: str

    @property
    def family(self) -> str:
        """``m6in`` for ``m6in.4xlarge`` (``m7i-flex`` keeps its suffix, as AWS's InstanceFamily does)."""
        return self.name.split(".", 1)[0]


def parse_name(name: str) -> TypeName | None:
    """Split an instance type name per AWS's naming scheme; None when it does not follow it."""
    match = NAME.match(name)
    if match is None:
        return None
    options = match["options"]
    processor = "intel"  # older families without a processor letter run on Intel Xeon
    if options[:1] in PROCESSORS:
        processor, options = PROCESSORS[options[0]], options[1:]
    if any(letter not in CAPABILITIES for letter in options):
        return None
    return TypeName(name=name, series=match["series"], generation=int(match["generation"]), processor=processor,
                    capabilities=tuple(CAPABILITIES[letter] for letter in options), flex=bool(match["flex"]),
                    size=match["size"])


@dataclass(frozen=True)
class InstanceType:
    """One offered type, with AWS's published shape."""

    name: str
    vcpus: int
    memory_mib: int
    max_interfaces: int
    ipv4_per_interface: int
    network_performance: str
    instance_store_gb: int = 0
    instance_store_disks: int = 0
    burstable: bool = False
    bare_metal: bool = False
    free_tier: bool = False

    @property
    def parsed(self) -> TypeName:
        parsed = parse_name(self.name)
        assert parsed is not None, self.name
        return parsed

    @property
    def architecture(self) -> str:
        return "arm64" if self.parsed.processor == "aws-graviton" else "x86_64"


# --- the catalogue -----------------------------------------------------------------------------------------

#: Burstable sizes: (vCPUs of t2, vCPUs of t3/t3a/t4g, GiB, interfaces, IPv4 per interface).
_BURSTABLE = {"nano": (1, 2, 0.5, 2, 2), "micro": (1, 2, 1, 2, 2), "small": (1, 2, 2, 3, 4),
              "medium": (2, 2, 4, 3, 6), "large": (2, 2, 8, 3, 12), "xlarge": (4, 4, 16, 3, 15),
              "2xlarge": (8, 8, 32, 3, 15)}
#: AWS's interface limits of Nitro types by vCPU count: (interfaces, IPv4 addresses per interface).
_INTERFACE_LIMITS = ((1, 2, 4), (2, 3, 10), (8, 4, 15), (48, 8, 30), (10_000, 15, 50))

_SIZES_5 = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "metal")
_SIZES_C5 = ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge", "18xlarge", "24xlarge", "metal")
_SIZES_6 = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge",
            "metal")
_SIZES_7 = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge")
_SIZES_GRAVITON = ("medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "metal")
_SIZES_FLEX = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge")

#: Family -> (GiB of memory per vCPU, sizes).
_FAMILIES: dict[str, tuple[float, tuple[str, ...]]] = {
    "m5": (4, _SIZES_5), "m5a": (4, _SIZES_5[:-1]), "m5d": (4, _SIZES_5), "m5n": (4, _SIZES_5),
    "m6i": (4, _SIZES_6), "m6id": (4, _SIZES_6), "m6in": (4, _SIZES_6), "m6a": (4, _SIZES_6[:-1]),
    "m6g": (4, _SIZES_GRAVITON), "m7i": (4, _SIZES_7), "m7i-flex": (4, _SIZES_FLEX), "m7g": (4, _SIZES_GRAVITON),
    "c5": (2, _SIZES_C5), "c5d": (2, _SIZES_C5), "c5n": (2.625, ("large", "xlarge", "2xlarge", "4xlarge",
                                                                  "9xlarge", "18xlarge", "metal")),
    "c6i": (2, _SIZES_6), "c6in": (2, _SIZES_6), "c6g": (2, _SIZES_GRAVITON), "c7i": (2, _SIZES_7),
    "c7g": (2, _SIZES_GRAVITON),
    "r5": (8, _SIZES_5), "r5d": (8, _SIZES_5), "r6i": (8, _SIZES_6), "r6g": (8, _SIZES_GRAVITON),
    "r7i": (8, _SIZES_7), "x2idn": (16, ("16xlarge", "24xlarge", "32xlarge", "metal")),
    "z1d": (8, ("large", "xlarge", "2xlarge", "3xlarge", "6xlarge", "12xlarge", "metal")),
    "i4i": (8, _SIZES_6),
}
_LARGEST_BY_SERIES_OF_METAL = {"x2idn": 128, "z1d": 48, "c5n": 72}


def _size_vcpus(size: str, largest: int) -> int:
    if size == "medium":
        return 1
    if size == "large":
        return 2
    if size == "xlarge":
        return 4
    if size == "metal":
        return largest
    return 4 * int(size.removesuffix("xlarge"))


def _network_performance(vcpus: int, network_optimized: bool) -> str:
    """AWS's bandwidth classes by size: "up to" a burst figure for the small sizes, a fixed one above."""
    steps = ((16, "Up to 25 Gigabit"), (32, "50 Gigabit"), (64, "100 Gigabit"), (10_000, "200 Gigabit")) \
        if network_optimized else \
        ((16, "Up to 12.5 Gigabit"), (32, "12 Gigabit"), (64, "25 Gigabit"), (10_000, "50 Gigabit"))
    return next(label for up_to, label in steps if vcpus <= up_to)


def _interface_limits(vcpus: int) -> tuple[int, int]:
    for up_to, interfaces, addresses in _INTERFACE_LIMITS:
        if vcpus <= up_to:
            return interfaces, addresses
    raise AssertionError("unreachable: the last limit has no upper bound")


def _family_types(family: str, gib_per_vcpu: float, sizes: tuple[str, ...]) -> Iterable[InstanceType]:
    parsed = parse_name(f"{family}.large")
    assert parsed is not None, family
    largest = _LARGEST_BY_SERIES_OF_METAL.get(family) or max(
        _size_vcpus(s, 0) for s in sizes if s != "metal")
    for size in sizes:
        vcpus = _size_vcpus(size, largest)
        interfaces, addresses = _interface_limits(vcpus)
        store = "instance-store" in parsed.capabilities
        # AWS's d variants give 37.5 GB of NVMe SSD per vCPU, in one disk up to 8 vCPUs, then 2 or 4 disks.
        disks = 1 if vcpus <= 8 else 2 if vcpus <= 48 else 4
        yield InstanceType(
            name=f"{family}.{size}", vcpus=vcpus, memory_mib=int(vcpus * gib_per_vcpu * 1024),
            max_interfaces=interfaces, ipv4_per_interface=addresses,
            network_performance=_network_performance(vcpus, "network" in parsed.capabilities),
            instance_store_gb=int(vcpus * 37.5) if store else 0, instance_store_disks=disks if store else 0,
            bare_metal=size == "metal")


def _burstable_types() -> Iterable[InstanceType]:
    for family in ("t2", "t3", "t3a", "t4g"):
        for size, (t2_vcpus, vcpus, gib, interfaces, addresses) in _BURSTABLE.items():
            yield InstanceType(
                name=f"{family}.{size}", vcpus=t2_vcpus if family == "t2" else vcpus, memory_mib=int(gib * 1024),
                max_interfaces=interfaces, ipv4_per_interface=addresses,
                network_performance="Low to Moderate" if family == "t2" else "Up to 5 Gigabit", burstable=True,
                free_tier=size == "micro" and family in ("t2", "t3"))


def _catalogue() -> dict[str, InstanceType]:
    types = list(_burstable_types())
    for family, (gib_per_vcpu, sizes) in _FAMILIES.items():
        types.extend(_family_types(family, gib_per_vcpu, sizes))
    return {t.name: t for t in sorted(types, key=lambda t: t.name)}


CATALOGUE: dict[str, InstanceType] = _catalogue()
DEFAULT_TYPE = "t3.micro"


def lookup(name: str | None) -> InstanceType:
    """The offered type named ``name`` (RunInstances' default when None); AWS's error otherwise."""
    found = CATALOGUE.get(name or DEFAULT_TYPE)
    if found is None:
        raise invalid_value(name, "InstanceType")
    return found


# --- the homelab scale --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuestSize:
    """What a guest of some type really gets on this cloud's hosts."""

    vcpus: int
    memory_mib: int


def guest_size(instance_type: InstanceType, config: Config) -> GuestSize:
    """The type's size scaled for the homelab (see the module docstring)."""
    memory = max(config.instance_min_memory_mib, int(instance_type.memory_mib * config.instance_memory_scale))
    vcpus = instance_type.vcpus
    if config.instance_max_vcpus > 0:
        vcpus = min(vcpus, config.instance_max_vcpus)
    return GuestSize(vcpus=vcpus, memory_mib=memory)


# --- DescribeInstanceTypes ----------------------------------------------------------------------------------


def type_output(t: InstanceType) -> Params:
    """A DescribeInstanceTypes item, with AWS's members."""
    parsed = t.parsed
    strategies = ["partition", "spread"] if t.burstable else ["cluster", "partition", "spread"]
    threads = 1 if parsed.processor == "aws-graviton" or t.vcpus == 1 or t.name.startswith("t2.") else 2
    cores = max(1, t.vcpus // threads)
    output: Params = {
        "InstanceType": t.name,
        "CurrentGeneration": t.name.split(".")[0] not in ("t2",),
        "FreeTierEligible": t.free_tier,
        "SupportedUsageClasses": ["on-demand", "spot"],
        "SupportedRootDeviceTypes": ["ebs"],
        "SupportedVirtualizationTypes": ["hvm"],
        "BareMetal": t.bare_metal,
        "ProcessorInfo": {"SupportedArchitectures": [t.architecture],
                          "Manufacturer": {"intel": "Intel", "amd": "AMD", "aws-graviton": "AWS"}[parsed.processor]},
        "VCpuInfo": {"DefaultVCpus": t.vcpus, "DefaultCores": cores, "DefaultThreadsPerCore": threads,
                     "ValidCores": list(range(1, cores + 1)), "ValidThreadsPerCore": sorted({1, threads})},
        "MemoryInfo": {"SizeInMiB": t.memory_mib},
        "InstanceStorageSupported": t.instance_store_gb > 0,
        "EbsInfo": {"EbsOptimizedSupport": "default", "EncryptionSupport": "supported", "NvmeSupport": "required"},
        "NetworkInfo": {
            "NetworkPerformance": t.network_performance, "MaximumNetworkInterfaces": t.max_interfaces,
            "MaximumNetworkCards": 1, "DefaultNetworkCardIndex": 0,
            "NetworkCards": [{"NetworkCardIndex": 0, "NetworkPerformance": t.network_performance,
                              "MaximumNetworkInterfaces": t.max_interfaces}],
            "Ipv4AddressesPerInterface": t.ipv4_per_interface, "Ipv6AddressesPerInterface": t.ipv4_per_interface,
            "Ipv6Supported": True, "EnaSupport": "required", "EfaSupported": False,
            "EncryptionInTransitSupported": False},
        "PlacementGroupInfo": {"SupportedStrategies": strategies},
        "HibernationSupported": False,
        "BurstablePerformanceSupported": t.burstable,
        "DedicatedHostsSupported": not t.name.startswith("t2."),
        "AutoRecoverySupported": True,
        "SupportedBootModes": ["legacy-bios", "uefi"] if t.architecture == "x86_64" else ["uefi"],
    }
    if not t.bare_metal:
        output["Hypervisor"] = "nitro"
    if t.instance_store_gb:
        per_disk = t.instance_store_gb // t.instance_store_disks
        output["InstanceStorageInfo"] = {"TotalSizeInGB": t.instance_store_gb, "NvmeSupport": "required",
                                         "Disks": [{"SizeInGB": per_disk, "Count": t.instance_store_disks,
                                                    "Type": "ssd"}]}
    return output



@api.operation("DescribeInstanceTypes")
def describe_instance_types(ctx: RequestContext, params: Params) -> Params:
    check_names(params.get("Filters"), INSTANCE_TYPE_FILTERS, tags_key=None)
    wanted = params.get("InstanceTypes") or []
    unknown = [name for name in wanted if name not in CATALOGUE]
    if unknown:
        raise InvalidInstanceType(f"The following supplied instance types do not exist: [{', '.join(unknown)}]")
    items = [type_output(CATALOGUE[name]) for name in (wanted or CATALOGUE)]
    listed, token = describe(items, params, key="InstanceType", fields=INSTANCE_TYPE_FILTERS, page_limits=(5, 100),
                             tags_key=None)
    return listing("InstanceTypes", listed, token)


@api.operation("DescribeInstanceTypeOfferings")
def describe_instance_type_offerings(ctx: RequestContext, params: Params) -> Params:
    """Every type is offered in the region and in each of its zones (a homelab has no per-zone catalogue)."""
    config = ctx.cloud.config
    location_type = params.get("LocationType") or "region"
    if location_type == "region":
        locations = [config.region]
    elif location_type == "availability-zone":
        locations = list(config.availability_zones)
    elif location_type == "availability-zone-id":
        locations = [z["ZoneId"] for z in describe_availability_zones(ctx, {})["AvailabilityZones"]]
    else:
        raise invalid_value(location_type, "LocationType")
    items = [{"InstanceType": name, "LocationType": location_type, "Location": location,
              "_order": f"{name} {location}"} for name in CATALOGUE for location in locations]  # space sorts first
    listed, token = describe(items, params, key="_order", page_limits=(5, 1000), fields=OFFERING_FILTERS,
                             tags_key=None)
    return listing("InstanceTypeOfferings", [{k: v for k, v in o.items() if k != "_order"} for o in listed], token)
