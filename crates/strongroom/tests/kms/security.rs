//! Regression tests of defects a security review found, each against a running `strongroom serve`:
//! alias authorization (an alias and every key it names), ListRetirableGrants across accounts,
//! what a SigV4 signature must cover, and session tokens.

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::GrantOperation;
use aws_sdk_kms::Client;
use serde_json::{json, Value};

use crate::common::{code, json_headers, raw_request, signer_for, PrincipalSpec, Served};

const A: &str = "111111111111";
const B: &str = "222222222222";
const DENIED: &str = "AccessDeniedException";

fn allow(actions: &[&str], resource: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Resource": resource}
    ]})
    .to_string()
}

fn key_arn(id: &str) -> String {
    format!("arn:aws:kms:us-east-1:{A}:key/{id}")
}

fn alias_arn(name: &str) -> String {
    format!("arn:aws:kms:us-east-1:{A}:{name}")
}

fn implicit_denial(who: &str, action: &str, resource: &str) -> String {
    format!(
        "User: {who} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action"
    )
}

const ALIAS_ACTIONS: [&str; 3] = ["kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"];

/// Account A: an admin; `aliaser`, whose IAM policy allows the alias actions on every alias of
/// the account and nothing on keys; `keyonly`, with no IAM policy, allowed on some keys by their
/// key policies; `bob`, with nothing at all.
struct AliasWorld {
    _srv: Served,
    admin_spec: PrincipalSpec,
    aliaser_spec: PrincipalSpec,
    keyonly_spec: PrincipalSpec,
    admin: Client,
    aliaser: Client,
    keyonly: Client,
    bob: Client,
}

impl AliasWorld {
    async fn start() -> AliasWorld {
        let admin_spec = PrincipalSpec::user(A, "admin").policy(allow(&["kms:*"], "*"));
        let aliaser_spec = PrincipalSpec::user(A, "aliaser").policy(allow(
            &ALIAS_ACTIONS,
            &format!("arn:aws:kms:us-east-1:{A}:alias/*"),
        ));
        let keyonly_spec = PrincipalSpec::user(A, "keyonly");
        let bob_spec = PrincipalSpec::user(A, "bob");
        let srv = Served::start(&[
            admin_spec.clone(),
            aliaser_spec.clone(),
            keyonly_spec.clone(),
            bob_spec.clone(),
        ]);
        AliasWorld {
            admin: srv.client(&admin_spec).await,
            aliaser: srv.client(&aliaser_spec).await,
            keyonly: srv.client(&keyonly_spec).await,
            bob: srv.client(&bob_spec).await,
            _srv: srv,
            admin_spec,
            aliaser_spec,
            keyonly_spec,
        }
    }

    /// A key whose key policy allows the alias actions (and Encrypt/Decrypt) to `aliaser` and
    /// `keyonly` directly, or (`open` false) the default key policy, which leaves them to IAM.
    async fn key(&self, open: bool) -> String {
        let mut req = self.admin.create_key();
        if open {
            let mut actions: Vec<&str> = ALIAS_ACTIONS.to_vec();
            actions.extend(["kms:Encrypt", "kms:Decrypt"]);
            req = req.policy(
                json!({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": self.admin_spec.arn()},
                     "Action": "kms:*", "Resource": "*"},
                    {"Effect": "Allow",
                     "Principal": {"AWS": [self.aliaser_spec.arn(), self.keyonly_spec.arn()]},
                     "Action": actions, "Resource": "*"},
                ]})
                .to_string(),
            );
        }
        req.send()
            .await
            .expect("CreateKey by admin")
            .key_metadata()
            .expect("KeyMetadata")
            .key_id()
            .to_string()
    }

    async fn create_alias(&self, name: &str, key: &str) {
        self.admin
            .create_alias()
            .alias_name(name)
            .target_key_id(key)
            .send()
            .await
            .expect("CreateAlias by admin");
    }

    /// The key an alias names now, if it exists.
    async fn target(&self, name: &str) -> Option<String> {
        let out = self
            .admin
            .list_aliases()
            .send()
            .await
            .expect("ListAliases by admin");
        out.aliases()
            .iter()
            .find(|a| a.alias_name() == Some(name))
            .and_then(|a| a.target_key_id().map(String::from))
    }

    fn caller(&self, alias_allowed: bool) -> (&Client, String) {
        if alias_allowed {
            (&self.aliaser, self.aliaser_spec.arn())
        } else {
            (&self.keyonly, self.keyonly_spec.arn())
        }
    }
}

