#!/usr/bin/env python3
"""Makes the upgrade fixture: a `strongroom dev` data directory written by the current code,
with keys, aliases, tags, grants, a key policy and ciphertexts (AWS_KMS and external key store
keys), and manifest.json listing what a later version must still read and decrypt.

    .venv/bin/python scripts/make-upgrade-fixture.py target/debug/strongroom DIR

The upgrade test (crates/strongroom/tests/kms/upgrade.rs) copies DIR, starts `strongroom dev
--data-dir` on it and checks the manifest. Run it only to make a new fixture for a new format.
"""
import base64, json, os, signal, subprocess, sys, time

import boto3

binary, out_dir = sys.argv[1], sys.argv[2]
os.makedirs(out_dir, exist_ok=False)
proc = subprocess.Popen([binary, "dev", "--port", "0", "--data-dir", out_dir],
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
env = {}
for line in proc.stdout:
    if line.startswith("export "):
        k, v = line[len("export "):].strip().split("=", 1)
        env[k] = v
        if k == "STRONGROOM_XKS_SPARE_KEY_ID":
            break
kms = boto3.client("kms", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                   aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                   aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
account = kms.create_key(Description="probe")["KeyMetadata"]["AWSAccountId"]

def key(**kw):
    return kms.create_key(**kw)["KeyMetadata"]["KeyId"]

manifest = {"keys": [], "ciphertexts": [], "aliases": [], "grants": []}
plain = key(Description="plain", Tags=[{"TagKey": "team", "TagValue": "blue"}])
policy = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
     "Action": "kms:*", "Resource": "*"}]})
custom = key(Description="custom policy", Policy=policy)
disabled = key(Description="disabled")
doomed = key(Description="pending deletion")
external = key(Description="external", Origin="EXTERNAL_KEY_STORE",
               CustomKeyStoreId=env["STRONGROOM_CUSTOM_KEY_STORE_ID"],
               XksKeyId=env["STRONGROOM_XKS_KEY_ID"])
kms.create_alias(AliasName="alias/fixture", TargetKeyId=plain)
manifest["aliases"].append({"name": "alias/fixture", "target": plain})
grant = kms.create_grant(KeyId=plain, GranteePrincipal=f"arn:aws:iam::{account}:user/admin",
                         Operations=["Encrypt", "Decrypt"], Name="fixture-grant")
manifest["grants"].append({"key": plain, "grant_id": grant["GrantId"]})
for k, ctx in [(plain, {}), (plain, {"purpose": "fixture", "n": "1"}), (custom, {}),
               (disabled, {}), (external, {"xks": "yes"})]:
    pt = os.urandom(64)
    ct = kms.encrypt(KeyId=k, Plaintext=pt, EncryptionContext=ctx)["CiphertextBlob"]
    manifest["ciphertexts"].append({"key": k, "context": ctx,
                                    "plaintext": base64.b64encode(pt).decode(),
                                    "ciphertext": base64.b64encode(ct).decode()})
dk = kms.generate_data_key(KeyId="alias/fixture", KeySpec="AES_256")
manifest["ciphertexts"].append({"key": plain, "context": {},
                                "plaintext": base64.b64encode(dk["Plaintext"]).decode(),
                                "ciphertext": base64.b64encode(dk["CiphertextBlob"]).decode()})
kms.disable_key(KeyId=disabled)
kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=30)
for k, state, desc in [(plain, "Enabled", "plain"), (custom, "Enabled", "custom policy"),
                       (disabled, "Disabled", "disabled"), (doomed, "PendingDeletion", "pending deletion"),
                       (external, "Enabled", "external")]:
    manifest["keys"].append({"key": k, "state": state, "description": desc})
manifest["account"] = account
manifest["tags"] = {plain: {"team": "blue"}}
proc.send_signal(signal.SIGTERM)
proc.wait(timeout=20)
with open(os.path.join(out_dir, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
print("fixture written to", out_dir)
