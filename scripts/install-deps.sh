#!/bin/sh
# install-deps.sh — install the Debian packages Artery builds, tests and
# demos with (DESIGN §2). Idempotent: packages already present are skipped,
# and apt-get is not touched at all when nothing is missing.
#
# Usage: scripts/install-deps.sh [--check]
#   --check   list what is missing and exit 1 if anything is; install nothing
set -eu

PKGS="
build-essential cmake pkg-config clang libclang-rt-14-dev
librdkafka-dev libavro-dev libjansson-dev libcriterion-dev
libmicrohttpd-dev libcurl4-openssl-dev libcyaml-dev libyaml-dev
libsqlite3-dev libpq-dev postgresql libssl-dev
kcat python3 python3-hl7 python3-confluent-kafka python3-avro
prometheus docker-compose
"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "install-deps: all dependencies present"
	exit 0
fi

if [ "${1:-}" = "--check" ]; then
	echo "install-deps: missing:$missing"
	exit 1
fi

echo "install-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The postgresql package starts a cluster on install in some images; Artery's
# tests start their own throwaway server, so nothing else is needed here.
echo "install-deps: done"
