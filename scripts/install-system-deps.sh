#!/usr/bin/env bash
# Installs the Debian packages hostgate's demo and tests run for real (etcd members, a DNS server, dialog, s3270, slapd),
# only when they are missing. Runs as root (CI, a fresh Debian machine) or through sudo.
set -euo pipefail
need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
command -v dialog >/dev/null 2>&1 || need+=(dialog)   # a real curses program behind the VT test host
command -v s3270 >/dev/null 2>&1 || need+=(s3270)     # a second, independent 3270 client (differential tests)
command -v wrk >/dev/null 2>&1 || need+=(wrk)         # the HTTP load generator of bench/routing.py
command -v tmux >/dev/null 2>&1 || need+=(tmux)       # drives `hostgate model capture`'s full-screen UI in its tests
# A real directory for the LDAP provider's tests (tests/helpers/slapd.py runs its own slapd on loopback ports).
[ -x /usr/sbin/slapd ] || need+=(slapd)
command -v ldapadd >/dev/null 2>&1 || need+=(ldap-utils)
# Debian's browser for the console and Web Services Explorer tests (Playwright drives it via executable_path).
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "hostgate: installing Debian packages: ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# slapd's postinst would build a default directory from the host name and start a system service listening on
# every interface. The tests configure their own slapd from an LDIF, so: tell debconf to skip the default
# configuration, and (only when the machine has no policy of its own) forbid invoke-rc.d from starting any
# service during this install (policy-rc.d exit 101, Debian policy §9.3.3) — then nothing needs stopping, and a
# machine without systemd is fine. A policy-rc.d that was already there is left alone.
policy_made=""
if [[ " ${need[*]} " == *" slapd "* ]]; then
  echo "slapd slapd/no_configuration boolean true" | $SUDO debconf-set-selections
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    policy_made=1
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
if [ -n "$policy_made" ]; then
  $SUDO rm -f /usr/sbin/policy-rc.d
  trap - EXIT
fi
