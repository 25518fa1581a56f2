#!/usr/bin/env bash
# Runs every test of Strongroom: installs what the tests need when missing (SoftHSMv2, curl, a Python
# virtual environment with awscli and boto3), builds once, runs the AWS CLI/boto3 smoke test and then the
# whole Rust suite with cargo nextest (unit tests, SigV4 vectors, aws-sdk-kms end-to-end tests).
set -euo pipefail
cd "$(dirname "$0")/.."

# SoftHSMv2: the PKCS#11 token the XKS proxy's HSM backend is tested against.
if [ ! -e /usr/lib/softhsm/libsofthsm2.so ] || ! command -v softhsm2-util >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq softhsm2 >/dev/null
fi
# curl with HTTP/2: the XKS proxy is tested with it as AWS's XKS proxy test client runs it.
if ! curl --version 2>/dev/null | grep -q '^Features:.*HTTP2'; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq curl >/dev/null
fi
if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi
if [ ! -x .venv/bin/aws ] || ! .venv/bin/python -c 'import boto3' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check awscli boto3
fi

cargo build --workspace --all-targets --locked
scripts/smoke-awscli.sh
cargo nextest run --workspace --locked --no-fail-fast