/// Asserts an AccessDeniedException with exactly this message.
#[track_caller]
fn expect_denied<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, E>,
    message: &str,
) {
    let e = r.expect_err("denied");
    assert_eq!(code(&e), DENIED, "{e:?}");
    assert_eq!(e.message(), Some(message), "{e:?}");
}

#[tokio::test]
async fn update_alias_needs_the_alias_the_current_key_and_the_new_key() {
    let w = AliasWorld::start().await;
    let (yes_old, no_old) = (w.key(true).await, w.key(false).await);
    let (yes_new, no_new) = (w.key(true).await, w.key(false).await);
    let mut n = 0;
    for alias_ok in [true, false] {
        for old_ok in [true, false] {
            for new_ok in [true, false] {
                n += 1;
                let name = format!("alias/update-{n}");
                let old = if old_ok { &yes_old } else { &no_old };
                let new = if new_ok { &yes_new } else { &no_new };
                w.create_alias(&name, old).await;
                let (client, who) = w.caller(alias_ok);
                let r = client
                    .update_alias()
                    .alias_name(&name)
                    .target_key_id(new)
                    .send()
                    .await;
                let case = format!("alias {alias_ok}, current key {old_ok}, new key {new_ok}");
                let action = "kms:UpdateAlias";
                match (alias_ok, old_ok, new_ok) {
                    (true, true, true) => {
                        r.unwrap_or_else(|e| panic!("{case}: {e:?}"));
                        assert_eq!(w.target(&name).await.as_deref(), Some(new.as_str()));
                        continue;
                    }
                    (false, _, _) => {
                        expect_denied(r, &implicit_denial(&who, action, &alias_arn(&name)))
                    }
                    (true, false, _) => {
                        expect_denied(r, &implicit_denial(&who, action, &key_arn(old)))
                    }
                    (true, true, false) => {
                        expect_denied(r, &implicit_denial(&who, action, &key_arn(new)))
                    }
                }
                assert_eq!(
                    w.target(&name).await.as_deref(),
                    Some(old.as_str()),
                    "{case}: the alias still names its key"
                );
            }
        }
    }
}

#[tokio::test]
async fn create_and_delete_alias_need_the_alias_and_the_key() {
    let w = AliasWorld::start().await;
    let (yes, no) = (w.key(true).await, w.key(false).await);
    let mut n = 0;
    for alias_ok in [true, false] {
        for key_ok in [true, false] {
            n += 1;
            let key = if key_ok { &yes } else { &no };
            let (client, who) = w.caller(alias_ok);
            let case = format!("alias {alias_ok}, key {key_ok}");

            let name = format!("alias/create-{n}");
            let r = client
                .create_alias()
                .alias_name(&name)
                .target_key_id(key)
                .send()
                .await;
            let action = "kms:CreateAlias";
            match (alias_ok, key_ok) {
                (true, true) => {
                    r.unwrap_or_else(|e| panic!("{case}: {e:?}"));
                }
                (false, _) => expect_denied(r, &implicit_denial(&who, action, &alias_arn(&name))),
                (true, false) => expect_denied(r, &implicit_denial(&who, action, &key_arn(key))),
            }
            let created = w.target(&name).await;
            assert_eq!(created.is_some(), alias_ok && key_ok, "{case}");

            let name = format!("alias/delete-{n}");
            w.create_alias(&name, key).await;
            let r = client.delete_alias().alias_name(&name).send().await;
            let action = "kms:DeleteAlias";
            match (alias_ok, key_ok) {
                (true, true) => {
                    r.unwrap_or_else(|e| panic!("{case}: {e:?}"));
                }
                (false, _) => expect_denied(r, &implicit_denial(&who, action, &alias_arn(&name))),
                (true, false) => expect_denied(r, &implicit_denial(&who, action, &key_arn(key))),
            }
            assert_eq!(
                w.target(&name).await.is_none(),
                alias_ok && key_ok,
                "{case}: deleted only when both allow"
            );
        }
    }
}

