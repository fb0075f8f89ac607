"""Instance type names parsed per AWS's scheme, the catalogue's shapes, the homelab scale, DescribeInstanceTypes."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.config import Config
from controller.ec2.instances.instance_types import CATALOGUE, guest_size, lookup, parse_name, type_output
from controller.errors import ServiceError
from tests.unit.harness import InstanceCloud


@pytest.mark.parametrize(("name", "series", "generation", "processor", "capabilities", "flex", "size"), [
    ("m6in.4xlarge", "m", 6, "intel", ("network",), False, "4xlarge"),
    ("t3.micro", "t", 3, "intel", (), False, "micro"),
    ("t4g.nano", "t", 4, "aws-graviton", (), False, "nano"),
    ("c7g.metal", "c", 7, "aws-graviton", (), False, "metal"),
    ("m7i-flex.large", "m", 7, "intel", (), True, "large"),
    ("x2iedn.32xlarge", "x", 2, "intel", ("extra-capacity", "instance-store", "network"), False, "32xlarge"),
    ("r5b.large", "r", 5, "intel", ("block-storage",), False, "large"),
    ("m5zn.xlarge", "m", 5, "intel", ("high-frequency", "network"), False, "xlarge"),
    ("m6a.48xlarge", "m", 6, "amd", (), False, "48xlarge"),
    ("inf2.xlarge", "inf", 2, "intel", (), False, "xlarge"),
])
def test_names_split_into_series_generation_processor_capabilities_and_size(
        name: str, series: str, generation: int, processor: str, capabilities: tuple[str, ...], flex: bool,
        size: str) -> None:
    parsed = parse_name(name)
    assert parsed is not None
    assert (parsed.series, parsed.generation, parsed.processor, parsed.capabilities, parsed.flex, parsed.size) == (
        series, generation, processor, capabilities, flex, size)
    assert parsed.family == name.split(".")[0]


@pytest.mark.parametrize("name", ["m6in", "m6in.huge", "6m.large", "m6y.large", "M5.large", "m5.large.x", ""])
def test_names_off_the_scheme_are_not_parsed(name: str) -> None:
    assert parse_name(name) is None


@pytest.mark.parametrize(("name", "vcpus", "memory_mib", "interfaces", "addresses"), [
    ("t2.micro", 1, 1024, 2, 2), ("t3.micro", 2, 1024, 2, 2), ("t3.nano", 2, 512, 2, 2),
    ("t3.xlarge", 4, 16384, 3, 15), ("m5.large", 2, 8192, 3, 10), ("m5.4xlarge", 16, 65536, 8, 30),
    ("m5.24xlarge", 96, 393216, 15, 50), ("m5.metal", 96, 393216, 15, 50), ("c5.9xlarge", 36, 73728, 8, 30),
    ("r6i.large", 2, 16384, 3, 10), ("m6g.medium", 1, 4096, 2, 4), ("m6in.4xlarge", 16, 65536, 8, 30),
    ("x2idn.32xlarge", 128, 2097152, 15, 50),
])
def test_catalogue_shapes_follow_aws(name: str, vcpus: int, memory_mib: int, interfaces: int, addresses: int) -> None:
    t = CATALOGUE[name]
    assert (t.vcpus, t.memory_mib, t.max_interfaces, t.ipv4_per_interface) == (vcpus, memory_mib, interfaces,
                                                                               addresses)


def test_every_catalogue_name_parses_and_instance_store_comes_with_d() -> None:
    assert len(CATALOGUE) > 200
    for name, t in CATALOGUE.items():
        parsed = parse_name(name)
        assert parsed is not None, name
        assert (t.instance_store_gb > 0) == ("instance-store" in parsed.capabilities), name
    assert CATALOGUE["m5d.large"].instance_store_gb == 75
    assert CATALOGUE["t4g.micro"].architecture == "arm64" and CATALOGUE["t3.micro"].architecture == "x86_64"


def test_unknown_type_is_aws_invalid_parameter_value() -> None:
    with pytest.raises(ServiceError) as excinfo:
        lookup("m9.huge")
    assert excinfo.value.code == "InvalidParameterValue"
    assert lookup(None).name == "t3.micro"


def test_homelab_scale_shrinks_memory_and_caps_vcpus(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path)
    assert guest_size(CATALOGUE["t3.micro"], config) == (s := guest_size(CATALOGUE["t3.micro"], config))
    assert (s.vcpus, s.memory_mib) == (2, 256)
    big = guest_size(CATALOGUE["m5.24xlarge"], config)
    assert (big.vcpus, big.memory_mib) == (4, 98304)
    nano = guest_size(CATALOGUE["t2.nano"], Config(data_dir=tmp_path, instance_memory_scale=0.1))
    assert nano.memory_mib == 128  # the floor
    full = guest_size(CATALOGUE["m5.xlarge"], Config(data_dir=tmp_path, instance_memory_scale=1.0,
                                                     instance_max_vcpus=0))
    assert (full.vcpus, full.memory_mib) == (4, 16384)


def test_type_output_has_aws_members() -> None:
    output = type_output(CATALOGUE["m5d.xlarge"])
    assert output["VCpuInfo"]["DefaultVCpus"] == 4 and output["VCpuInfo"]["DefaultThreadsPerCore"] == 2
    assert output["MemoryInfo"] == {"SizeInMiB": 16384}
    assert output["InstanceStorageInfo"]["TotalSizeInGB"] == 150
    assert output["NetworkInfo"]["MaximumNetworkInterfaces"] == 4
    assert output["ProcessorInfo"]["SupportedArchitectures"] == ["x86_64"]
    assert "cluster" not in type_output(CATALOGUE["t3.micro"])["PlacementGroupInfo"]["SupportedStrategies"]


def test_describe_instance_types_filters_and_pages(ic: InstanceCloud) -> None:
    listed = ic.call("DescribeInstanceTypes", {"InstanceTypes": ["t3.micro", "m5.large"]})["InstanceTypes"]
    assert sorted(t["InstanceType"] for t in listed) == ["m5.large", "t3.micro"]
    ic.refused("DescribeInstanceTypes", {"InstanceTypes": ["t3.micro", "z9.small"]}, "InvalidInstanceType")
    two_vcpu_arm = ic.call("DescribeInstanceTypes", {"Filters": [
        {"Name": "vcpu-info.default-vcpus", "Values": ["2"]},
        {"Name": "processor-info.supported-architecture", "Values": ["arm64"]}]})["InstanceTypes"]
    names = {t["InstanceType"] for t in two_vcpu_arm}
    assert "t4g.micro" in names and "m6g.large" in names and not any(n.startswith("t3.") for n in names)
    seen, token = [], None
    while True:
        page = ic.call("DescribeInstanceTypes", {"MaxResults": 100, **({"NextToken": token} if token else {})})
        seen += [t["InstanceType"] for t in page["InstanceTypes"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == sorted(CATALOGUE)
    offerings = ic.call("DescribeInstanceTypeOfferings", {"LocationType": "availability-zone", "Filters": [
        {"Name": "instance-type", "Values": ["t3.micro"]}]})["InstanceTypeOfferings"]
    assert {o["Location"] for o in offerings} == {"home-1a", "home-1b"}
