//! `--suite policy`: the cost of authorization. On one `strongroom serve`, in one run, Encrypt
//! 1 KiB on a key with the default key policy and on a key with a realistic key policy
//! (13 statements with conditions), the caller of the latter having an identity policy with
//! conditions and principal tags.

use base64::Engine as _;

use crate::serve::{self, UserSpec, ACCOUNT, ALLOW_ALL};
use crate::suite::{self, kms_call, kms_request_maker, Endpoint, FloorColumn, Job};
use crate::{procstat, servers, Cli};

/// The application user (its name matches the key policy's `StringLike` on aws:PrincipalArn).
const APP_USER: &str = "app-payments";

/// The identity policy of [`APP_USER`]: use of the account's keys for the payments team, only
/// with a `tenant` encryption context, directly or through two services; no key
/// administration; nothing outside prod/staging (a Deny whose condition does not match).
pub fn app_identity_policy() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "UseTeamKeys",
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                           "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/*"),
                "Condition": {
                    "StringEquals": {
                        "aws:PrincipalTag/team": "payments",
                        "kms:CallerAccount": ACCOUNT
                    },
                    "StringEqualsIfExists": {
                        "kms:ViaService": ["s3.us-east-1.amazonaws.com",
                                           "secretsmanager.us-east-1.amazonaws.com"]
                    },
                    "Null": { "kms:EncryptionContext:tenant": "false" }
                }
            },
            {
                "Sid": "ListKeys",
                "Effect": "Allow",
                "Action": ["kms:ListKeys", "kms:ListAliases"],
                "Resource": "*"
            },
            {
                "Sid": "NoKeyAdministration",
                "Effect": "Deny",
                "Action": ["kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:PutKeyPolicy",
                           "kms:CreateKey"],
                "Resource": "*"
            },
            {
                "Sid": "OnlyFromProdOrStaging",
                "Effect": "Deny",
                "Action": "kms:*",
                "Resource": "*",
                "Condition": {
                    "StringNotEqualsIfExists": { "aws:PrincipalTag/env": ["prod", "staging"] }
                }
            }
        ]
    })
    .to_string()
}

