#!/usr/bin/env bash
# Runs every test of Strongroom: installs what the tests need when missing (SoftHSMv2, curl, PostgreSQL,
# a Python virtual environment with awscli and boto3), starts a throwaway PostgreSQL server, builds once,
# runs the AWS CLI/boto3 smoke test and then the whole Rust suite with cargo nextest (unit tests, SigV4
# vectors, aws-sdk-kms end-to-end tests, the store conformance suite on SQLite and PostgreSQL, the
# multi-node tests), the end-to-end suite once more against a 2-node PostgreSQL cluster, and a
# smoke run of every fuzz target (scripts/fuzz.sh).
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
# PostgreSQL: the clustered store's tests run against a real server (never skipped: if it cannot
# start, this script fails).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
STRONGROOM_TEST_POSTGRES_URL=$(scripts/test-postgres.sh start)
export STRONGROOM_TEST_POSTGRES_URL
if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi
if [ ! -x .venv/bin/aws ] || ! .venv/bin/python -c 'import boto3' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check awscli boto3
fi

cargo build --workspace --all-targets --locked
scripts/smoke-awscli.sh
status=0
cargo nextest run --workspace --locked --no-fail-fast || status=$?
# The end-to-end suite once more, every test's KMS a 2-node dev cluster on PostgreSQL with the SDK's
# requests alternating between the nodes. Left out: `upgrade` (it reads a SQLite store an older
# version wrote: one node by nature), `cluster` (its tests start their own nodes), and `root_key`,
# `soak` and `xks::faults` (they start their own `serve` processes: a second run adds nothing).
STRONGROOM_TEST_NODES=2 cargo nextest run -p strongroom --test kms --locked --no-fail-fast \
  -E 'not test(/^(upgrade|cluster|root_key|soak)::/) and not test(/^xks::faults::/)' || status=$?
# A short coverage-guided run of every fuzz target (about a minute; docs/reliability.md).
scripts/fuzz.sh || status=$?
exit $status
