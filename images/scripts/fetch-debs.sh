#!/bin/sh
# Download Debian packages (and, with --recurse, their run-time dependency closure) into a cache dir,
# using only the configured Debian registry through apt. Already-downloaded .debs are kept, so a
# second run downloads nothing. Writes DIR/<list-name>.lock: "package version file" per line.
#
#   fetch-debs.sh [--recurse] DIR LIST-NAME PACKAGE...
set -eu
recurse=no
if [ "$1" = "--recurse" ]; then recurse=yes; shift; fi
dir=$1 name=$2; shift 2
mkdir -p "$dir"

resolve() {
    if [ "$recurse" = yes ]; then
        # Depends + Pre-Depends closure; virtual packages (<...>) are provided by real ones in the list.
        apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
            --no-replaces --no-enhances "$@" | grep -v '^ ' | grep -v '^<' | sort -u
    else
        printf '%s\n' "$@"
    fi
}

# The cached .deb of PACKAGE VERSION, if present (apt escapes the epoch's ':' as %3a in file names).
deb_file() {
    base="${1}_$(echo "$2" | sed 's/:/%3a/')"
    for arch in "$(dpkg --print-architecture)" all; do
        if [ -f "$dir/${base}_$arch.deb" ]; then echo "${base}_$arch.deb"; return 0; fi
    done
    return 1
}

packages=$(resolve "$@")
[ -n "$packages" ] || { echo "fetch-debs: nothing resolved for $*" >&2; exit 1; }
lock=$(mktemp)
trap 'rm -f "$lock"' EXIT
for pkg in $packages; do
    version=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
    if [ -z "$version" ] || [ "$version" = "(none)" ]; then
        echo "fetch-debs: $pkg has no installable version (run apt-get update?)" >&2
        exit 1
    fi
    if ! file=$(deb_file "$pkg" "$version"); then
        echo "  fetch   $pkg=$version"
        (cd "$dir" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$version" >/dev/null)
        file=$(deb_file "$pkg" "$version") || { echo "fetch-debs: no .deb for $pkg after download" >&2; exit 1; }
    fi
    echo "$pkg $version $file" >> "$lock"
done
# Only touch the lock when its content changes, so make sees nothing new on a rerun.
if ! cmp -s "$lock" "$dir/$name.lock"; then
    cp "$lock" "$dir/$name.lock"
fi
