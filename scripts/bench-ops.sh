#!/usr/bin/env bash
# The cost of running it for real: Encrypt (1 KiB) requests/s of `strongroom serve` over HTTPS with
# the audit trail (default durability: buffered; DURABILITY=sync for the other) and the admin
# listener (metrics) on, against the same server without them, in the same run, with `wrk -t1 -c8`
# replaying one pre-signed request.
# Usage: scripts/bench-ops.sh [SECONDS_PER_WINDOW (default 10)] [ROUNDS (default 6)]
# Needs: target/release/strongroom, wrk, openssl, .venv with boto3 (scripts/test.sh makes it).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${STRONGROOM_BIN:-$here/target/release/strongroom}
py=${STRONGROOM_VENV:-$here/.venv}/bin/python
secs=${1:-10}
rounds=${2:-6}
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$work/tls.key" -out "$work/tls.pem" 2>/dev/null
chmod 600 "$work/tls.key"

# start NAME EXTRA_TOML: a fresh `serve` on 127.0.0.1:0 over HTTPS; sets URL_<NAME>, AK, SK.
start() {
  local name=$1 extra=$2 dir="$work/$1"
  "$bin" init --dir "$dir" --listen 127.0.0.1:0 >"$work/$name.init"
  printf '\n[tls]\ncert_file = "%s"\nkey_file = "%s"\n%b' "$work/tls.pem" "$work/tls.key" "$extra" \
    >>"$dir/strongroom.toml"
  RUST_LOG=warn "$bin" serve --config "$dir/strongroom.toml" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  for _ in $(seq 1 200); do
    grep -q '^strongroom: KMS listening on ' "$work/$name.out" 2>/dev/null && break
    sleep 0.05
  done
  local url
  url=$(sed -n 's/^strongroom: KMS listening on //p' "$work/$name.out")
  [ -n "$url" ] || { cat "$work/$name.err"; exit 1; }
  eval "URL_$name=$url"
  AK=$(sed -n 's/^export AWS_ACCESS_KEY_ID=//p' "$work/$name.init")
  SK=$(sed -n 's/^export AWS_SECRET_ACCESS_KEY=//p' "$work/$name.init")
  eval "AK_$name=$AK SK_$name=$SK"
}

# lua URL AK SK: creates a key and writes a wrk script replaying one signed Encrypt of 1 KiB.
lua() {
  "$py" - "$@" <<'PY'
import base64, json, sys, warnings
warnings.filterwarnings("ignore")
import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
url, ak, sk, out = sys.argv[1:5]
kms = boto3.client("kms", endpoint_url=url, region_name="us-east-1", verify=False,
                   aws_access_key_id=ak, aws_secret_access_key=sk)
key = kms.create_key()["KeyMetadata"]["KeyId"]
body = json.dumps({"KeyId": key, "Plaintext": base64.b64encode(b"x" * 1024).decode()})
req = AWSRequest(method="POST", url=url + "/", data=body, headers={
    "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Encrypt"})
SigV4Auth(Credentials(ak, sk), "kms", "us-east-1").add_auth(req)
with open(out, "w") as f:
    f.write('wrk.method = "POST"\n')
    f.write("wrk.body = %s\n" % json.dumps(body))
    for k, v in req.headers.items():
        f.write("wrk.headers[%s] = %s\n" % (json.dumps(k), json.dumps(v)))
PY
}

start plain ""
start ops "\n[audit]\ndir = \"audit\"\ndurability = \"${DURABILITY:-buffered}\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n"
lua "$URL_plain" "$AK_plain" "$SK_plain" "$work/plain.lua"
lua "$URL_ops" "$AK_ops" "$SK_ops" "$work/ops.lua"

# shellcheck source=bench-windows.sh
. "$here/scripts/bench-windows.sh"
echo "# Encrypt 1 KiB over HTTPS, wrk -t1 -c8, ${secs} s windows, $rounds rounds; $(nproc) cores"
compare "$rounds" "$secs" "without audit and metrics" "$URL_plain" "$work/plain.lua" "${pids[0]}" \
  "audit (${DURABILITY:-buffered}) + metrics" "$URL_ops" "$work/ops.lua" "${pids[1]}"
records=$(cat "$work"/ops/audit/audit-*.jsonl | grep -c '^{"eventVersion"' || true)
echo "audit records written by the ops server: $records"
