#!/usr/bin/env bash
# Installs the Debian packages hostgate's demo and tests run for real (etcd members, a DNS server, dialog, s3270),
# only when they are missing. Runs as root (CI, a fresh Debian machine) or through sudo.
set -euo pipefail
need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
command -v dialog >/dev/null 2>&1 || need+=(dialog)   # a real curses program behind the VT test host
command -v s3270 >/dev/null 2>&1 || need+=(s3270)     # a second, independent 3270 client (differential tests)
command -v wrk >/dev/null 2>&1 || need+=(wrk)         # the HTTP load generator of bench/routing.py
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "hostgate: installing Debian packages: ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
