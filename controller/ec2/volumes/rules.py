"""EBS's rules for a volume's size, type, IOPS and throughput, device names, and the I/O caps they give.

Pure functions over the request's values, from the EBS volume types page of the Amazon EBS User Guide
(``ebs-volume-types.html``) and CreateVolume's and ModifyVolume's API pages: the size range of each type,
which types take provisioned IOPS and throughput and within what bounds (absolute and per GiB), which take
Multi-Attach. :func:`io_caps` turns a volume into the limits the agent hands libvirt's ``iotune``, so a
volume's provisioned performance really caps the guest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from controller.ec2.errors import InvalidParameterCombination, InvalidParameterValue, MissingParameter

#: The types CreateVolume accepts, and each one's size range in GiB.
SIZE_LIMITS = {"gp2": (1, 16384), "gp3": (1, 16384), "io1": (4, 16384), "io2": (4, 65536),
               "st1": (125, 16384), "sc1": (125, 16384), "standard": (1, 1024)}
VOLUME_TYPES = tuple(SIZE_LIMITS)
#: Provisioned IOPS: (minimum, maximum, maximum per GiB) for the types that take them.
IOPS_LIMITS = {"gp3": (3000, 16000, 500), "io1": (100, 64000, 50), "io2": (100, 256000, 1000)}
#: gp3's throughput in MiB/s: (minimum, maximum), and at most this many MiB/s per provisioned IOPS.
GP3_THROUGHPUT = (125, 1000)
GP3_THROUGHPUT_PER_IOPS = 0.25
GP3_DEFAULTS = (3000, 125)
#: gp2's baseline: 3 IOPS per GiB between 100 and 16000.
GP2_IOPS_PER_GIB, GP2_IOPS = 3, (100, 16000)
#: HDD volumes' baseline throughput per TiB and its ceiling (bursts are not modelled).
HDD_THROUGHPUT = {"st1": (40, 500), "sc1": (12, 192)}
MULTI_ATTACH_TYPES = ("io1", "io2")

#: Device names AWS accepts for EBS volumes on Linux instances (Device naming on Linux instances).
_DEVICE = re.compile(r"/dev/(sd[a-z]|sd[a-z][1-9]|sd[a-z]1[0-5]|xvd[a-z]|xvd[b-c][a-z]|hd[a-z])")


@dataclass(frozen=True)
class VolumeSpec:
    """A volume's checked performance settings (``iops``/``throughput`` None where the type has none)."""

    volume_type: str
    size_gib: int
    iops: int | None
    throughput: int | None
    multi_attach: bool = False


def volume_type(value: str | None, default: str = "gp2") -> str:
    """A VolumeType as stored (the model's enum check already refused unknown ones, in any case)."""
    return (value or default).lower()


def check_spec(kind: str, size: int | None, iops: int | None, throughput: int | None, *,
               multi_attach: bool = False, snapshot_size: int | None = None) -> VolumeSpec:
    """The settings of a new (or modified) volume, or AWS's error for the first rule they break."""
    if size is None:
        if snapshot_size is None:
            raise MissingParameter("The request must contain the parameter size or snapshotId")
        size = snapshot_size
    low, high = SIZE_LIMITS[kind]
    if size < low:
        raise InvalidParameterValue(f"Volume of {size}GiB is too small; minimum is {low}GiB.")
    if size > high:
        raise InvalidParameterValue(f"Volume of {size}GiB is too large; maximum is {high}GiB.")
    if snapshot_size is not None and size < snapshot_size:
        raise InvalidParameterValue(f"Volume of size {size}GiB is smaller than the snapshot, expect size >= "
                                    f"{snapshot_size}GiB")
    if iops is not None and kind not in IOPS_LIMITS:
        raise InvalidParameterCombination(f"The parameter iops is not supported for {kind} volumes.")
    if throughput is not None and kind != "gp3":
        raise InvalidParameterCombination(f"The parameter throughput is not supported for {kind} volumes.")
    if multi_attach and kind not in MULTI_ATTACH_TYPES:
        raise InvalidParameterCombination(f"The Multi-Attach feature is not supported for {kind} volumes; only "
                                          "io1 and io2 volumes can be Multi-Attach enabled.")
    if kind in ("io1", "io2") and iops is None:
        raise MissingParameter(f"The request must contain the parameter iops for {kind} volumes.")
    if kind == "gp3":
        iops = GP3_DEFAULTS[0] if iops is None else iops
        throughput = GP3_DEFAULTS[1] if throughput is None else throughput
    if iops is not None:
        _check_iops(kind, size, iops)
    if throughput is not None and iops is not None:
        _check_throughput(throughput, iops)
    return VolumeSpec(kind, size, iops, throughput, multi_attach)


