#!/usr/bin/env bash
# Encrypt (1 KiB) on a KMS key in an external key store against the same on an AWS_KMS key, on one
# `strongroom dev --xks-requests-per-second 1000000` (its demo store: the dev XKS proxy with its
# software keystore), in the same run, with `wrk -t1 -c8` replaying one pre-signed request each.
# Usage: scripts/bench-xks-ratio.sh [SECONDS_PER_WINDOW (default 10)] [ROUNDS (default 6)]
# Needs: target/release/strongroom, wrk, .venv with boto3 (scripts/test.sh makes it).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${STRONGROOM_BIN:-$here/target/release/strongroom}
py=${STRONGROOM_VENV:-$here/.venv}/bin/python
secs=${1:-10}
rounds=${2:-6}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

RUST_LOG=warn "$bin" dev --port 0 --xks-requests-per-second 1000000 >"$work/dev.out" 2>"$work/dev.err" &
pid=$!
for _ in $(seq 1 400); do
  grep -q '^export STRONGROOM_CUSTOM_KEY_STORE_ID=' "$work/dev.out" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/dev.err"; exit 1; }
  sleep 0.05
done
eval "$(grep '^export ' "$work/dev.out")"

# Writes a wrk script replaying one signed Encrypt of 1 KiB with a new key: AWS_KMS, or in the
# external key store.
"$py" - "$work" <<'PY'
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

# shellcheck source=bench-windows.sh
. "$here/scripts/bench-windows.sh"
echo "# Encrypt 1 KiB, strongroom dev --xks-requests-per-second 1000000, wrk -t1 -c8, ${secs} s windows; $(nproc) cores"
echo "# (one process: the CPU column is the KMS and its dev proxy together)"
compare "$rounds" "$secs" "AWS_KMS key" "$AWS_ENDPOINT_URL" "$work/aws_kms.lua" "$pid" \
  "external key store key" "$AWS_ENDPOINT_URL" "$work/xks.lua" "$pid"