/// The reported attack: a user with no policy deletes `alias/prod`; a user allowed only on its
/// own key re-points or re-creates `alias/prod` to that key and reads what others encrypt "to
/// alias/prod".
#[tokio::test]
async fn another_teams_alias_cannot_be_hijacked() {
    let w = AliasWorld::start().await;
    let prod = w.key(false).await;
    let mine = w.key(true).await;
    w.create_alias("alias/prod", &prod).await;

    let r = w.bob.delete_alias().alias_name("alias/prod").send().await;
    assert_eq!(code(&r.expect_err("bob may not delete")), DENIED);
    let r = w
        .keyonly
        .update_alias()
        .alias_name("alias/prod")
        .target_key_id(&mine)
        .send()
        .await;
    assert_eq!(code(&r.expect_err("keyonly may not re-point")), DENIED);
    let r = w
        .keyonly
        .delete_alias()
        .alias_name("alias/prod")
        .send()
        .await;
    assert_eq!(code(&r.expect_err("keyonly may not delete")), DENIED);
    let r = w
        .keyonly
        .create_alias()
        .alias_name("alias/prod-2")
        .target_key_id(&mine)
        .send()
        .await;
    assert_eq!(code(&r.expect_err("keyonly may not create")), DENIED);
    assert_eq!(w.target("alias/prod").await.as_deref(), Some(prod.as_str()));

    // What the admin encrypts "to alias/prod" stays under the admin's key.
    let blob = w
        .admin
        .encrypt()
        .key_id("alias/prod")
        .plaintext(Blob::new(b"payroll".to_vec()))
        .send()
        .await
        .expect("Encrypt by admin")
        .ciphertext_blob()
        .expect("CiphertextBlob")
        .clone();
    let r = w.keyonly.decrypt().ciphertext_blob(blob).send().await;
    assert_eq!(code(&r.expect_err("keyonly may not decrypt")), DENIED);
}

#[tokio::test]
async fn alias_names_follow_aws_rules() {
    let w = AliasWorld::start().await;
    let key = w.key(true).await;
    // The model's pattern allows ':'; AWS's own rule does not.
    for bad in ["alias/my:alias", "alias/a:"] {
        let e = w
            .admin
            .create_alias()
            .alias_name(bad)
            .target_key_id(&key)
            .send()
            .await
            .expect_err(bad);
        assert_eq!(code(&e), "ValidationException", "{bad}: {e:?}");
        assert_eq!(
            e.message(),
            Some(format!("{bad} contains invalid characters for an alias").as_str())
        );
    }
    for bad in ["alias/a.b", "alias/é", "alias/a b"] {
        let e = w
            .admin
            .create_alias()
            .alias_name(bad)
            .target_key_id(&key)
            .send()
            .await
            .expect_err(bad);
        assert_eq!(
            e.message(),
            Some(format!("1 validation error detected: Value '{bad}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$").as_str())
        );
    }
    w.create_alias("alias/ok", &key).await;
    let e = w
        .admin
        .update_alias()
        .alias_name("alias/ok:x")
        .target_key_id(&key)
        .send()
        .await
        .expect_err("UpdateAlias with ':'");
    assert_eq!(code(&e), "ValidationException", "{e:?}");
    let e = w
        .admin
        .delete_alias()
        .alias_name("alias/ok:x")
        .send()
        .await
        .expect_err("DeleteAlias with ':'");
    assert_eq!(code(&e), "ValidationException", "{e:?}");
    let e = w
        .admin
        .create_alias()
        .alias_name("alias/aws/mine")
        .target_key_id(&key)
        .send()
        .await
        .expect_err("reserved prefix");
    assert_eq!(code(&e), "InvalidAliasNameException", "{e:?}");
    let long = format!("alias/{}", "a".repeat(250));
    w.create_alias(&long, &key).await;
    let e = w
        .admin
        .create_alias()
        .alias_name(format!("alias/{}", "a".repeat(251)))
        .target_key_id(&key)
        .send()
        .await
        .expect_err("257 characters");
    assert_eq!(code(&e), "ValidationException", "{e:?}");
}

