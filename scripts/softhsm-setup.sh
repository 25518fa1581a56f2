#!/usr/bin/env bash
# Sets up a SoftHSMv2 token for the PKCS#11 backend of `strongroom xks-proxy` (tests, local runs).
#
#   scripts/softhsm-setup.sh DIR [LABEL] [USER_PIN] [SO_PIN]
#
# Writes DIR/softhsm2.conf (tokens in DIR/tokens) and, with SOFTHSM2_CONF pointing at it,
# initializes a token labelled LABEL (default `strongroom`) with the given PINs (defaults
# `1234` / `12345678`) in the first free slot. Idempotent: an existing token with that label is
# left alone, and the configuration file is rewritten with the same content. Several labels may
# be set up in one DIR by calling the script once per label.
#
# Prints the environment line to use, e.g.
#   export SOFTHSM2_CONF=/tmp/hsm/softhsm2.conf
# Needs Debian's `softhsm2` package (`apt-get install -y softhsm2`).
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 4 ]; then
  echo "usage: $0 DIR [LABEL] [USER_PIN] [SO_PIN]" >&2
  exit 2
fi
dir=$1
label=${2:-strongroom}
pin=${3:-1234}
so_pin=${4:-12345678}

if ! command -v softhsm2-util >/dev/null 2>&1; then
  echo "softhsm2-util not found: install SoftHSMv2 (apt-get install -y softhsm2)" >&2
  exit 1
fi

mkdir -p "$dir/tokens"
dir=$(cd "$dir" && pwd)
conf="$dir/softhsm2.conf"
cat >"$conf" <<EOF
# Written by strongroom scripts/softhsm-setup.sh
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
export SOFTHSM2_CONF=$conf

# `--show-slots` prints one "Label:" line per initialized token (labels are padded to 32 chars).
if softhsm2-util --show-slots 2>/dev/null | sed -n 's/^[[:space:]]*Label:[[:space:]]*//p' \
  | sed 's/[[:space:]]*$//' | grep -Fxq -- "$label"; then
  : # already initialized
else
  softhsm2-util --init-token --free --label "$label" --so-pin "$so_pin" --pin "$pin" >/dev/null
fi

echo "export SOFTHSM2_CONF=$conf"