/// A realistic key policy: IAM delegation, key administrators, use by the application with
/// encryption-context conditions, use by tagged principals matched by ARN pattern, direct
/// (not via a service) use, use via AWS services, grants for AWS resources, auditors, and Denies
/// whose conditions do not match the benchmark's caller.
pub fn realistic_key_policy() -> String {
    let root = format!("arn:aws:iam::{ACCOUNT}:root");
    let user = |n: &str| format!("arn:aws:iam::{ACCOUNT}:user/{n}");
    let use_actions = serde_json::json!([
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:DescribeKey"
    ]);
    let via = serde_json::json!([
        "s3.us-east-1.amazonaws.com",
        "rds.us-east-1.amazonaws.com",
        "secretsmanager.us-east-1.amazonaws.com"
    ]);
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "payments-data-key-policy",
        "Statement": [
            {
                "Sid": "EnableIAMUserPermissions",
                "Effect": "Allow",
                "Principal": { "AWS": root },
                "Action": "kms:*",
                "Resource": "*"
            },
            {
                "Sid": "AllowAccessForKeyAdministrators",
                "Effect": "Allow",
                "Principal": { "AWS": [user("keyadmin"), user("admin")] },
                "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*",
                           "kms:Put*", "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*",
                           "kms:Delete*", "kms:TagResource", "kms:UntagResource",
                           "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
                           "kms:RotateKeyOnDemand"],
                "Resource": "*"
            },
            {
                "Sid": "AllowUseOfTheKeyWithTenantContext",
                "Effect": "Allow",
                "Principal": { "AWS": user(APP_USER) },
                "Action": use_actions,
                "Resource": "*",
                "Condition": {
                    "StringEquals": { "kms:EncryptionContext:tenant": ["acme", "globex"] },
                    "ForAllValues:StringEquals": {
                        "kms:EncryptionContextKeys": ["tenant", "purpose", "request"]
                    }
                }
            },
            {
                "Sid": "AllowUseByPaymentsTeam",
                "Effect": "Allow",
                "Principal": { "AWS": "*" },
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": ACCOUNT,
                        "aws:PrincipalTag/team": "payments"
                    },
                    "StringLike": {
                        "aws:PrincipalArn": [format!("arn:aws:iam::{ACCOUNT}:user/app-*"),
                                             format!("arn:aws:iam::{ACCOUNT}:role/payments-*")]
                    }
                }
            },
            {
                "Sid": "AllowDirectUseOnlyOutsideServices",
                "Effect": "Allow",
                "Principal": { "AWS": user(APP_USER) },
                "Action": ["kms:Encrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": { "Null": { "kms:ViaService": "true" } }
            },
            {
                "Sid": "AllowUseThroughAWSServices",
                "Effect": "Allow",
                "Principal": { "AWS": "*" },
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                           "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": { "kms:CallerAccount": ACCOUNT, "kms:ViaService": via }
                }
            },
            {
                "Sid": "AllowAttachmentOfPersistentResources",
                "Effect": "Allow",
                "Principal": { "AWS": user(APP_USER) },
                "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                "Resource": "*",
                "Condition": { "Bool": { "kms:GrantIsForAWSResource": "true" } }
            },
            {
                "Sid": "AllowServiceGrantsForDataOperations",
                "Effect": "Allow",
                "Principal": { "AWS": "*" },
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {
                    "StringEquals": { "kms:CallerAccount": ACCOUNT },
                    "Bool": { "kms:GrantIsForAWSResource": "true" },
                    "ForAllValues:StringEquals": {
                        "kms:GrantOperations": ["Decrypt", "Encrypt", "GenerateDataKey",
                                                "GenerateDataKeyWithoutPlaintext"]
                    }
                }
            },
            {
                "Sid": "AllowAuditorsReadOnly",
                "Effect": "Allow",
                "Principal": { "AWS": user("auditor") },
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
                "Resource": "*"
            },
            {
                "Sid": "DenyOtherAccounts",
                "Effect": "Deny",
                "Principal": { "AWS": "*" },
                "Action": "kms:*",
                "Resource": "*",
                "Condition": { "StringNotEquals": { "aws:PrincipalAccount": ACCOUNT } }
            },
            {
                "Sid": "DenyRestrictedData",
                "Effect": "Deny",
                "Principal": { "AWS": "*" },
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": { "kms:EncryptionContext:classification": "restricted" }
                }
            },
            {
                "Sid": "DenyContractors",
                "Effect": "Deny",
                "Principal": { "AWS": "*" },
                "Action": "kms:*",
                "Resource": "*",
                "Condition": {
                    "StringLike": { "aws:PrincipalArn": format!("arn:aws:iam::*:user/contractor-*") }
                }
            },
            {
                "Sid": "DenyDeletionWithoutMFA",
                "Effect": "Deny",
                "Principal": { "AWS": "*" },
                "Action": ["kms:ScheduleKeyDeletion", "kms:DisableKey"],
                "Resource": "*",
                "Condition": { "BoolIfExists": { "aws:MultiFactorAuthPresent": "false" } }
            }
        ]
    })
    .to_string()
}

/// The `message` of a KMS error answer inside `e` (as `kms_call` reports it), shortened.
fn denial_message(e: &str) -> String {
    let message = e
        .find('{')
        .and_then(|i| serde_json::from_str::<serde_json::Value>(&e[i..]).ok())
        .and_then(|v| v["message"].as_str().map(String::from))
        .unwrap_or_else(|| e.to_string());
    let short: String = message.chars().take(140).collect();
    if short.len() < message.len() {
        format!("{short}…")
    } else {
        short
    }
}

fn statement_count(policy: &str) -> usize {
    serde_json::from_str::<serde_json::Value>(policy)
        .ok()
        .and_then(|v| v["Statement"].as_array().map(Vec::len))
        .unwrap_or(0)
}

fn key_id(out: &serde_json::Value) -> Result<String, String> {
    out["KeyMetadata"]["KeyId"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| "CreateKey answered without KeyMetadata.KeyId".to_string())
}