#[tokio::test]
async fn list_retirable_grants_stays_in_the_callers_account() {
    let admin_a = PrincipalSpec::user(A, "admin").policy(allow(&["kms:*"], "*"));
    let alice = PrincipalSpec::user(A, "alice");
    let lister = PrincipalSpec::user(A, "lister").policy(allow(&["kms:ListRetirableGrants"], "*"));
    let admin_b = PrincipalSpec::user(B, "admin").policy(allow(&["kms:*"], "*"));
    let srv = Served::start(&[
        admin_a.clone(),
        alice.clone(),
        lister.clone(),
        admin_b.clone(),
    ]);
    let a = srv.client(&admin_a).await;
    let b = srv.client(&admin_b).await;
    let key = a
        .create_key()
        .send()
        .await
        .expect("CreateKey")
        .key_metadata()
        .expect("KeyMetadata")
        .key_id()
        .to_string();
    let grant = a
        .create_grant()
        .key_id(&key)
        .grantee_principal(alice.arn())
        .retiring_principal(alice.arn())
        .operations(GrantOperation::Encrypt)
        .send()
        .await
        .expect("CreateGrant");

    // Account B's admin names a principal of account A: refused, nothing listed.
    let e = b
        .list_retirable_grants()
        .retiring_principal(alice.arn())
        .send()
        .await
        .expect_err("another account's principal");
    assert_eq!(code(&e), DENIED, "{e:?}");
    assert_eq!(
        e.message(),
        Some(
            format!(
                "User: {} is not authorized to perform: kms:ListRetirableGrants on resource: {} because no resource-based policy allows the kms:ListRetirableGrants action",
                admin_b.arn(),
                alice.arn()
            )
            .as_str()
        )
    );
    // Nor by account id.
    let e = b
        .list_retirable_grants()
        .retiring_principal(A)
        .send()
        .await
        .expect_err("another account");
    assert_eq!(code(&e), DENIED, "{e:?}");

    // A principal of account A with the permission lists it.
    let out = srv
        .client(&lister)
        .await
        .list_retirable_grants()
        .retiring_principal(alice.arn())
        .send()
        .await
        .expect("ListRetirableGrants in the caller's account");
    let ids: Vec<&str> = out.grants().iter().filter_map(|g| g.grant_id()).collect();
    assert_eq!(ids, [grant.grant_id().expect("GrantId")]);

    // Without the permission (alice has no IAM policy): denied on the principal as resource.
    let e = srv
        .client(&alice)
        .await
        .list_retirable_grants()
        .retiring_principal(alice.arn())
        .send()
        .await
        .expect_err("no IAM permission");
    assert_eq!(
        e.message(),
        Some(implicit_denial(&alice.arn(), "kms:ListRetirableGrants", &alice.arn()).as_str())
    );
}

// ---------------------------------------------------------------------------------------------
// What a signature must cover.

fn addr(srv: &Served) -> String {
    srv.endpoint
        .strip_prefix("http://")
        .unwrap_or(&srv.endpoint)
        .to_string()
}

fn body_json(r: &crate::common::RawResponse) -> Value {
    r.json()
}

