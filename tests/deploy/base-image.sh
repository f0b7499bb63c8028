#!/usr/bin/env bash
# Makes the local image debian:bookworm that deploy/Dockerfile starts FROM, since no
# container registry is reachable here: debootstrap a minbase bookworm from the Debian
# mirror of this machine's own apt sources, give it those same sources (so that
# `apt-get update` inside `podman build` reaches the mirror the host reaches), and
# `podman import` it.
#
# The root fs tarball is cached in $REQLENS_TEST_CACHE (/var/cache/reqlens-test), keyed
# by the apt sources it was made from; the imported image carries that key as a label,
# so a second run neither debootstraps nor re-imports (and podman's build cache stays valid).
set -euo pipefail

cache=${REQLENS_TEST_CACHE:-/var/cache/reqlens-test}
image=localhost/debian:bookworm

# The host's apt sources that apt actually reads (*.list, *.sources; not *.disabled-*).
shopt -s nullglob
sources=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
have=()
for f in "${sources[@]}"; do [ -s "$f" ] && have+=("$f"); done
[ ${#have[@]} -gt 0 ] || { echo "base-image: no apt sources on this machine" >&2; exit 1; }

# Only the Debian archive (and its security archive) goes into the image: a third-party
# repository configured on the host (a cloud SDK, nodesource) has no business there.
# Keep the deb822 stanzas / one-line entries whose URI is a Debian archive.
conf=$(mktemp -d)
trap 'rm -rf "$conf"' EXIT
for f in "${have[@]}"; do
	case "$f" in
	*.sources)
		awk 'BEGIN { RS = ""; ORS = "\n\n" }
		     /URIs:[^\n]*debian(-security)?\/?([ \n]|$)/ && /Suites:[^\n]*bookworm/' "$f"
		;;
	*)
		grep -E '^deb[[:space:]].*/debian(-security)?/?[[:space:]]+bookworm' "$f" || true
		;;
	esac
done >"$conf/debian.sources.raw"
if grep -q '^Types:' "$conf/debian.sources.raw"; then list=debian.sources; else list=debian.list; fi
mv "$conf/debian.sources.raw" "$conf/$list"
[ -s "$conf/$list" ] || { echo "base-image: no Debian bookworm entry in ${have[*]}" >&2; exit 1; }
# apt settings the mirror needs (this one serves a dated snapshot: Valid-Until is off).
for f in /etc/apt/apt.conf.d/*; do
	grep -qE 'Acquire::Check-(Valid-Until|Date)' "$f" && cp "$f" "$conf/apt.conf.$(basename "$f")"
done
mirror=$(sed -n -E 's/^URIs:[[:space:]]*([^[:space:]]*\/debian)\/?([[:space:]].*)?$/\1/p; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]*\/debian)\/?[[:space:]].*/\2/p' \
	"$conf/$list" | head -n1)
[ -n "$mirror" ] || { echo "base-image: cannot tell the Debian mirror from the apt sources" >&2; exit 1; }

key=$(cat "$conf"/* <(echo "$mirror") <(dpkg-query -W -f='${Version}' debootstrap) | sha256sum | cut -c1-16)
tarball=$cache/debian-bookworm-minbase-$key.tar

if [ "$(podman image inspect "$image" --format '{{index .Config.Labels "org.reqlens.rootfs"}}' 2>/dev/null)" = "$key" ]; then
	echo "base-image: $image is up to date ($key)"
	exit 0
fi

if [ ! -s "$tarball" ]; then
	mkdir -p "$cache"
	root=$(mktemp -d "$cache/rootfs.XXXXXX")
	trap 'rm -rf "$conf" "$root"' EXIT
	echo "base-image: debootstrap --variant=minbase bookworm from $mirror"
	debootstrap --variant=minbase bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$cache/debootstrap.log" >&2; exit 1; }
	rm -f "$root/etc/apt/sources.list"
	cp "$conf/$list" "$root/etc/apt/sources.list.d/"
	for f in "$conf"/apt.conf.*; do
		[ -e "$f" ] && cp "$f" "$root/etc/apt/apt.conf.d/${f##*/apt.conf.}"
	done
	# What the official image also leaves out: no caches, lists or logs.
	rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
		"$root"/var/log/* "$root"/tmp/*
	# The host's resolver and hosts come from the container runtime at run time.
	: >"$root/etc/resolv.conf"
	tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
	mv "$tarball.tmp" "$tarball"
	rm -rf "$root"
fi

echo "base-image: importing $tarball as $image"
podman import -q --change "LABEL org.reqlens.rootfs=$key" --change 'CMD ["/bin/bash"]' \
	"$tarball" "$image" >/dev/null
