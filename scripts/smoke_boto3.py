"""boto3 against `strongroom dev`, configured only by the exported AWS_* variables."""
import boto3
from botocore.exceptions import ClientError

kms = boto3.client("kms")
key = kms.create_key(Description="boto3 smoke", Tags=[{"TagKey": "k", "TagValue": "v"}])["KeyMetadata"]
assert key["KeySpec"] == "SYMMETRIC_DEFAULT" and key["KeyState"] == "Enabled", key
ct = kms.encrypt(KeyId=key["Arn"], Plaintext=b"x" * 4096, EncryptionContext={"a": "b"})["CiphertextBlob"]
pt = kms.decrypt(CiphertextBlob=ct, EncryptionContext={"a": "b"})
assert pt["Plaintext"] == b"x" * 4096 and pt["KeyId"] == key["Arn"], pt["KeyId"]
dk = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], NumberOfBytes=48)
assert len(kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"]) == 48
try:
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x" * 4097)
    raise SystemExit("oversized plaintext accepted")
except ClientError as e:
    assert e.response["Error"]["Code"] == "ValidationException", e.response
try:
    kms.sign(KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    raise SystemExit("Sign accepted")
except ClientError as e:
    # A symmetric key is refused as AWS refuses it: the wrong key usage.
    assert e.response["Error"]["Code"] == "InvalidKeyUsageException", e.response
    assert e.response["Error"]["Message"].endswith("not valid for Sign."), e.response
print("boto3 smoke ok")
