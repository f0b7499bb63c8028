#!/usr/bin/env bash
# Installs the Debian packages reqlens needs, only those that are missing.
#   scripts/deps.sh build   what `make` needs
#   scripts/deps.sh test    what `make test` needs as well
#   scripts/deps.sh bench   what `make bench` needs as well
set -euo pipefail

build=(clang llvm make gcc pkg-config libbpf-dev bpftool libelf-dev zlib1g-dev libmicrohttpd-dev libjson-c-dev
	libcurl4-openssl-dev libcapstone-dev)
test=(libcmocka-dev prometheus wrk curl python3 iproute2 iptables util-linux procps nginx-light redis-tools
	systemtap-sdt-dev chromium fonts-dejavu-core golang-go
	python3-fastapi python3-uvicorn python3-httpx python3-redis redis-server)

bench=(nginx-light wrk curl python3 util-linux bpftrace)

want=("${build[@]}")
case "${1:-build}" in
test) want+=("${test[@]}") ;;
bench) want+=("${bench[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "reqlens: missing Debian packages: ${missing[*]}; run as root to install them" >&2
	exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
