#!/usr/bin/env bash
# Smoke test: the AWS CLI and boto3, configured only by the lines `strongroom dev` prints,
# against a fresh `strongroom dev`. Prints "smoke: N passed, M failed" and fails on any failure.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${STRONGROOM_BIN:-$here/target/debug/strongroom}
venv=${STRONGROOM_VENV:-$here/.venv}
aws="$venv/bin/aws"
work=$(mktemp -d)
out="$work/dev.out"
"$bin" dev --port 0 >"$out" 2>"$work/dev.err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
# Readiness: the export lines appear once the listener is bound.
for _ in $(seq 1 200); do
  grep -q '^export AWS_REGION=' "$out" 2>/dev/null && break
  kill -0 $pid 2>/dev/null || { cat "$work/dev.err"; echo "smoke: strongroom dev exited"; exit 1; }
  sleep 0.05
done
eval "$(grep '^export ' "$out")"
passed=0; failed=0
check() { # name, command...
  local name=$1; shift
  if "$@" >"$work/last.out" 2>"$work/last.err"; then passed=$((passed+1)); echo "ok   $name"
  else failed=$((failed+1)); echo "FAIL $name"; sed 's/^/     /' "$work/last.err" "$work/last.out" | head -20; fi
}
expect_error() { # name, exception, command...
  local name=$1 code=$2; shift 2
  if "$@" >"$work/last.out" 2>"$work/last.err"; then failed=$((failed+1)); echo "FAIL $name (succeeded)"
  elif grep -q "$code" "$work/last.err"; then passed=$((passed+1)); echo "ok   $name"
  else failed=$((failed+1)); echo "FAIL $name"; sed 's/^/     /' "$work/last.err" | head -20; fi
}

key_id=$("$aws" kms create-key --description smoke --query KeyMetadata.KeyId --output text 2>"$work/ck.err")
check "cli create-key" test -n "$key_id"
check "cli describe-key" bash -c "\"$aws\" kms describe-key --key-id $key_id --query KeyMetadata.KeyState --output text | grep -qx Enabled"
check "cli create-alias" "$aws" kms create-alias --alias-name alias/smoke --target-key-id "$key_id"
printf 'attack at dawn' >"$work/pt.bin"
check "cli encrypt" bash -c "\"$aws\" kms encrypt --key-id alias/smoke --plaintext fileb://$work/pt.bin --encryption-context purpose=smoke --query CiphertextBlob --output text | base64 -d >$work/ct.bin"
check "cli decrypt" bash -c "\"$aws\" kms decrypt --ciphertext-blob fileb://$work/ct.bin --encryption-context purpose=smoke --query Plaintext --output text | base64 -d | cmp - $work/pt.bin"
expect_error "cli decrypt, wrong context" InvalidCiphertextException "$aws" kms decrypt --ciphertext-blob "fileb://$work/ct.bin" --encryption-context purpose=other
check "cli generate-data-key" bash -c "\"$aws\" kms generate-data-key --key-id $key_id --key-spec AES_256 --query Plaintext --output text | base64 -d | wc -c | grep -qx 32"
check "cli list-keys" bash -c "\"$aws\" kms list-keys --query 'Keys[].KeyId' --output text | grep -q $key_id"
check "cli list-aliases" bash -c "\"$aws\" kms list-aliases --query 'Aliases[].AliasName' --output text | grep -q alias/smoke"
check "cli tag-resource" "$aws" kms tag-resource --key-id "$key_id" --tags TagKey=team,TagValue=vault
check "cli list-resource-tags" bash -c "\"$aws\" kms list-resource-tags --key-id $key_id --query 'Tags[0].TagValue' --output text | grep -qx vault"
check "cli generate-random" bash -c "\"$aws\" kms generate-random --number-of-bytes 64 --query Plaintext --output text | base64 -d | wc -c | grep -qx 64"
check "cli disable-key" "$aws" kms disable-key --key-id "$key_id"
expect_error "cli encrypt on disabled key" DisabledException "$aws" kms encrypt --key-id "$key_id" --plaintext "fileb://$work/pt.bin"
check "cli schedule-key-deletion" bash -c "\"$aws\" kms schedule-key-deletion --key-id $key_id --pending-window-in-days 7 --query KeyState --output text | grep -qx PendingDeletion"
expect_error "cli unknown key" NotFoundException "$aws" kms describe-key --key-id 00000000-0000-0000-0000-000000000000
AWS_SECRET_ACCESS_KEY=wrong expect_error "cli wrong secret" InvalidSignatureException "$aws" kms list-keys
xks_key=$("$aws" kms create-key --origin EXTERNAL_KEY_STORE --custom-key-store-id "$STRONGROOM_CUSTOM_KEY_STORE_ID" --xks-key-id "$STRONGROOM_XKS_KEY_ID" --query KeyMetadata.KeyId --output text 2>"$work/xk.err")
check "cli create-key in the external key store" test -n "$xks_key"
check "cli describe-custom-key-stores" bash -c "\"$aws\" kms describe-custom-key-stores --custom-key-store-id $STRONGROOM_CUSTOM_KEY_STORE_ID --query 'CustomKeyStores[0].ConnectionState' --output text | grep -qx CONNECTED"
check "cli encrypt with an XKS key" bash -c "\"$aws\" kms encrypt --key-id $xks_key --plaintext fileb://$work/pt.bin --query CiphertextBlob --output text | base64 -d >$work/xct.bin"
check "cli decrypt with an XKS key" bash -c "\"$aws\" kms decrypt --ciphertext-blob fileb://$work/xct.bin --query Plaintext --output text | base64 -d | cmp - $work/pt.bin"
expect_error "cli XksKeyAlreadyInUse" XksKeyAlreadyInUseException "$aws" kms create-key --origin EXTERNAL_KEY_STORE --custom-key-store-id "$STRONGROOM_CUSTOM_KEY_STORE_ID" --xks-key-id "$STRONGROOM_XKS_KEY_ID"
check "boto3 round trip" "$venv/bin/python" "$here/scripts/smoke_boto3.py"

