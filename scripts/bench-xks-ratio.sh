#!/usr/bin/env bash
# Encrypt (1 KiB) on a KMS key in an external key store against the same on an AWS_KMS key, on one
# `strongroom dev --xks-requests-per-second 1000000` (its demo store: the dev XKS proxy with its
# software keystore), in the same run, with `wrk -t1 -c8` replaying one pre-signed request each.
# With BASELINE_BIN set, compares instead the external key store key on a `dev` of that build
# (A) with the same on this build (B), both running, in the same rounds.
# Usage: [BASELINE_BIN=path] scripts/bench-xks-ratio.sh [SECONDS_PER_WINDOW (default 10)] [ROUNDS (default 6)]
# Needs: target/release/strongroom, wrk, .venv with boto3 (scripts/test.sh makes it).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${STRONGROOM_BIN:-$here/target/release/strongroom}
py=${STRONGROOM_VENV:-$here/.venv}/bin/python
secs=${1:-10}
rounds=${2:-6}
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT

# start_dev BIN DIR: starts a dev of BIN whose files go to DIR (dev.out, pid, url) and writes
# DIR/aws_kms.lua and DIR/xks.lua, wrk scripts replaying one signed Encrypt of 1 KiB with a new
# key: AWS_KMS, or in the external key store.
start_dev() {
  local dir=$2 pid
  mkdir -p "$dir"
  RUST_LOG=warn "$1" dev --port 0 --xks-requests-per-second 1000000 >"$dir/dev.out" 2>"$dir/dev.err" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 400); do
    grep -q '^export STRONGROOM_CUSTOM_KEY_STORE_ID=' "$dir/dev.out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/dev.err"; exit 1; }
    sleep 0.05
  done
  echo "$pid" >"$dir/pid"
  (
    eval "$(grep '^export ' "$dir/dev.out")"
    echo "$AWS_ENDPOINT_URL" >"$dir/url"
    "$py" - "$dir" <<'PY'
import base64, json, os, sys
import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
work = sys.argv[1]
url, region = os.environ["AWS_ENDPOINT_URL"], os.environ["AWS_REGION"]
creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
kms = boto3.client("kms", endpoint_url=url, region_name=region)
keys = {
    "aws_kms": kms.create_key()["KeyMetadata"]["KeyId"],
    "xks": kms.create_key(Origin="EXTERNAL_KEY_STORE",
                          CustomKeyStoreId=os.environ["STRONGROOM_CUSTOM_KEY_STORE_ID"],
                          XksKeyId=os.environ["STRONGROOM_XKS_KEY_ID"])["KeyMetadata"]["KeyId"],
}
for name, key in keys.items():
    body = json.dumps({"KeyId": key, "Plaintext": base64.b64encode(b"x" * 1024).decode()})
    req = AWSRequest(method="POST", url=url + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Encrypt"})
    SigV4Auth(creds, "kms", region).add_auth(req)
    with open(f"{work}/{name}.lua", "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write("wrk.body = %s\n" % json.dumps(body))
        for k, v in req.headers.items():
            f.write("wrk.headers[%s] = %s\n" % (json.dumps(k), json.dumps(v)))
PY
  )
}

# shellcheck source=bench-windows.sh
. "$here/scripts/bench-windows.sh"
echo "# Encrypt 1 KiB, strongroom dev --xks-requests-per-second 1000000, wrk -t1 -c8, ${secs} s windows; $(nproc) cores"
echo "# (one process per dev: the CPU column is the KMS and its dev proxy together)"
if [ -n "${BASELINE_BIN:-}" ]; then
  start_dev "$BASELINE_BIN" "$work/a"
  start_dev "$bin" "$work/b"
  compare "$rounds" "$secs" \
    "baseline XKS key" "$(cat "$work/a/url")" "$work/a/xks.lua" "$(cat "$work/a/pid")" \
    "this build XKS key" "$(cat "$work/b/url")" "$work/b/xks.lua" "$(cat "$work/b/pid")"
else
  start_dev "$bin" "$work/b"
  compare "$rounds" "$secs" \
    "AWS_KMS key" "$(cat "$work/b/url")" "$work/b/aws_kms.lua" "$(cat "$work/b/pid")" \
    "external key store key" "$(cat "$work/b/url")" "$work/b/xks.lua" "$(cat "$work/b/pid")"
fi
