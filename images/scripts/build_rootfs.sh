#!/bin/sh
# Build the tiny AMI's root disk: busybox + dropbear + resize2fs + python3 and their libraries from Debian .debs,
# the boot scripts in tiny/rootfs, made into ext4 by mke2fs -d (no loop mount) and converted to qcow2.
#
#   build_rootfs.sh DEBS-DIR LOCK... -- OVERLAY-DIR[:OVERLAY-DIR...] WORK-DIR OUTPUT.qcow2 SIZE
#
# Overlays are copied in order onto the staged tree (the boot scripts; the kernel modules loaded on
# demand, from stage_modules.py).
# Every LOCK file lists "package version file" lines (from fetch-debs.sh); all their packages are
# unpacked into WORK-DIR/pkgroot, from which only the needed programs and libraries are taken.
set -eu
debs=$1; shift
locks=""
while [ "$1" != "--" ]; do locks="$locks $1"; shift; done
shift
overlay=$1 work=$2 output=$3 size=$4

[ "$(id -u)" = 0 ] || { echo "build_rootfs: run as root (file ownership in the image is taken from the tree)" >&2; exit 1; }

pkgroot=$work/pkgroot stage=$work/stage
rm -rf "$pkgroot" "$stage"
mkdir -p "$pkgroot" "$stage"

echo "  unpack  $(cat $locks | wc -l) packages"
cat $locks | while read -r _pkg _version file; do
    dpkg-deb -x "$debs/$file" "$pkgroot"
done

# Programs: busybox (static) and its applet links, then the dynamically linked extras.
mkdir -p "$stage/bin"
cp "$pkgroot/bin/busybox" "$stage/bin/busybox"
"$stage/bin/busybox" --list-full | while read -r applet; do
    mkdir -p "$stage/$(dirname "$applet")"
    [ -e "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet"
done
install_program() {  # SOURCE-PATH-IN-PKGROOT TARGET-PATH
    mkdir -p "$stage/$(dirname "$2")"
    rm -f "$stage/$2"
    cp "$pkgroot/$1" "$stage/$2"
}
install_program usr/sbin/dropbear usr/sbin/dropbear
install_program usr/bin/dropbearkey usr/bin/dropbearkey
install_program sbin/resize2fs sbin/resize2fs
programs="usr/sbin/dropbear usr/bin/dropbearkey sbin/resize2fs"

# Python, when the packages carry it (the Systems Manager agent runs on it): the interpreter and its
# standard library without what no agent or user script here needs (GUI, test and packaging tools).
python=usr/bin/python3.11
if [ -e "$pkgroot/$python" ]; then
    install_program $python $python
    ln -sf python3.11 "$stage/usr/bin/python3"
    mkdir -p "$stage/usr/lib/python3.11" "$stage/etc"
    cp -a "$pkgroot/usr/lib/python3.11/." "$stage/usr/lib/python3.11/"
    cp -a "$pkgroot/etc/python3.11" "$stage/etc/"  # sitecustomize.py links there
    (cd "$stage/usr/lib/python3.11" && rm -rf idlelib tkinter turtledemo turtle.py lib2to3 ensurepip pydoc_data \
        distutils unittest sqlite3 dbm curses config-3.11-x86_64-linux-gnu lib-dynload/_sqlite3.* \
        lib-dynload/_dbm.* lib-dynload/_gdbm.* lib-dynload/_curses* lib-dynload/readline.* lib-dynload/_tkinter.*)
    programs="$programs $python $(cd "$stage" && ls usr/lib/python3.11/lib-dynload/*.so)"
fi

# Libraries: ask the target's own dynamic loader which files each program needs, searching only the
# unpacked packages; anything resolved outside them means a package is missing from the list.
ldso=$pkgroot/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
libpath=$pkgroot/lib/x86_64-linux-gnu:$pkgroot/usr/lib/x86_64-linux-gnu
for program in $programs; do
    "$ldso" --library-path "$libpath" --list "$stage/$program" | awk '$2 == "=>" {print $3}'
done | sort -u | while read -r lib; do
    case "$lib" in
    "$pkgroot"/*) ;;
    *) echo "build_rootfs: $lib is not from the listed packages: add its package" >&2; exit 1 ;;
    esac
    relative=${lib#"$pkgroot"/}
    mkdir -p "$stage/$(dirname "$relative")"
    cp -L "$lib" "$stage/$relative"
done
mkdir -p "$stage/lib64"
cp -L "$ldso" "$stage/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
ln -sf /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$stage/lib64/ld-linux-x86-64.so.2"

# Boot scripts and configuration, then the directories and modes git cannot carry.
echo "$overlay" | tr ':' '\n' | while read -r layer; do cp -a "$layer/." "$stage/"; done
# Byte-compiled once here (hash-checked, so the pinned timestamps below do not matter): under emulation
# compiling at every boot would cost seconds.
if [ -e "$stage/$python" ]; then
    PYTHONHOME=$stage/usr "$ldso" --library-path "$libpath" "$stage/$python" -m compileall -q -j 0 \
        --invalidation-mode unchecked-hash -s "$stage" -p / "$stage/usr/lib" >/dev/null
fi
for dir in dev proc sys run tmp var/log var/lib/cloudlet etc/dropbear; do mkdir -p "$stage/$dir"; done
mkdir -p -m 700 "$stage/root"
chmod 640 "$stage/etc/shadow"
chmod 1777 "$stage/tmp"
ln -sf /proc/mounts "$stage/etc/mtab"

# Same timestamps on every build (the image's content, not the build date, decides its bytes).
find "$stage" -exec touch -h -d "@${SOURCE_DATE_EPOCH:-0}" {} +

echo "  mke2fs  $(du -sh "$stage" | cut -f1) tree -> ext4 of $size"
raw=$work/root.raw
rm -f "$raw"
truncate -s "$size" "$raw"
# Fixed UUID, hash seed and timestamps: the same inputs give the same image.
E2FSPROGS_FAKE_TIME=${SOURCE_DATE_EPOCH:-0} mke2fs -q -F -t ext4 -b 4096 -L cloudlet-root \
    -U 6c1d1e70-7a2b-4c3d-9e8f-0123456789ab -E root_owner=0:0,hash_seed=6c1d1e70-7a2b-4c3d-9e8f-0123456789ab \
    -d "$stage" "$raw" "$size"
# mke2fs copies each file's ctime, which touch cannot set, and its atime, which reading the tree bumps:
# pin both in the image, or no two builds are equal.
(cd "$stage" && find . | sed 's|^\.||; s|^$|/|' | while read -r path; do
    echo "set_inode_field \"$path\" ctime @${SOURCE_DATE_EPOCH:-0}"
    echo "set_inode_field \"$path\" atime @${SOURCE_DATE_EPOCH:-0}"
done) > "$work/ctimes.debugfs"
E2FSPROGS_FAKE_TIME=${SOURCE_DATE_EPOCH:-0} debugfs -w -f "$work/ctimes.debugfs" "$raw" >/dev/null 2>"$work/ctimes.log" || { cat "$work/ctimes.log" >&2; exit 1; }
qemu-img convert -f raw -O qcow2 "$raw" "$output.partial"
mv "$output.partial" "$output"
rm -f "$raw"
echo "  qcow2   $(basename "$output"): $(du -h "$output" | cut -f1) on disk, virtual $size"