/// `--suite policy`.
pub fn run(cli: &Cli) -> Result<bool, String> {
    suite::validate(cli)?;
    let load_before = procstat::load_average();
    let bin = suite::strongroom_bin(cli)?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find my own path: {e}"))?;
    let tmp = tempfile::Builder::new()
        .prefix("strongroom-bench-policy-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let identity = app_identity_policy();
    let key_policy = realistic_key_policy();
    let kms = serve::start(
        &bin,
        tmp.path(),
        &[
            UserSpec {
                name: "admin",
                policies: vec![ALLOW_ALL.to_string()],
                tags: Vec::new(),
                access_key: true,
            },
            UserSpec {
                name: APP_USER,
                policies: vec![identity.clone()],
                tags: vec![
                    ("team", "payments"),
                    ("env", "prod"),
                    ("cost-center", "cc-1234"),
                ],
                access_key: true,
            },
            UserSpec {
                name: "keyadmin",
                policies: vec![ALLOW_ALL.to_string()],
                tags: Vec::new(),
                access_key: false,
            },
            UserSpec {
                name: "auditor",
                policies: Vec::new(),
                tags: Vec::new(),
                access_key: false,
            },
        ],
        None,
    )?;
    let floor = servers::spawn_floor(&exe)?;
    eprintln!(
        "strongroom serve on {} (pid {}, log {}), HTTP floor on {} (pid {})",
        kms.endpoint.addr,
        kms.pid(),
        kms.log.display(),
        floor.addr,
        floor.pid()
    );
    let admin = kms.signer("admin")?.clone();
    let app = kms.signer(APP_USER)?.clone();
    let b64 = base64::engine::general_purpose::STANDARD;
    let plaintext: Vec<u8> = (0..cli.plaintext_bytes).map(|i| (i % 251) as u8).collect();
    let size = crate::size_label(cli.plaintext_bytes);
    let floor_ep = Endpoint::http(floor.addr);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the client runtime: {e}"))?;
    let (rows, denial) = rt.block_on(async {
        let default_key = key_id(
            &kms_call(
                &kms.endpoint,
                &admin,
                "CreateKey",
                serde_json::json!({"Description": "strongroom-bench policy: default key policy"}),
            )
            .await?,
        )?;
        let realistic_key = key_id(
            &kms_call(
                &kms.endpoint,
                &admin,
                "CreateKey",
                serde_json::json!({"Description": "strongroom-bench policy: realistic key policy"}),
            )
            .await?,
        )?;
        kms_call(
            &kms.endpoint,
            &admin,
            "PutKeyPolicy",
            serde_json::json!({
                "KeyId": realistic_key, "PolicyName": "default", "Policy": key_policy
            }),
        )
        .await?;
        let encrypt = |key: &str, ctx: serde_json::Value| {
            serde_json::json!({
                "KeyId": key,
                "Plaintext": b64.encode(&plaintext),
                "EncryptionContext": ctx,
            })
        };
        let ctx = serde_json::json!({"tenant": "acme", "purpose": "bench"});
        // The conditions are live: a `classification: restricted` context hits the Deny.
        let restricted = serde_json::json!({
            "tenant": "acme", "purpose": "bench", "classification": "restricted"
        });
        let denial = match kms_call(
            &kms.endpoint,
            &app,
            "Encrypt",
            encrypt(&realistic_key, restricted.clone()),
        )
        .await
        {
            Err(e) if e.contains("AccessDeniedException") => Ok(e),
            Err(e) => Err(format!("the restricted-context check failed otherwise: {e}")),
            Ok(_) => Err(
                "Encrypt with a restricted context was allowed under the realistic policy"
                    .to_string(),
            ),
        }?;
        kms_call(
            &kms.endpoint,
            &app,
            "Encrypt",
            encrypt(&default_key, restricted),
        )
        .await
        .map_err(|e| format!("the same call under the default policy failed: {e}"))?;
        let jobs = vec![
            Job {
                id: "http-floor".into(),
                label: "HTTP floor (bare hyper)".into(),
                make: kms_request_maker(
                    &floor_ep,
                    &app,
                    "Encrypt",
                    &encrypt(&default_key, ctx.clone()),
                ),
                endpoint: floor_ep.clone(),
                server_pids: vec![floor.pid()],
                baseline: None,
            },
            Job {
                id: "default-admin".into(),
                label: format!(
                    "Encrypt {size}, default key policy; caller `admin` (Allow kms:*)"
                ),
                make: kms_request_maker(
                    &kms.endpoint,
                    &admin,
                    "Encrypt",
                    &encrypt(&default_key, ctx.clone()),
                ),
                endpoint: kms.endpoint.clone(),
                server_pids: vec![kms.pid()],
                baseline: Some("default-admin".into()),
            },
            Job {
                id: "default-app".into(),
                label: format!(
                    "Encrypt {size}, default key policy; caller `{APP_USER}` (conditioned identity policy, tags)"
                ),
                make: kms_request_maker(
                    &kms.endpoint,
                    &app,
                    "Encrypt",
                    &encrypt(&default_key, ctx.clone()),
                ),
                endpoint: kms.endpoint.clone(),
                server_pids: vec![kms.pid()],
                baseline: Some("default-admin".into()),
            },
            Job {
                id: "realistic-app".into(),
                label: format!(
                    "Encrypt {size}, realistic key policy ({} statements); caller `{APP_USER}` (conditioned identity policy, tags)",
                    statement_count(&key_policy)
                ),
                make: kms_request_maker(
                    &kms.endpoint,
                    &app,
                    "Encrypt",
                    &encrypt(&realistic_key, ctx.clone()),
                ),
                endpoint: kms.endpoint.clone(),
                server_pids: vec![kms.pid()],
                baseline: Some("default-admin".into()),
            },
        ];
        suite::check_jobs(&jobs).await?;
        Ok::<_, String>((suite::run_jobs(cli, "policy", &jobs).await, denial))
    })?;
    drop(floor);
    drop(kms);

    let notes = vec![
        "Server: `strongroom serve` (`RUST_LOG=warn`) with a configuration holding account \
         111122223333: `admin` (identity policy Allow kms:*), `app-payments` (tags team=payments, \
         env=prod, cost-center; the identity policy below), `keyadmin`, `auditor`"
            .to_string(),
        format!(
            "Every Encrypt carries EncryptionContext {{tenant: acme, purpose: bench}}; the \
             realistic key policy is set by PutKeyPolicy; check before the run: the same \
             Encrypt with `classification: restricted` added is refused under it \
             (AccessDeniedException: \"{}\") and allowed under the default policy",
            denial_message(&denial)
        ),
        format!(
            "Policy sizes: key policy {} statements / {} bytes; identity policy {} statements / \
             {} bytes",
            statement_count(&key_policy),
            key_policy.len(),
            statement_count(&identity),
            identity.len()
        ),
    ];
    suite::print_header(
        cli,
        "key policy evaluation (`--suite policy`)",
        load_before.as_deref(),
        &notes,
    );
    suite::print_table(
        cli,
        &rows,
        &[FloorColumn {
            header: "% of HTTP floor",
            floor_id: "http-floor",
            cpu_bound_header: None,
        }],
        Some("% of default policy (admin)"),
        None,
    );
    suite::print_cpu_note("`strongroom serve` (the floor process on the floor row)");
    println!("Target: the realistic-policy row within 10% of the default-policy row (≥ 90%).");
    println!();
    for c in &cli.concurrency {
        let find = |id: &str| rows.iter().find(|r| r.id == id && r.concurrency == *c);
        if let (Some(d), Some(r)) = (find("default-admin"), find("realistic-app")) {
            if d.rps > 0.0 {
                let ratio = r.rps / d.rps;
                // If client and server kept the cores busy, req/s would be inversely
                // proportional to their CPU per request, whatever else ran meanwhile.
                let cpu_ratio = (d.client_cpu_us_per_req + d.server_cpu_us_per_req)
                    / (r.client_cpu_us_per_req + r.server_cpu_us_per_req);
                println!(
                    "- concurrency {c}: realistic / default = {:.1}% of req/s → {}; server CPU \
                     {:.1} vs {:.1} µs/req (+{:.1} µs); CPU-bound estimate (client + server \
                     µs/req) {:.1}%",
                    100.0 * ratio,
                    if ratio >= 0.9 { "met" } else { "**missed**" },
                    r.server_cpu_us_per_req,
                    d.server_cpu_us_per_req,
                    r.server_cpu_us_per_req - d.server_cpu_us_per_req,
                    100.0 * cpu_ratio
                );
            }
        }
    }
    println!();
    Ok(rows.iter().all(|r| r.errors == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policies_are_json_of_the_promised_size() {
        assert!(statement_count(&realistic_key_policy()) >= 10);
        assert_eq!(statement_count(&app_identity_policy()), 4);
    }
}
