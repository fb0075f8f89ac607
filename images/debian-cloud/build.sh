#!/bin/sh
# Debian 12 cloud image: debootstrap minbase + cloud-init (EC2 datasource) + OpenSSH + the Systems Manager
# agent, as an ext4 root disk (mke2fs -d, no loop mount) in qcow2. It boots with the tiny AMI's kernel and
# initramfs (direct kernel boot: the image carries no kernel or bootloader), so Debian's own initrd, which
# panics in small guests, is never needed.
#
#   build.sh WORK-DIR OUTPUT.qcow2 [SIZE]
#
# The Debian mirror is the one apt is configured with (DEBIAN_MIRROR overrides); nothing else is fetched.
set -eu
work=$1 output=$2 size=${3:-2G}
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "debian-cloud: run as root (debootstrap)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debian-cloud: apt-get install debootstrap" >&2; exit 1; }

mirror=${DEBIAN_MIRROR:-$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)}
mirror=${mirror:-$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)}
[ -n "$mirror" ] || { echo "debian-cloud: no Debian mirror configured for apt (set DEBIAN_MIRROR)" >&2; exit 1; }

# debootstrap does not resolve virtual packages: python3-cffi-backend provides what python3-cryptography needs.
packages=systemd-sysv,udev,dbus,cloud-init,python3-cffi-backend,openssh-server,sudo,ifupdown,isc-dhcp-client,netbase,e2fsprogs,iproute2,less
# The AWS CLI and boto3 with the region alone reach the Cloudlet API by AWS's names (the VPC resolver and the
# agent's relay), trusting the cloud's CA that cloudlet-ca.service installs at boot; curl fetches it.
packages=$packages,python3-boto3,awscli,curl,ca-certificates
target=$work/rootfs
rm -rf "$target"
mkdir -p "$work"
echo "  debootstrap bookworm minbase from $mirror (+ $packages)"
mkdir -p "$work/debs"
debootstrap --variant=minbase --cache-dir="$(cd "$work/debs" && pwd)" --include="$packages" bookworm "$target" "$mirror" > "$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    exit 1
}

echo "  configure cloud-init (EC2 datasource), fstab, network, services"
cp "$here/90-cloudlet.cfg" "$target/etc/cloud/cloud.cfg.d/90-cloudlet.cfg"
printf 'policy: enabled\n' > "$target/etc/cloud/ds-identify.cfg"
printf 'LABEL=cloudlet-root / ext4 rw,errors=remount-ro 0 1\n' > "$target/etc/fstab"
printf 'auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n' > "$target/etc/network/interfaces"
printf 'debian\n' > "$target/etc/hostname"
install -D -m 0755 "$here/cloudlet-ca" "$target/usr/lib/cloudlet/cloudlet-ca"
install -D -m 0644 "$here/cloudlet-ca.service" "$target/etc/systemd/system/cloudlet-ca.service"
mkdir -p "$target/etc/systemd/system/multi-user.target.wants"
ln -sf ../cloudlet-ca.service "$target/etc/systemd/system/multi-user.target.wants/cloudlet-ca.service"
# Systems Manager: Cloudlet's agent (standard library only: the image's python3 runs it) and its unit.
mkdir -p "$target/usr/lib/cloudlet-ssm-agent"
tar -C "$here/../ssm-agent" --exclude=__pycache__ -cf - . | tar -C "$target/usr/lib/cloudlet-ssm-agent" -xf -
install -D -m 0644 "$here/cloudlet-ssm-agent.service" "$target/etc/systemd/system/cloudlet-ssm-agent.service"
ln -sf ../cloudlet-ssm-agent.service "$target/etc/systemd/system/multi-user.target.wants/cloudlet-ssm-agent.service"
# EC2 Instance Connect: sshd asks the metadata service for keys pushed with SendSSHPublicKey.
install -D -m 0755 "$here/eic-authorized-keys" "$target/usr/lib/cloudlet/eic-authorized-keys"
install -D -m 0644 "$here/60-instance-connect.conf" "$target/etc/ssh/sshd_config.d/60-instance-connect.conf"
# Each instance makes its own host keys (cloud-init's ssh module); none may ship in the image.
rm -f "$target"/etc/ssh/ssh_host_*
# Boot-time work an instance does not need: ~7 s under TCG.
for unit in e2scrub_reap.service e2scrub_all.timer apt-daily.timer apt-daily-upgrade.timer fstrim.timer \
    systemd-timesyncd.service; do
    ln -sf /dev/null "$target/etc/systemd/system/$unit"
done
# The machine-id is made at first boot, so instances do not share one.
: > "$target/etc/machine-id"
rm -f "$target/var/lib/dbus/machine-id"
chroot "$target" apt-get clean
rm -rf "$target"/var/lib/apt/lists/* "$target"/var/log/*.log "$target"/tmp/*

echo "  mke2fs  $(du -sh "$target" | cut -f1) tree -> ext4 of $size"
raw=$work/root.raw
rm -f "$raw"
truncate -s "$size" "$raw"
E2FSPROGS_FAKE_TIME=${SOURCE_DATE_EPOCH:-0} mke2fs -q -F -t ext4 -b 4096 -L cloudlet-root -E root_owner=0:0 \
    -d "$target" "$raw" "$size"
qemu-img convert -f raw -O qcow2 "$raw" "$output.partial"
mv "$output.partial" "$output"
rm -f "$raw"
echo "  qcow2   $(basename "$output"): $(du -h "$output" | cut -f1) on disk, virtual $size"