def _check_iops(kind: str, size: int, iops: int) -> None:
    low, high, per_gib = IOPS_LIMITS[kind]
    if iops < low:
        raise InvalidParameterValue(f"Volume iops of {iops} is too low; minimum is {low}.")
    if iops > high:
        raise InvalidParameterValue(f"Volume iops of {iops} is too high; maximum is {high}.")
    # gp3's 3000 baseline is allowed on any size; above it the ratio applies.
    if iops / size > per_gib and not (kind == "gp3" and iops <= GP3_DEFAULTS[0]):
        raise InvalidParameterValue(f"Iops to volume size ratio of {iops / size:.6f} is too high; maximum is "
                                    f"{per_gib:.6f}.")


def _check_throughput(throughput: int, iops: int) -> None:
    low, high = GP3_THROUGHPUT
    if throughput < low:
        raise InvalidParameterValue(f"Volume throughput of {throughput} is too low; minimum is {low}.")
    if throughput > high:
        raise InvalidParameterValue(f"Volume throughput of {throughput} is too high; maximum is {high}.")
    if throughput > GP3_THROUGHPUT_PER_IOPS * iops and throughput > low:
        raise InvalidParameterValue(f"Throughput (MiBps) to iops ratio of {throughput / iops:.6f} is too high; "
                                    f"maximum is {GP3_THROUGHPUT_PER_IOPS:.6f} MiBps per iops.")


def gp2_baseline(size_gib: int) -> int:
    low, high = GP2_IOPS
    return max(low, min(high, GP2_IOPS_PER_GIB * size_gib))


def shown_iops(kind: str, size_gib: int, iops: int | None) -> int | None:
    """The Iops DescribeVolumes shows: gp2's baseline, the provisioned IOPS, or none (HDD, magnetic)."""
    return gp2_baseline(size_gib) if kind == "gp2" else iops


def io_caps(kind: str, size_gib: int, iops: int | None, throughput: int | None) -> tuple[int | None, int | None]:
    """(IOPS, MiB/s) the hypervisor caps the volume to; None for no cap.

    gp2: its baseline of 3 IOPS/GiB (100 to 16000), 128 MiB/s up to 170 GiB and 250 above; gp3 and
    io1/io2: what is provisioned (io volumes' throughput follows from their IOPS); st1/sc1: their baseline
    throughput per TiB (bursts ignored); standard (magnetic): none.
    """
    if kind == "gp2":
        return gp2_baseline(size_gib), 128 if size_gib <= 170 else 250
    if kind == "gp3":
        return iops or GP3_DEFAULTS[0], throughput or GP3_DEFAULTS[1]
    if kind in ("io1", "io2"):
        return iops, None
    if kind in HDD_THROUGHPUT:
        per_tib, ceiling = HDD_THROUGHPUT[kind]
        return None, max(1, min(ceiling, -(-per_tib * size_gib // 1024)))
    return None, None


def check_device_name(device: str | None) -> str:
    """A device name AttachVolume accepts, or InvalidParameterValue."""
    if not device or not _DEVICE.fullmatch(device):
        raise InvalidParameterValue(f"Value ({device}) for parameter device is invalid. {device} is not a valid EBS "
                                    "device name.")
    return device


def check_modification(current: VolumeSpec, size: int | None, kind: str | None, iops: int | None,
                       throughput: int | None, multi_attach: bool | None) -> VolumeSpec:
    """The target of a ModifyVolume, from the volume's current settings and the request's changes."""
    target_kind = kind or current.volume_type
    target_size = current.size_gib if size is None else size
    if target_size < current.size_gib:
        raise InvalidParameterValue(f"New size cannot be smaller than existing size. Existing size: "
                                    f"{current.size_gib} GiB, requested size: {target_size} GiB.")
    keep_iops = current.iops if target_kind == current.volume_type and target_kind in IOPS_LIMITS else None
    keep_throughput = current.throughput if target_kind == current.volume_type == "gp3" else None
    target_multi = current.multi_attach if multi_attach is None else multi_attach
    spec = check_spec(target_kind, target_size, keep_iops if iops is None else iops,
                      keep_throughput if throughput is None else throughput, multi_attach=target_multi)
    if spec == current:
        raise InvalidParameterCombination("New configuration must differ from the current configuration of the "
                                          f"volume: size {current.size_gib}, type {current.volume_type}.")
    return spec