/// The reported replay: a DescribeKey signed over `host;x-amz-date` only, sent again with
/// `X-Amz-Target: TrentService.DisableKey`, disabled the key.
#[tokio::test]
async fn the_signature_must_cover_the_target_and_every_amz_header() {
    let admin = PrincipalSpec::user(A, "admin").policy(allow(&["kms:*"], "*"));
    let srv = Served::start(std::slice::from_ref(&admin));
    let client = srv.client(&admin).await;
    let key = client
        .create_key()
        .send()
        .await
        .expect("CreateKey")
        .key_metadata()
        .expect("KeyMetadata")
        .key_id()
        .to_string();
    let host = addr(&srv);
    let body = json!({ "KeyId": key }).to_string().into_bytes();
    let signer = signer_for(&admin);

    // Signed over host and x-amz-date only; the target and content type ride along unsigned.
    let bare = signer.sign("POST", &host, "/", &[], &body);
    let sent_as = |target: &str, headers: &[(String, String)]| {
        let mut all = headers.to_vec();
        all.extend(json_headers(target));
        raw_request(&host, &all, &body)
    };
    for target in ["TrentService.DescribeKey", "TrentService.DisableKey"] {
        let r = sent_as(target, &bare);
        let msg = r.expect_error(400, "IncompleteSignatureException");
        assert_eq!(
            msg,
            "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."
        );
    }
    let state = client
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .expect("DescribeKey");
    assert_eq!(
        state
            .key_metadata()
            .and_then(|m| m.key_state())
            .map(|s| s.as_str()),
        Some("Enabled"),
        "the replay did not disable the key"
    );

    // Signed over the target but not the content type.
    let target_only = signer.sign(
        "POST",
        &host,
        "/",
        &[(
            "x-amz-target".to_string(),
            "TrentService.DescribeKey".to_string(),
        )],
        &body,
    );
    let mut headers = target_only.clone();
    headers.push((
        "content-type".to_string(),
        "application/x-amz-json-1.1".to_string(),
    ));
    let msg = raw_request(&host, &headers, &body).expect_error(400, "IncompleteSignatureException");
    assert_eq!(
        msg,
        "'Content-Type' must be a 'SignedHeader' in the AWS Authorization."
    );

    // An x-amz-* header added after signing.
    let mut signed = signer.sign_kms(&host, "TrentService.DescribeKey", &body);
    signed.push(("x-amz-meta-extra".to_string(), "1".to_string()));
    let msg = raw_request(&host, &signed, &body).expect_error(400, "IncompleteSignatureException");
    assert_eq!(
        msg,
        "'X-Amz-Meta-Extra' must be a 'SignedHeader' in the AWS Authorization."
    );

    // Signed as the SDK signs: accepted.
    let signed = signer.sign_kms(&host, "TrentService.DescribeKey", &body);
    let r = raw_request(&host, &signed, &body);
    assert_eq!(r.status, 200, "{}", body_json(&r));
}

#[tokio::test]
async fn session_tokens_must_be_ones_a_session_was_given() {
    let admin = PrincipalSpec::user(A, "admin").policy(allow(&["kms:*"], "*"));
    let session = PrincipalSpec::role(A, "app")
        .policy(allow(&["kms:*"], "*"))
        .with_session_token();
    let srv = Served::start(&[admin.clone(), session.clone()]);
    let host = addr(&srv);
    let body = b"{}".to_vec();
    let invalid = "The security token included in the request is invalid.";

    // A long-term key with a signed token no session issued.
    let r = raw_request(
        &host,
        &signer_for(&admin)
            .with_session_token(Some("made-up-token"))
            .sign_kms(&host, "TrentService.ListKeys", &body),
        &body,
    );
    assert_eq!(r.expect_error(400, "UnrecognizedClientException"), invalid);

    // The session's own token works (raw and through the SDK), another or none does not.
    let t = session.session_token.clone().expect("token");
    let ok = raw_request(
        &host,
        &signer_for(&session).with_session_token(Some(&t)).sign_kms(
            &host,
            "TrentService.ListKeys",
            &body,
        ),
        &body,
    );
    assert_eq!(ok.status, 200, "{}", body_json(&ok));
    srv.client(&session)
        .await
        .list_keys()
        .send()
        .await
        .expect("ListKeys with the session token");
    for wrong in [Some(format!("{t}x")), None] {
        let r = raw_request(
            &host,
            &signer_for(&session)
                .with_session_token(wrong.as_deref())
                .sign_kms(&host, "TrentService.ListKeys", &body),
            &body,
        );
        assert_eq!(r.expect_error(400, "UnrecognizedClientException"), invalid);
    }
}
