#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/ from the project's
test vectors and fixtures: the AWS SigV4 test suite (crates/sigv4/tests/vectors), the upgrade
fixture's configuration, root key and XKS files (crates/strongroom/tests/fixtures), the TOML
examples of docs/, the policy documents of the policy tests, and request bodies and blobs
built here in the documented formats. Seeds are named by the SHA-1 of their content, as
libFuzzer names what it finds, so rerunning this script adds nothing twice.

Run from anywhere: python3 fuzz/seeds.py
"""
import base64
import glob
import hashlib
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def read(path, mode="r"):
    with open(os.path.join(ROOT, path), mode) as f:
        return f.read()


def b64(b):
    return base64.b64encode(b).decode()


# kms_request: first byte = index into Operation::ALL (name order), then the body.
ops_src = read("crates/kms-api/src/operation.rs")
all_block = ops_src[ops_src.index("pub const ALL"):]
all_block = all_block[: all_block.index("];")]
OPS = re.findall(r"Operation::(\w+)", all_block)
KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
ARN = "arn:aws:kms:us-east-1:111122223333:key/" + KEY
BODIES = {
    "Encrypt": {"KeyId": KEY, "Plaintext": b64(b"hello"), "EncryptionContext": {"App": "billing"}},
    "Decrypt": {"CiphertextBlob": b64(b"SR\x01\x81" + bytes(80)), "KeyId": ARN,
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT", "GrantTokens": ["t"]},
    "ReEncrypt": {"CiphertextBlob": b64(bytes(90)), "DestinationKeyId": "alias/other"},
    "GenerateDataKey": {"KeyId": "alias/app", "KeySpec": "AES_256", "EncryptionContext": {"a": "b"}},
    "GenerateDataKeyWithoutPlaintext": {"KeyId": KEY, "NumberOfBytes": 32},
    "GenerateDataKeyPair": {"KeyId": KEY, "KeyPairSpec": "ECC_NIST_P256"},
    "GenerateRandom": {"NumberOfBytes": 64},
    "CreateKey": {"Description": "d", "KeyUsage": "SIGN_VERIFY", "KeySpec": "ECC_NIST_P384",
                  "Tags": [{"TagKey": "team", "TagValue": "blue"}], "MultiRegion": False,
                  "Policy": json.dumps({"Version": "2012-10-17", "Statement": []})},
    "CreateAlias": {"AliasName": "alias/app", "TargetKeyId": KEY},
    "CreateGrant": {"KeyId": KEY, "GranteePrincipal": "arn:aws:iam::111122223333:role/R",
                    "Operations": ["Encrypt", "Decrypt"],
                    "Constraints": {"EncryptionContextSubset": {"App": "x"}}},
    "Sign": {"KeyId": KEY, "Message": b64(bytes(32)), "MessageType": "DIGEST",
             "SigningAlgorithm": "ECDSA_SHA_256"},
    "Verify": {"KeyId": KEY, "Message": b64(b"m"), "Signature": b64(bytes(64)),
               "SigningAlgorithm": "ECDSA_SHA_256"},
    "GenerateMac": {"KeyId": KEY, "Message": b64(b"m"), "MacAlgorithm": "HMAC_SHA_256"},
    "PutKeyPolicy": {"KeyId": KEY, "PolicyName": "default",
                     "Policy": json.dumps({"Version": "2012-10-17", "Statement": []}),
                     "BypassPolicyLockoutSafetyCheck": True},
    "ScheduleKeyDeletion": {"KeyId": KEY, "PendingWindowInDays": 7},
    "ListKeys": {"Limit": 10, "Marker": "m"},
    "CreateCustomKeyStore": {"CustomKeyStoreName": "s", "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
                             "XksProxyUriEndpoint": "https://xks.example.com",
                             "XksProxyUriPath": "/kms/xks/v1",
                             "XksProxyConnectivity": "PUBLIC_ENDPOINT",
                             "XksProxyAuthenticationCredential": {
                                 "AccessKeyId": "ABCDEFGHIJKLMNOPQRST",
                                 "RawSecretAccessKey": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}},
    "ImportKeyMaterial": {"KeyId": KEY, "ImportToken": b64(bytes(40)),
                          "EncryptedKeyMaterial": b64(bytes(256)),
                          "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"},
}
for i, op in enumerate(OPS):
    put("kms_request", bytes([i]) + b"{}")
    if op in BODIES:
        put("kms_request", bytes([i]) + json.dumps(BODIES[op]).encode())

# sigv4_request: the AWS SigV4 test suite, each request with its Authorization header.
# sigv4_authorization: the suite's Authorization values.
for d in sorted(glob.glob(os.path.join(ROOT, "crates/sigv4/tests/vectors/*/"))):
    try:
        req = read(os.path.join(d, "request.txt")).replace("\r\n", "\n")
        auth = read(os.path.join(d, "authorization.txt")).strip()
    except FileNotFoundError:
        continue
    put("sigv4_authorization", auth)
    head, sep, body = req.partition("\n\n")
    if "\nAuthorization:" not in head:
        head = head.rstrip("\n") + "\nAuthorization:" + auth
    put("sigv4_request", head + "\n\n" + body if sep else head + "\n")

# blob: blobs in the documented layout (single and external layers, each key id form).
def blob(form, key_id, layer, rest):
    out = b"SR\x01" + bytes([form]) + key_id + bytes(range(32)) + b"\x01" + bytes([layer]) + bytes(12)
    return out + rest


single = bytes(5) + bytes(16)
external = b"\x0c" + bytes(12) + b"\x01\x01" + (21).to_bytes(2, "big") + bytes(21) + bytes(16)
for form, kid in [(0x81, bytes(16)), (0x82, bytes(range(16))), (0x01, b"x"), (0x10, b"alias-like-key!!")]:
    put("blob", blob(form, kid, 0, single))
    put("blob", blob(form, kid, 1, external))

# root_key_file: the upgrade fixture's root key.
put("root_key_file", read("crates/strongroom/tests/fixtures/store-v1/root.key"))

# policy: first byte picks the kind and the principal; the rest is the document.
policies = set()
for path in glob.glob(os.path.join(ROOT, "crates/policy/tests/suite/*.rs")):
    for m in re.finditer(r'r#"(\{.*?\})"#', read(path), re.S):
        policies.add(m.group(1))
policies.add(json.dumps({"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{
    "Sid": "Enable IAM User Permissions", "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]}))
policies.add(json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Deny", "NotPrincipal": {"AWS": ["arn:aws:iam::111122223333:root"]},
    "NotAction": "kms:Describe*", "NotResource": "arn:aws:kms:*:111122223333:key/*",
    "Condition": {"StringEquals": {"kms:CallerAccount": "111122223333"},
                  "ForAllValues:StringLike": {"kms:EncryptionContextKeys": ["App*", "${aws:username}"]},
                  "NumericLessThanIfExists": {"test:n": ["10", "1e3"]},
                  "DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"},
                  "IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]},
                  "Bool": {"aws:SecureTransport": True}, "Null": {"aws:TokenIssueTime": "true"},
                  "ArnLike": {"aws:SourceArn": "arn:aws:iam::${aws:PrincipalAccount}:role/*"},
                  "BinaryEquals": {"test:b": "QmluYXJ5"}}}]}))
for i, p in enumerate(sorted(policies)):
    put("policy", bytes([i % 10]) + p.encode())

# xks_proxy_request: path line, then body.
meta = {"kmsRequestId": "r-1", "kmsOperation": "Encrypt",
        "awsPrincipalArn": "arn:aws:iam::111122223333:user/alice", "kmsKeyArn": ARN,
        "kmsViaService": "ebs"}
put("xks_proxy_request", "/kms/xks/v1/health\n" + json.dumps({"requestMetadata": {
    "kmsRequestId": "r-1", "kmsOperation": "CreateCustomKeyStore"}}))
put("xks_proxy_request", "/dev/kms/xks/v1/keys/key-1/metadata\n" + json.dumps({"requestMetadata": meta}))
put("xks_proxy_request", "/kms/xks/v1/keys/key-1/encrypt\n" + json.dumps({
    "requestMetadata": meta, "plaintext": b64(b"data"), "encryptionAlgorithm": "AES_GCM",
    "additionalAuthenticatedData": b64(b"aad"), "ciphertextDataIntegrityValueAlgorithm": "SHA_256"}))
put("xks_proxy_request", "/kms/xks/v1/keys/key-1/decrypt\n" + json.dumps({
    "requestMetadata": meta, "ciphertext": b64(b"data"), "ciphertextMetadata": b64(b"\x01"),
    "encryptionAlgorithm": "AES_GCM", "additionalAuthenticatedData": b64(b"aad"),
    "authenticationTag": b64(bytes(16)), "initializationVector": b64(bytes(12))}))

# xks_client_response: first byte picks the status (0 = 200, 1 = 400, ...), then the body.
put("xks_client_response", b"\x00" + json.dumps({
    "xksProxyFleetSize": 2, "xksProxyVendor": "Strongroom", "xksProxyModel": "m",
    "ekmVendor": "v", "ekmFleetDetails": [{"id": "h1", "model": "m", "healthStatus": "ACTIVE"}]}).encode())
put("xks_client_response", b"\x00" + json.dumps({
    "keySpec": "AES_256", "keyUsage": ["ENCRYPT", "DECRYPT"], "keyStatus": "ENABLED"}).encode())
put("xks_client_response", b"\x00" + json.dumps({
    "ciphertext": b64(b"ct"), "ciphertextMetadata": b64(b"\x01"), "initializationVector": b64(bytes(12)),
    "authenticationTag": b64(bytes(16)), "ciphertextDataIntegrityValue": b64(bytes(32))}).encode())
put("xks_client_response", b"\x00" + json.dumps({"plaintext": b64(b"pt")}).encode())
for status in range(1, 8):
    put("xks_client_response", bytes([status]) + json.dumps({
        "errorName": "KeyNotFoundException", "errorMessage": "no such key"}).encode())

# Configurations: the fixture's files and the TOML examples of docs/.
put("strongroom_config", read("crates/strongroom/tests/fixtures/store-v1/strongroom.toml"))
put("xks_proxy_config", read("crates/strongroom/tests/fixtures/store-v1/xks/xks-proxy.toml"))
put("xks_proxy_config", read("crates/strongroom/tests/fixtures/store-v1/xks/credentials.toml"))
for doc in sorted(glob.glob(os.path.join(ROOT, "docs/*.md"))):
    for block in re.findall(r"```toml\n(.*?)```", read(doc), re.S):
        target = "xks_proxy_config" if ("tenants" in block or "credentials" in block) else "strongroom_config"
        put(target, block)

# xks_keystore: even first byte = a whole file, odd = the sealed document (the target seals it).
put("xks_keystore", b"\x00" + read("crates/strongroom/tests/fixtures/store-v1/xks/dev.keystore", "rb"))
put("xks_keystore", b"\x01" + json.dumps({
    "health_key": b64(bytes(32)),
    "keys": {"key-1": {"material": b64(bytes(range(32))), "enabled": True,
                       "usage": ["ENCRYPT", "DECRYPT"], "created": "2026-01-01T00:00:00Z"},
             "key-2": {"material": b64(bytes(32)), "enabled": False, "usage": ["ENCRYPT"],
                       "created": "2026-01-02T00:00:00Z"}}}).encode())
