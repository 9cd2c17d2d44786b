#!/usr/bin/env bash
# Installs what `ktstar vm` and `make test-guest` need on a Debian host:
# QEMU for x86 guests, and apt/dpkg tooling to fetch Debian's cloud
# kernel into ~/.cache/ktstar/kernel on first use (it is never installed).
# Run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends qemu-system-x86