# HTTPS: `dev --tls`, the CLI and boto3 verifying the certificate against the printed CA bundle.
kill $pid 2>/dev/null; wait $pid 2>/dev/null
tls_out="$work/dev-tls.out"
"$bin" dev --port 0 --tls --no-demo-store >"$tls_out" 2>"$work/dev-tls.err" &
pid=$!
for _ in $(seq 1 200); do
  grep -q '^export AWS_REGION=' "$tls_out" 2>/dev/null && break
  kill -0 $pid 2>/dev/null || { cat "$work/dev-tls.err"; echo "smoke: strongroom dev --tls exited"; exit 1; }
  sleep 0.05
done
unset AWS_CA_BUNDLE
eval "$(grep '^export ' "$tls_out")"
check "dev --tls exports an https endpoint" bash -c "case \"$AWS_ENDPOINT_URL\" in https://*) true;; *) false;; esac"
tls_key=$("$aws" kms create-key --description smoke-tls --query KeyMetadata.KeyId --output text 2>"$work/tk.err")
check "cli create-key over HTTPS" test -n "$tls_key"
check "cli encrypt/decrypt over HTTPS" bash -c "\"$aws\" kms encrypt --key-id $tls_key --plaintext fileb://$work/pt.bin --query CiphertextBlob --output text | base64 -d >$work/tct.bin && \"$aws\" kms decrypt --ciphertext-blob fileb://$work/tct.bin --query Plaintext --output text | base64 -d | cmp - $work/pt.bin"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/other-ca.key" \
  -out "$work/other-ca.pem" -subj /CN=another-ca -days 1 2>/dev/null
AWS_CA_BUNDLE="$work/other-ca.pem" expect_error "cli refuses a certificate of another CA" CERTIFICATE_VERIFY_FAILED "$aws" kms list-keys
check "boto3 round trip over HTTPS" "$venv/bin/python" "$here/scripts/smoke_boto3.py"

echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
