#!/bin/sh
# Prints the Debian packages that provide the shared libraries BINARY links directly
# (its DT_NEEDED entries), one a line: what the runtime image must install for it.
# apt brings their own dependencies. Used by deploy/Dockerfile's build stage.
#   runtime-packages.sh BINARY
set -eu
bin=$1
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
map=$(ldd "$bin")
for lib in $needed; do
	path=$(printf '%s\n' "$map" | awk -v l="$lib" '$1 == l && $2 == "=>" { print $3 }')
	[ -n "$path" ] || { echo "runtime-packages: $lib: not found by ldd" >&2; exit 1; }
	real=$(realpath "$path")
	pkg=''
	# dpkg knows each file by the path its package ships, /lib or /usr/lib (usrmerge).
	for p in "$path" "$real" "${path#/usr}" "/usr$path" "${real#/usr}" "/usr$real"; do
		pkg=$(dpkg -S "$p" 2>/dev/null | sed -n 's/^\([^:, ]*\).*: .*/\1/p' | head -n 1)
		[ -n "$pkg" ] && break
	done
	[ -n "$pkg" ] || { echo "runtime-packages: no Debian package owns $path" >&2; exit 1; }
	echo "$pkg"
done | sort -u
