//! Authorization end to end: a real `strongroom serve --config FILE` with two accounts, IAM users
//! and roles, driven with one `aws-sdk-kms` client per principal. Key policies, identity policies,
//! grants, condition keys (ABAC, aliases), cross-account use, the policy lockout safety check and
//! reloading the principals on SIGHUP.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_kms::error::SdkError;
use aws_sdk_kms::operation::create_grant::CreateGrantOutput;
use aws_sdk_kms::operation::encrypt::{EncryptError, EncryptOutput};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{GrantConstraints, GrantOperation, Tag};
use aws_sdk_kms::Client;
use serde_json::{json, Value};

use crate::common::{code, expect_code, poll_until, PrincipalSpec, Served};

const A: &str = "111111111111";
const B: &str = "222222222222";
const DENIED: &str = "AccessDeniedException";
const NOT_FOUND: &str = "NotFoundException";
const MALFORMED: &str = "MalformedPolicyDocumentException";

// ---------------------------------------------------------------------------------------------
// The world: two accounts, their principals and a client for each.

/// An identity policy allowing `actions` on every resource.
fn allow(actions: &[&str]) -> String {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Resource": "*"}
    ]})
    .to_string()
}

/// A key policy of these statements.
fn key_policy(statements: &[Value]) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// A key policy statement for an AWS principal (one ARN or a list).
fn statement(effect: &str, principal: Value, actions: Value, condition: Option<Value>) -> Value {
    let mut s = json!({
        "Effect": effect,
        "Principal": {"AWS": principal},
        "Action": actions,
        "Resource": "*",
    });
    if let Some(c) = condition {
        s["Condition"] = c;
    }
    s
}

fn root(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

fn key_arn(id: &str) -> String {
    format!("arn:aws:kms:us-east-1:{A}:key/{id}")
}

fn alias_arn(name: &str) -> String {
    format!("arn:aws:kms:us-east-1:{A}:{name}")
}

/// AWS's message for an implicit denial: `... because no <kind> policy allows the <action> action`.
fn implicit_denial(who: &str, action: &str, resource: &str, kind: &str) -> String {
    format!(
        "User: {who} is not authorized to perform: {action} on resource: {resource} because no {kind} policy allows the {action} action"
    )
}

/// AWS's message for an explicit denial: `... with an explicit deny in a/an <kind> policy`.
fn explicit_denial(who: &str, action: &str, resource: &str, kind: &str) -> String {
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!(
        "User: {who} is not authorized to perform: {action} on resource: {resource} with an explicit deny in {article} {kind} policy"
    )
}

struct Specs {
    admin: PrincipalSpec,
    alice: PrincipalSpec,
    bob: PrincipalSpec,
    app: PrincipalSpec,
    batch: PrincipalSpec,
    carol: PrincipalSpec,
    dave: PrincipalSpec,
    erin: PrincipalSpec,
}

impl Specs {
    fn new() -> Specs {
        // Roles may use keys whose `team` tag is their own `team` tag.
        let same_team = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}
        }]})
        .to_string();
        Specs {
            admin: PrincipalSpec::user(A, "admin").policy(allow(&["kms:*"])),
            alice: PrincipalSpec::user(A, "alice")
                .policy(allow(&[
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:DescribeKey",
                    "kms:GenerateDataKey",
                    "kms:CreateKey",
                    "kms:GetKeyPolicy",
                    "kms:PutKeyPolicy",
                ]))
                .policy(
                    json!({"Version": "2012-10-17", "Statement": [
                        {"Effect": "Deny", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"}
                    ]})
                    .to_string(),
                ),
            bob: PrincipalSpec::user(A, "bob"),
            app: PrincipalSpec::role(A, "app")
                .tag("team", "blue")
                .policy(same_team.clone()),
            batch: PrincipalSpec::role(A, "batch")
                .tag("team", "red")
                .policy(same_team),
            carol: PrincipalSpec::user(B, "carol").policy(allow(&[
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:DescribeKey",
            ])),
            dave: PrincipalSpec::user(B, "dave").policy(allow(&["kms:*"])),
            erin: PrincipalSpec::user(B, "erin"),
        }
    }

    fn all(&self) -> Vec<PrincipalSpec> {
        vec![
            self.admin.clone(),
            self.alice.clone(),
            self.bob.clone(),
            self.app.clone(),
            self.batch.clone(),
            self.carol.clone(),
            self.dave.clone(),
            self.erin.clone(),
        ]
    }
}

struct World {
    srv: Served,
    who: Specs,
    admin: Client,
    alice: Client,
    bob: Client,
    app: Client,
    batch: Client,
    carol: Client,
    dave: Client,
    erin: Client,
}

impl World {
    async fn start() -> World {
        let who = Specs::new();
        let srv = Served::start(&who.all());
        World {
            admin: srv.client(&who.admin).await,
            alice: srv.client(&who.alice).await,
            bob: srv.client(&who.bob).await,
            app: srv.client(&who.app).await,
            batch: srv.client(&who.batch).await,
            carol: srv.client(&who.carol).await,
            dave: srv.client(&who.dave).await,
            erin: srv.client(&who.erin).await,
            srv,
            who,
        }
    }

    /// The admin creates a key (with this policy, these tags) and returns its id.
    async fn key_with(&self, policy: Option<String>, tags: &[(&str, &str)]) -> String {
        let mut req = self.admin.create_key().set_policy(policy);
        for (k, v) in tags {
            req = req.tags(tag(k, v));
        }
        req.send()
            .await
            .expect("CreateKey by admin")
            .key_metadata()
            .expect("KeyMetadata")
            .key_id()
            .to_string()
    }

    /// The admin creates a key with the default key policy.
    async fn key(&self) -> String {
        self.key_with(None, &[]).await
    }

    /// A key policy statement allowing the admin everything (so the admin keeps control).
    fn admin_statement(&self) -> Value {
        statement("Allow", json!(self.who.admin.arn()), json!("kms:*"), None)
    }

    async fn put_policy(&self, key: &str, policy: &str) {
        self.admin
            .put_key_policy()
            .key_id(key)
            .policy(policy)
            .send()
            .await
            .expect("PutKeyPolicy by admin");
    }

    async fn alias(&self, name: &str, key: &str) {
        self.admin
            .create_alias()
            .alias_name(name)
            .target_key_id(key)
            .send()
            .await
            .expect("CreateAlias by admin");
    }

    async fn grant(&self, key: &str, grantee: &PrincipalSpec, ops: &[&str]) -> CreateGrantOutput {
        let mut req = self
            .admin
            .create_grant()
            .key_id(key)
            .grantee_principal(grantee.arn());
        for op in ops {
            req = req.operations(GrantOperation::from(*op));
        }
        req.send().await.expect("CreateGrant by admin")
    }
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().tag_key(k).tag_value(v).build().expect("tag")
}

type EncryptResult = Result<EncryptOutput, SdkError<EncryptError>>;

async fn encrypt(c: &Client, key: &str) -> EncryptResult {
    encrypt_with(c, key, &[], &[]).await
}

async fn encrypt_with(
    c: &Client,
    key: &str,
    ctx: &[(&str, &str)],
    tokens: &[&str],
) -> EncryptResult {
    let mut req = c
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(b"secret".to_vec()));
    for (k, v) in ctx {
        req = req.encryption_context(*k, *v);
    }
    for t in tokens {
        req = req.grant_tokens(*t);
    }
    req.send().await
}

#[track_caller]
fn blob(r: EncryptResult) -> Vec<u8> {
    r.expect("Encrypt")
        .ciphertext_blob()
        .expect("CiphertextBlob")
        .as_ref()
        .to_vec()
}

async fn decrypt(
    c: &Client,
    ciphertext: &[u8],
    ctx: &[(&str, &str)],
) -> Result<Vec<u8>, SdkError<aws_sdk_kms::operation::decrypt::DecryptError>> {
    let mut req = c.decrypt().ciphertext_blob(Blob::new(ciphertext.to_vec()));
    for (k, v) in ctx {
        req = req.encryption_context(*k, *v);
    }
    let out = req.send().await?;
    Ok(out.plaintext().expect("Plaintext").as_ref().to_vec())
}

// ---------------------------------------------------------------------------------------------
// 1-3. Key policies and identity policies.

#[tokio::test]
async fn default_key_policy_delegates_to_identity_policies() {
    let w = World::start().await;
    let key = w.key().await;
    let arn = key_arn(&key);

    let ct = blob(encrypt(&w.alice, &key).await);
    assert_eq!(
        decrypt(&w.alice, &ct, &[]).await.expect("Decrypt by alice"),
        b"secret"
    );
    w.alice
        .describe_key()
        .key_id(&arn)
        .send()
        .await
        .expect("DescribeKey by alice");

    // bob has no identity policy: the default key policy only delegates to IAM.
    let msg = expect_code(encrypt(&w.bob, &key).await, DENIED);
    assert_eq!(
        msg,
        implicit_denial(&w.who.bob.arn(), "kms:Encrypt", &arn, "identity-based")
    );
    let msg = expect_code(w.bob.describe_key().key_id(&key).send().await, DENIED);
    assert_eq!(
        msg,
        implicit_denial(&w.who.bob.arn(), "kms:DescribeKey", &arn, "identity-based")
    );
    expect_code(decrypt(&w.bob, &ct, &[]).await, DENIED);

    // alice's identity policy does not cover UpdateKeyDescription.
    let msg = expect_code(
        w.alice
            .update_key_description()
            .key_id(&key)
            .description("x")
            .send()
            .await,
        DENIED,
    );
    assert_eq!(
        msg,
        implicit_denial(
            &w.who.alice.arn(),
            "kms:UpdateKeyDescription",
            &arn,
            "identity-based"
        )
    );

    // A role session is named by its session ARN; its identity policy wants a team tag.
    let msg = expect_code(encrypt(&w.app, &key).await, DENIED);
    assert_eq!(
        msg,
        implicit_denial(
            "arn:aws:sts::111111111111:assumed-role/app/strongroom",
            "kms:Encrypt",
            &arn,
            "identity-based"
        )
    );
    // The admin (kms:*) is not limited.
    blob(encrypt(&w.admin, &key).await);
}

#[tokio::test]
async fn key_policy_naming_a_principal_needs_no_identity_policy() {
    let w = World::start().await;
    let policy = key_policy(&[
        w.admin_statement(),
        statement(
            "Allow",
            json!(w.who.bob.arn()),
            json!(["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"]),
            None,
        ),
    ]);
    let key = w.key_with(Some(policy), &[]).await;
    let arn = key_arn(&key);

    let ct = blob(encrypt(&w.bob, &key).await);
    assert_eq!(
        decrypt(&w.bob, &ct, &[]).await.expect("Decrypt by bob"),
        b"secret"
    );
    w.bob
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .expect("DescribeKey by bob");
    let msg = expect_code(
        w.bob
            .generate_data_key()
            .key_id(&key)
            .number_of_bytes(32)
            .send()
            .await,
        DENIED,
    );
    assert_eq!(
        msg,
        implicit_denial(
            &w.who.bob.arn(),
            "kms:GenerateDataKey",
            &arn,
            "resource-based"
        )
    );

    // The key policy does not delegate to IAM: alice's identity policy is not enough.
    let msg = expect_code(encrypt(&w.alice, &key).await, DENIED);
    assert_eq!(
        msg,
        implicit_denial(&w.who.alice.arn(), "kms:Encrypt", &arn, "resource-based")
    );
    // The admin is named and keeps every permission.
    blob(encrypt(&w.admin, &key).await);
    w.admin
        .get_key_policy()
        .key_id(&key)
        .send()
        .await
        .expect("GetKeyPolicy by admin");
}

#[tokio::test]
async fn explicit_deny_in_key_policy_beats_identity_allow_and_grants() {
    let w = World::start().await;
    let policy = key_policy(&[
        statement("Allow", json!(root(A)), json!("kms:*"), None),
        statement("Deny", json!(w.who.alice.arn()), json!("kms:Encrypt"), None),
    ]);
    let key = w.key_with(Some(policy), &[]).await;
    let arn = key_arn(&key);

    let err = encrypt(&w.alice, &key).await;
    assert_eq!(code(err.as_ref().expect_err("denied")), DENIED);
    // Only Encrypt is denied; the identity policy still allows Decrypt through the root statement.
    let ct = blob(encrypt(&w.admin, &key).await);
    assert_eq!(
        decrypt(&w.alice, &ct, &[]).await.expect("Decrypt by alice"),
        b"secret"
    );
    // A grant does not override an explicit deny.
    w.grant(&key, &w.who.alice, &["Encrypt"]).await;
    expect_code(encrypt(&w.alice, &key).await, DENIED);

    let msg = expect_code(err, DENIED);
    assert_eq!(
        msg,
        explicit_denial(&w.who.alice.arn(), "kms:Encrypt", &arn, "resource-based"),
        "AWS words an explicit deny `... on resource: ARN with an explicit deny in a resource-based policy`"
    );
}

#[tokio::test]
async fn explicit_deny_in_identity_policy_beats_key_policy_allow() {
    let w = World::start().await;
    let policy = key_policy(&[
        w.admin_statement(),
        statement("Allow", json!(w.who.alice.arn()), json!("kms:*"), None),
    ]);
    let key = w.key_with(Some(policy), &[]).await;
    let arn = key_arn(&key);

    // The key policy names alice: she may do what her identity policy does not mention...
    w.alice
        .update_key_description()
        .key_id(&key)
        .description("named in the key policy")
        .send()
        .await
        .expect("UpdateKeyDescription by alice");
    blob(encrypt(&w.alice, &key).await);
    // ... but not what it denies.
    let err = w
        .alice
        .schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await;
    assert_eq!(code(err.as_ref().expect_err("denied")), DENIED);
    let meta = w
        .admin
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .expect("DescribeKey");
    assert_eq!(
        meta.key_metadata()
            .and_then(|m| m.key_state())
            .map(|s| s.as_str()),
        Some("Enabled"),
        "the key was not scheduled for deletion"
    );
    let msg = expect_code(err, DENIED);
    assert_eq!(
        msg,
        explicit_denial(
            &w.who.alice.arn(),
            "kms:ScheduleKeyDeletion",
            &arn,
            "identity-based"
        ),
        "AWS words an explicit deny `... on resource: ARN with an explicit deny in an identity-based policy`"
    );
}

#[tokio::test]
async fn operations_on_no_key_need_an_identity_policy() {
    let w = World::start().await;
    let bob = w.who.bob.arn();
    let starts = format!("User: {bob} is not authorized to perform: ");
    let checks = [
        (
            "kms:CreateKey",
            expect_code(w.bob.create_key().send().await, DENIED),
        ),
        (
            "kms:ListKeys",
            expect_code(w.bob.list_keys().send().await, DENIED),
        ),
        (
            "kms:GenerateRandom",
            expect_code(
                w.bob.generate_random().number_of_bytes(16).send().await,
                DENIED,
            ),
        ),
        (
            "kms:ListAliases",
            expect_code(w.bob.list_aliases().send().await, DENIED),
        ),
    ];
    for (action, msg) in checks {
        assert!(
            msg.starts_with(&format!("{starts}{action}")),
            "{action}: {msg}"
        );
        assert!(
            msg.ends_with(&format!(
                "because no identity-based policy allows the {action} action"
            )),
            "{action}: {msg}"
        );
    }
    // alice may create keys but not list them or generate random bytes.
    let mine = w
        .alice
        .create_key()
        .send()
        .await
        .expect("CreateKey by alice")
        .key_metadata()
        .expect("KeyMetadata")
        .key_id()
        .to_string();
    expect_code(w.alice.list_keys().send().await, DENIED);
    expect_code(
        w.alice.generate_random().number_of_bytes(16).send().await,
        DENIED,
    );
    // The admin may do all of it; ListKeys lists the account's keys only.
    let theirs = w
        .dave
        .create_key()
        .send()
        .await
        .expect("CreateKey by dave")
        .key_metadata()
        .expect("KeyMetadata")
        .key_id()
        .to_string();
    let listed: BTreeSet<String> = w
        .admin
        .list_keys()
        .send()
        .await
        .expect("ListKeys by admin")
        .keys()
        .iter()
        .filter_map(|k| k.key_id().map(String::from))
        .collect();
    assert!(listed.contains(&mine), "{listed:?}");
    assert!(
        !listed.contains(&theirs),
        "another account's key: {listed:?}"
    );
    let random = w
        .admin
        .generate_random()
        .number_of_bytes(16)
        .send()
        .await
        .expect("GenerateRandom by admin");
    assert_eq!(random.plaintext().map(|b| b.as_ref().len()), Some(16));
}

// ---------------------------------------------------------------------------------------------
// 4. Grants.

#[tokio::test]
async fn grant_allows_the_grantee_until_revoked() {
    let w = World::start().await;
    let key = w.key().await;
    let arn = key_arn(&key);
    expect_code(encrypt(&w.bob, &key).await, DENIED);

    let g = w.grant(&key, &w.who.bob, &["Encrypt", "Decrypt"]).await;
    let grant_id = g.grant_id().expect("GrantId").to_string();
    let token = g.grant_token().expect("GrantToken").to_string();
    assert!(!grant_id.is_empty() && !token.is_empty());

    let ct = blob(encrypt(&w.bob, &key).await);
    blob(encrypt_with(&w.bob, &arn, &[], &[&token]).await);
    assert_eq!(
        decrypt(&w.bob, &ct, &[]).await.expect("Decrypt by bob"),
        b"secret"
    );
    // Only the granted operations.
    expect_code(
        w.bob
            .generate_data_key()
            .key_id(&key)
            .number_of_bytes(32)
            .send()
            .await,
        DENIED,
    );
    expect_code(w.bob.describe_key().key_id(&key).send().await, DENIED);
    // A token this KMS did not issue.
    expect_code(
        encrypt_with(&w.bob, &key, &[], &["not-a-grant-token"]).await,
        "InvalidGrantTokenException",
    );
    // The grantee cannot revoke; the admin can, and the grantee is denied again.
    expect_code(
        w.bob
            .revoke_grant()
            .key_id(&key)
            .grant_id(&grant_id)
            .send()
            .await,
        DENIED,
    );
    w.admin
        .revoke_grant()
        .key_id(&key)
        .grant_id(&grant_id)
        .send()
        .await
        .expect("RevokeGrant by admin");
    expect_code(encrypt(&w.bob, &key).await, DENIED);
    expect_code(decrypt(&w.bob, &ct, &[]).await, DENIED);
    expect_code(
        w.admin
            .revoke_grant()
            .key_id(&key)
            .grant_id(&grant_id)
            .send()
            .await,
        NOT_FOUND,
    );
    expect_code(
        w.admin
            .revoke_grant()
            .key_id(&key)
            .grant_id("not-a-grant-id")
            .send()
            .await,
        "InvalidGrantIdException",
    );
    let left = w
        .admin
        .list_grants()
        .key_id(&key)
        .send()
        .await
        .expect("ListGrants");
    assert!(left.grants().is_empty(), "{left:?}");
}

#[tokio::test]
async fn grant_constraints_on_the_encryption_context() {
    let w = World::start().await;
    let subset_key = w.key().await;
    w.admin
        .create_grant()
        .key_id(&subset_key)
        .grantee_principal(w.who.bob.arn())
        .operations(GrantOperation::Encrypt)
        .operations(GrantOperation::Decrypt)
        .constraints(
            GrantConstraints::builder()
                .encryption_context_subset("dept", "x")
                .build(),
        )
        .send()
        .await
        .expect("CreateGrant with EncryptionContextSubset");
    let ct = blob(encrypt_with(&w.bob, &subset_key, &[("dept", "x"), ("a", "b")], &[]).await);
    blob(encrypt_with(&w.bob, &subset_key, &[("dept", "x")], &[]).await);
    expect_code(
        encrypt_with(&w.bob, &subset_key, &[("dept", "y")], &[]).await,
        DENIED,
    );
    expect_code(encrypt(&w.bob, &subset_key).await, DENIED);
    expect_code(
        encrypt_with(&w.bob, &subset_key, &[("DEPT", "x")], &[]).await,
        DENIED,
    );
    assert_eq!(
        decrypt(&w.bob, &ct, &[("a", "b"), ("dept", "x")])
            .await
            .expect("Decrypt with the context"),
        b"secret"
    );

    let equals_key = w.key().await;
    w.admin
        .create_grant()
        .key_id(&equals_key)
        .grantee_principal(w.who.bob.arn())
        .operations(GrantOperation::Encrypt)
        .constraints(
            GrantConstraints::builder()
                .encryption_context_equals("dept", "x")
                .build(),
        )
        .send()
        .await
        .expect("CreateGrant with EncryptionContextEquals");
    blob(encrypt_with(&w.bob, &equals_key, &[("dept", "x")], &[]).await);
    expect_code(
        encrypt_with(&w.bob, &equals_key, &[("dept", "x"), ("a", "b")], &[]).await,
        DENIED,
    );
    expect_code(encrypt(&w.bob, &equals_key).await, DENIED);
    expect_code(
        encrypt_with(&w.bob, &equals_key, &[("dept", "X")], &[]).await,
        DENIED,
    );
}

#[tokio::test]
async fn list_grants_by_key_id_grantee_and_pages() {
    let w = World::start().await;
    let key = w.key().await;
    let arn = key_arn(&key);
    let g_bob = w
        .admin
        .create_grant()
        .key_id(&key)
        .name("bob-encrypt")
        .grantee_principal(w.who.bob.arn())
        .retiring_principal(w.who.alice.arn())
        .operations(GrantOperation::Encrypt)
        .send()
        .await
        .expect("CreateGrant")
        .grant_id()
        .expect("GrantId")
        .to_string();
    let g_alice = w.grant(&key, &w.who.alice, &["Decrypt"]).await;
    let g_app = w
        .admin
        .create_grant()
        .key_id(&key)
        .grantee_principal("arn:aws:iam::111111111111:role/app")
        .operations(GrantOperation::Decrypt)
        .constraints(
            GrantConstraints::builder()
                .encryption_context_subset("team", "blue")
                .build(),
        )
        .send()
        .await
        .expect("CreateGrant for a role");
    let all: BTreeSet<String> = [
        g_bob.clone(),
        g_alice.grant_id().expect("GrantId").to_string(),
        g_app.grant_id().expect("GrantId").to_string(),
    ]
    .into();

    let listed = w
        .admin
        .list_grants()
        .key_id(&key)
        .send()
        .await
        .expect("ListGrants");
    assert!(!listed.truncated());
    let ids: BTreeSet<String> = listed
        .grants()
        .iter()
        .map(|g| g.grant_id().expect("GrantId").to_string())
        .collect();
    assert_eq!(ids, all);
    for g in listed.grants() {
        assert_eq!(g.key_id(), Some(arn.as_str()));
        assert_eq!(g.issuing_account(), Some(root(A).as_str()));
        assert!(g.creation_date().is_some());
    }

    let by_id = w
        .admin
        .list_grants()
        .key_id(&arn)
        .grant_id(&g_bob)
        .send()
        .await
        .expect("ListGrants by GrantId");
    let [entry] = by_id.grants() else {
        panic!("one grant: {by_id:?}")
    };
    assert_eq!(entry.name(), Some("bob-encrypt"));
    let bob_arn = w.who.bob.arn();
    let alice_arn = w.who.alice.arn();
    assert_eq!(entry.grantee_principal(), Some(bob_arn.as_str()));
    assert_eq!(entry.retiring_principal(), Some(alice_arn.as_str()));
    assert_eq!(entry.operations(), &[GrantOperation::Encrypt]);
    assert!(entry.constraints().is_none());

    let by_grantee = w
        .admin
        .list_grants()
        .key_id(&key)
        .grantee_principal("arn:aws:iam::111111111111:role/app")
        .send()
        .await
        .expect("ListGrants by GranteePrincipal");
    let [entry] = by_grantee.grants() else {
        panic!("one grant: {by_grantee:?}")
    };
    assert_eq!(entry.grant_id(), g_app.grant_id());
    let subset = entry
        .constraints()
        .and_then(|c| c.encryption_context_subset())
        .expect("EncryptionContextSubset");
    assert_eq!(subset.get("team").map(String::as_str), Some("blue"));

    // One at a time.
    let mut paged = BTreeSet::new();
    let mut marker: Option<String> = None;
    for page in 0.. {
        assert!(page < 5, "paging does not end");
        let out = w
            .admin
            .list_grants()
            .key_id(&key)
            .limit(1)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("ListGrants page");
        assert_eq!(out.grants().len(), 1, "page {page}: {out:?}");
        paged.insert(out.grants()[0].grant_id().expect("GrantId").to_string());
        if !out.truncated() {
            assert_eq!(out.next_marker(), None);
            break;
        }
        marker = Some(out.next_marker().expect("NextMarker").to_string());
    }
    assert_eq!(paged, all);

    // ListGrants needs kms:ListGrants: bob has none.
    expect_code(w.bob.list_grants().key_id(&key).send().await, DENIED);
}

#[tokio::test]
async fn retire_grants_by_token_and_by_id() {
    let w = World::start().await;
    let key = w.key().await;
    let arn = key_arn(&key);
    // Retirable by alice (the retiring principal).
    let g1 = w
        .admin
        .create_grant()
        .key_id(&key)
        .grantee_principal(w.who.bob.arn())
        .retiring_principal(w.who.alice.arn())
        .operations(GrantOperation::Encrypt)
        .send()
        .await
        .expect("CreateGrant with RetiringPrincipal");
    // Retirable by bob himself (the grant includes RetireGrant).
    let g2 = w.grant(&key, &w.who.bob, &["Encrypt", "RetireGrant"]).await;
    let id1 = g1.grant_id().expect("GrantId").to_string();
    let id2 = g2.grant_id().expect("GrantId").to_string();

    let retirable = w
        .admin
        .list_retirable_grants()
        .retiring_principal(w.who.alice.arn())
        .send()
        .await
        .expect("ListRetirableGrants");
    let ids: Vec<&str> = retirable
        .grants()
        .iter()
        .filter_map(|g| g.grant_id())
        .collect();
    assert_eq!(ids, [id1.as_str()]);
    assert_eq!(retirable.grants()[0].key_id(), Some(arn.as_str()));
    // ListRetirableGrants is authorized by IAM alone.
    expect_code(
        w.bob
            .list_retirable_grants()
            .retiring_principal(w.who.bob.arn())
            .send()
            .await,
        DENIED,
    );

    // Neither the retiring principal nor the grantee, nor allowed by the key policy.
    expect_code(
        w.erin
            .retire_grant()
            .grant_token(g1.grant_token().expect("GrantToken"))
            .send()
            .await,
        DENIED,
    );
    // The retiring principal, by token (it needs no policy for it).
    w.alice
        .retire_grant()
        .grant_token(g1.grant_token().expect("GrantToken"))
        .send()
        .await
        .expect("RetireGrant by token, by the retiring principal");
    blob(encrypt(&w.bob, &key).await);
    // The grantee of a grant that includes RetireGrant, by key ARN and grant id.
    w.bob
        .retire_grant()
        .key_id(&arn)
        .grant_id(&id2)
        .send()
        .await
        .expect("RetireGrant by KeyId and GrantId, by the grantee");
    expect_code(encrypt(&w.bob, &key).await, DENIED);
    let left = w
        .admin
        .list_grants()
        .key_id(&key)
        .send()
        .await
        .expect("ListGrants");
    assert!(left.grants().is_empty(), "{left:?}");
}

#[tokio::test]
async fn create_grant_with_a_name_is_idempotent_and_operations_are_checked() {
    let w = World::start().await;
    let key = w.key().await;
    let create = |ops: &'static [GrantOperation]| {
        let mut req = w
            .admin
            .create_grant()
            .key_id(&key)
            .name("retry-safe")
            .grantee_principal(w.who.bob.arn());
        for op in ops {
            req = req.operations(op.clone());
        }
        req.send()
    };
    let first = create(&[GrantOperation::Encrypt, GrantOperation::Decrypt])
        .await
        .expect("CreateGrant");
    let again = create(&[GrantOperation::Encrypt, GrantOperation::Decrypt])
        .await
        .expect("CreateGrant again");
    assert_eq!(
        first.grant_id(),
        again.grant_id(),
        "a retry returns the same grant"
    );
    let other = create(&[GrantOperation::Encrypt])
        .await
        .expect("CreateGrant, other operations");
    assert_ne!(
        first.grant_id(),
        other.grant_id(),
        "other parameters: a new grant"
    );
    let listed = w
        .admin
        .list_grants()
        .key_id(&key)
        .send()
        .await
        .expect("ListGrants");
    assert_eq!(listed.grants().len(), 2, "{listed:?}");

    // Sign is not an operation of a symmetric encryption key.
    expect_code(
        w.admin
            .create_grant()
            .key_id(&key)
            .grantee_principal(w.who.bob.arn())
            .operations(GrantOperation::Sign)
            .send()
            .await,
        "ValidationException",
    );
    // CreateGrant needs kms:CreateGrant.
    expect_code(
        w.bob
            .create_grant()
            .key_id(&key)
            .grantee_principal(w.who.bob.arn())
            .operations(GrantOperation::Encrypt)
            .send()
            .await,
        DENIED,
    );
}

/// AWS accepts DescribeKey, RetireGrant and CreateGrant in a grant with an encryption context
/// constraint (the constraint does not apply to the first two), as in its DynamoDB grants.
#[tokio::test]
async fn constrained_grant_may_include_describe_key_and_retire_grant() {
    let w = World::start().await;
    let key = w.key().await;
    let g = w
        .admin
        .create_grant()
        .key_id(&key)
        .grantee_principal(w.who.bob.arn())
        .operations(GrantOperation::Encrypt)
        .operations(GrantOperation::Decrypt)
        .operations(GrantOperation::DescribeKey)
        .operations(GrantOperation::RetireGrant)
        .constraints(
            GrantConstraints::builder()
                .encryption_context_subset("dept", "x")
                .build(),
        )
        .send()
        .await
        .expect("CreateGrant with a constraint and DescribeKey/RetireGrant");
    blob(encrypt_with(&w.bob, &key, &[("dept", "x")], &[]).await);
    w.bob
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .expect("DescribeKey through a constrained grant");
    w.bob
        .retire_grant()
        .key_id(key_arn(&key))
        .grant_id(g.grant_id().expect("GrantId"))
        .send()
        .await
        .expect("RetireGrant by the grantee");
    expect_code(
        encrypt_with(&w.bob, &key, &[("dept", "x")], &[]).await,
        DENIED,
    );
}

/// A principal that may create grants only through a grant can create grants for some or all of
/// that grant's operations, and no others.
#[tokio::test]
async fn create_grant_through_a_grant_is_limited_to_its_operations() {
    let w = World::start().await;
    let key = w.key().await;
    w.grant(&key, &w.who.bob, &["Encrypt", "CreateGrant"]).await;
    w.bob
        .create_grant()
        .key_id(&key)
        .grantee_principal(w.who.erin.arn())
        .operations(GrantOperation::Encrypt)
        .send()
        .await
        .expect("a child grant with a subset of the operations");
    expect_code(
        w.bob
            .create_grant()
            .key_id(&key)
            .grantee_principal(w.who.erin.arn())
            .operations(GrantOperation::Decrypt)
            .send()
            .await,
        DENIED,
    );
}

/// A grant to a role (its role ARN) lets the role's sessions use the key.
#[tokio::test]
async fn grant_to_a_role_covers_its_sessions() {
    let w = World::start().await;
    // Untagged: the roles' identity policies do not allow it; only the grant does.
    let key = w.key().await;
    expect_code(encrypt(&w.app, &key).await, DENIED);
    w.admin
        .create_grant()
        .key_id(&key)
        .grantee_principal(format!("arn:aws:iam::{A}:role/app"))
        .operations(GrantOperation::Encrypt)
        .send()
        .await
        .expect("CreateGrant to a role");
    blob(encrypt(&w.app, &key).await);
    expect_code(encrypt(&w.batch, &key).await, DENIED);
}

// ---------------------------------------------------------------------------------------------
// 5. ABAC and alias conditions.

#[tokio::test]
async fn resource_tag_condition_in_a_key_policy() {
    let w = World::start().await;
    let policy = key_policy(&[
        w.admin_statement(),
        statement(
            "Allow",
            json!(w.who.alice.arn()),
            json!("kms:Encrypt"),
            Some(json!({"StringEquals": {"aws:ResourceTag/project": "blue"}})),
        ),
    ]);
    let blue = w
        .key_with(Some(policy.clone()), &[("project", "blue")])
        .await;
    let red = w.key_with(Some(policy), &[("project", "red")]).await;
    blob(encrypt(&w.alice, &blue).await);
    let msg = expect_code(encrypt(&w.alice, &red).await, DENIED);
    assert_eq!(
        msg,
        implicit_denial(
            &w.who.alice.arn(),
            "kms:Encrypt",
            &key_arn(&red),
            "resource-based"
        )
    );
    // Tags take effect at once.
    w.admin
        .tag_resource()
        .key_id(&blue)
        .tags(tag("project", "red"))
        .send()
        .await
        .expect("TagResource");
    expect_code(encrypt(&w.alice, &blue).await, DENIED);
    w.admin
        .tag_resource()
        .key_id(&red)
        .tags(tag("project", "blue"))
        .send()
        .await
        .expect("TagResource");
    blob(encrypt(&w.alice, &red).await);
    w.admin
        .untag_resource()
        .key_id(&red)
        .tag_keys("project")
        .send()
        .await
        .expect("UntagResource");
    expect_code(encrypt(&w.alice, &red).await, DENIED);
}

#[tokio::test]
async fn principal_tag_matches_resource_tag_in_an_identity_policy() {
    let w = World::start().await;
    let blue = w.key_with(None, &[("team", "blue")]).await;
    let red = w.key_with(None, &[("team", "red")]).await;
    let untagged = w.key().await;

    let ct = blob(encrypt(&w.app, &blue).await);
    assert_eq!(
        decrypt(&w.app, &ct, &[]).await.expect("Decrypt by app"),
        b"secret"
    );
    expect_code(encrypt(&w.app, &red).await, DENIED);
    expect_code(encrypt(&w.app, &untagged).await, DENIED);
    expect_code(decrypt(&w.batch, &ct, &[]).await, DENIED);

    blob(encrypt(&w.batch, &red).await);
    let msg = expect_code(encrypt(&w.batch, &blue).await, DENIED);
    assert_eq!(
        msg,
        implicit_denial(
            &w.who.batch.arn(),
            "kms:Encrypt",
            &key_arn(&blue),
            "identity-based"
        )
    );
}

#[tokio::test]
async fn principal_tag_condition_on_a_role_in_a_key_policy() {
    let w = World::start().await;
    let policy = key_policy(&[
        w.admin_statement(),
        statement(
            "Allow",
            json!([
                "arn:aws:iam::111111111111:role/app",
                "arn:aws:iam::111111111111:role/batch"
            ]),
            json!("kms:*"),
            Some(json!({"StringEquals": {"aws:PrincipalTag/team": "blue"}})),
        ),
    ]);
    let key = w.key_with(Some(policy), &[]).await;
    // The role ARN in the key policy covers its sessions; only the blue team's tag matches.
    blob(encrypt(&w.app, &key).await);
    w.app
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .expect("DescribeKey by app");
    let msg = expect_code(encrypt(&w.batch, &key).await, DENIED);
    assert_eq!(
        msg,
        implicit_denial(
            &w.who.batch.arn(),
            "kms:Encrypt",
            &key_arn(&key),
            "resource-based"
        )
    );
}

#[tokio::test]
async fn request_alias_condition() {
    let w = World::start().await;
    let policy = key_policy(&[
        w.admin_statement(),
        statement(
            "Allow",
            json!(w.who.bob.arn()),
            json!("kms:Encrypt"),
            Some(json!({"StringLike": {"kms:RequestAlias": "alias/blue-*"}})),
        ),
    ]);
    let key = w.key_with(Some(policy), &[]).await;
    w.alias("alias/blue-app", &key).await;
    w.alias("alias/red-app", &key).await;

    blob(encrypt(&w.bob, "alias/blue-app").await);
    blob(encrypt(&w.bob, &alias_arn("alias/blue-app")).await);
    expect_code(encrypt(&w.bob, &key).await, DENIED);
    expect_code(encrypt(&w.bob, &key_arn(&key)).await, DENIED);
    expect_code(encrypt(&w.bob, "alias/red-app").await, DENIED);
}

#[tokio::test]
async fn resource_aliases_condition() {
    let w = World::start().await;
    let policy = key_policy(&[
        w.admin_statement(),
        statement(
            "Allow",
            json!(w.who.bob.arn()),
            json!("kms:Encrypt"),
            Some(json!({"ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/blue-*"}})),
        ),
    ]);
    let key = w.key_with(Some(policy), &[]).await;
    expect_code(encrypt(&w.bob, &key).await, DENIED);
    w.alias("alias/red-data", &key).await;
    expect_code(encrypt(&w.bob, &key).await, DENIED);
    w.alias("alias/blue-data", &key).await;
    // Any of the key's aliases matches, whatever the request names.
    blob(encrypt(&w.bob, &key).await);
    blob(encrypt(&w.bob, "alias/red-data").await);
    w.admin
        .delete_alias()
        .alias_name("alias/blue-data")
        .send()
        .await
        .expect("DeleteAlias");
    expect_code(encrypt(&w.bob, &key).await, DENIED);
}

/// KMS condition keys of the request in a key policy: the encryption context, the caller's account.
#[tokio::test]
async fn encryption_context_and_caller_account_conditions() {
    let w = World::start().await;
    let policy = key_policy(&[
        w.admin_statement(),
        statement(
            "Allow",
            json!(w.who.bob.arn()),
            json!("kms:Encrypt"),
            Some(json!({
                "StringEquals": {"kms:EncryptionContext:dept": "x", "kms:CallerAccount": A},
                "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["dept", "purpose"]}
            })),
        ),
    ]);
    let key = w.key_with(Some(policy), &[]).await;
    blob(encrypt_with(&w.bob, &key, &[("dept", "x")], &[]).await);
    blob(encrypt_with(&w.bob, &key, &[("dept", "x"), ("purpose", "test")], &[]).await);
    expect_code(
        encrypt_with(&w.bob, &key, &[("dept", "y")], &[]).await,
        DENIED,
    );
    expect_code(encrypt(&w.bob, &key).await, DENIED);
    expect_code(
        encrypt_with(&w.bob, &key, &[("dept", "x"), ("other", "z")], &[]).await,
        DENIED,
    );
}

/// Global condition keys of the connection: `aws:SourceIp` (127.0.0.1 here) and
/// `aws:SecureTransport` (false: plain HTTP).
#[tokio::test]
async fn source_ip_and_secure_transport_conditions() {
    let w = World::start().await;
    let loopback = w
        .key_with(
            Some(key_policy(&[
                w.admin_statement(),
                statement(
                    "Allow",
                    json!(w.who.bob.arn()),
                    json!("kms:Encrypt"),
                    Some(json!({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}})),
                ),
            ])),
            &[],
        )
        .await;
    let elsewhere = w
        .key_with(
            Some(key_policy(&[
                w.admin_statement(),
                statement(
                    "Allow",
                    json!(w.who.bob.arn()),
                    json!("kms:Encrypt"),
                    Some(json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})),
                ),
            ])),
            &[],
        )
        .await;
    blob(encrypt(&w.bob, &loopback).await);
    expect_code(encrypt(&w.bob, &elsewhere).await, DENIED);

    let tls_only = w
        .key_with(
            Some(key_policy(&[
                statement("Allow", json!(root(A)), json!("kms:*"), None),
                statement(
                    "Deny",
                    json!("*"),
                    json!("kms:Encrypt"),
                    Some(json!({"Bool": {"aws:SecureTransport": "false"}})),
                ),
            ])),
            &[],
        )
        .await;
    expect_code(encrypt(&w.admin, &tls_only).await, DENIED);
    w.admin
        .describe_key()
        .key_id(&tls_only)
        .send()
        .await
        .expect("DescribeKey is not denied");
}

// ---------------------------------------------------------------------------------------------
// 6. Cross-account use.

#[tokio::test]
async fn cross_account_use_needs_the_key_policy_and_an_identity_policy() {
    let w = World::start().await;
    let key = w.key().await;
    let arn = key_arn(&key);
    w.alias("alias/shared", &key).await;

    // The default key policy trusts account A only.
    let msg = expect_code(encrypt(&w.carol, &arn).await, DENIED);
    assert_eq!(
        msg,
        implicit_denial(&w.who.carol.arn(), "kms:Encrypt", &arn, "resource-based")
    );

    w.put_policy(
        &key,
        &key_policy(&[
            statement("Allow", json!(root(A)), json!("kms:*"), None),
            statement(
                "Allow",
                json!(root(B)),
                json!(["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"]),
                None,
            ),
        ]),
    )
    .await;
    let ct = blob(encrypt(&w.carol, &arn).await);
    assert_eq!(
        decrypt(&w.carol, &ct, &[]).await.expect("Decrypt by carol"),
        b"secret"
    );
    let meta = w
        .carol
        .describe_key()
        .key_id(&arn)
        .send()
        .await
        .expect("DescribeKey by carol");
    assert_eq!(
        meta.key_metadata().and_then(|m| m.aws_account_id()),
        Some(A)
    );
    // An alias ARN of account A works too.
    blob(encrypt(&w.carol, &alias_arn("alias/shared")).await);
    // A bare key id or an alias name is looked up in the caller's own account.
    expect_code(encrypt(&w.carol, &key).await, NOT_FOUND);
    expect_code(encrypt(&w.carol, "alias/shared").await, NOT_FOUND);
    // The key policy allows account B only these operations.
    let msg = expect_code(
        w.carol
            .generate_data_key()
            .key_id(&arn)
            .number_of_bytes(32)
            .send()
            .await,
        DENIED,
    );
    assert_eq!(
        msg,
        implicit_denial(
            &w.who.carol.arn(),
            "kms:GenerateDataKey",
            &arn,
            "resource-based"
        )
    );
    // erin (account B, no identity policy) needs her own account's permission as well.
    let msg = expect_code(encrypt(&w.erin, &arn).await, DENIED);
    assert_eq!(
        msg,
        implicit_denial(&w.who.erin.arn(), "kms:Encrypt", &arn, "identity-based")
    );
    // A key policy naming erin herself does not replace her identity policy across accounts.
    w.put_policy(
        &key,
        &key_policy(&[
            statement("Allow", json!(root(A)), json!("kms:*"), None),
            statement("Allow", json!(w.who.erin.arn()), json!("kms:*"), None),
        ]),
    )
    .await;
    expect_code(encrypt(&w.erin, &arn).await, DENIED);
    expect_code(encrypt(&w.carol, &arn).await, DENIED);
}

#[tokio::test]
async fn operations_with_no_cross_account_use_do_not_find_the_key() {
    let w = World::start().await;
    let key = w
        .key_with(
            Some(key_policy(&[
                statement("Allow", json!(root(A)), json!("kms:*"), None),
                statement("Allow", json!(root(B)), json!("kms:*"), None),
            ])),
            &[],
        )
        .await;
    let arn = key_arn(&key);

    for c in [&w.carol, &w.dave] {
        expect_code(c.enable_key().key_id(&arn).send().await, NOT_FOUND);
        expect_code(
            c.tag_resource()
                .key_id(&arn)
                .tags(tag("k", "v"))
                .send()
                .await,
            NOT_FOUND,
        );
    }
    expect_code(w.dave.disable_key().key_id(&arn).send().await, NOT_FOUND);
    expect_code(
        w.dave
            .schedule_key_deletion()
            .key_id(&arn)
            .pending_window_in_days(7)
            .send()
            .await,
        NOT_FOUND,
    );
    expect_code(w.dave.get_key_policy().key_id(&arn).send().await, NOT_FOUND);
    expect_code(
        w.dave
            .put_key_policy()
            .key_id(&arn)
            .policy(key_policy(&[statement(
                "Allow",
                json!(root(B)),
                json!("kms:*"),
                None,
            )]))
            .bypass_policy_lockout_safety_check(true)
            .send()
            .await,
        NOT_FOUND,
    );
    expect_code(
        w.dave.list_resource_tags().key_id(&arn).send().await,
        NOT_FOUND,
    );
    expect_code(
        w.dave
            .update_key_description()
            .key_id(&arn)
            .description("mine now")
            .send()
            .await,
        NOT_FOUND,
    );

    // The operations with cross-account use work with the key ARN.
    blob(encrypt(&w.dave, &arn).await);
    w.dave
        .create_grant()
        .key_id(&arn)
        .grantee_principal(w.who.erin.arn())
        .operations(GrantOperation::Encrypt)
        .send()
        .await
        .expect("CreateGrant across accounts");
    let grants = w
        .dave
        .list_grants()
        .key_id(&arn)
        .send()
        .await
        .expect("ListGrants");
    let [g] = grants.grants() else {
        panic!("one grant: {grants:?}")
    };
    assert_eq!(g.issuing_account(), Some(root(B).as_str()));
    // The key is still account A's and unchanged.
    let meta = w
        .admin
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .expect("DescribeKey");
    let meta = meta.key_metadata().expect("KeyMetadata");
    assert!(meta.enabled());
    assert_eq!(meta.description(), Some(""));
    let keys = w.dave.list_keys().send().await.expect("ListKeys by dave");
    assert!(keys.keys().iter().all(|k| k.key_id() != Some(key.as_str())));
}

/// ListRetirableGrants lists the grants whose retiring principal is the one named, including
/// grants on keys of other accounts (AWS API reference, "Cross-account use").
#[tokio::test]
async fn list_retirable_grants_includes_grants_on_other_accounts_keys() {
    let w = World::start().await;
    let key = w.key().await;
    let mk = || {
        w.admin
            .create_grant()
            .key_id(&key)
            .grantee_principal(w.who.carol.arn())
            .retiring_principal(w.who.dave.arn())
            .operations(GrantOperation::Encrypt)
            .send()
    };
    let first = mk().await.expect("CreateGrant");
    let second = w
        .admin
        .create_grant()
        .key_id(&key)
        .grantee_principal(w.who.carol.arn())
        .retiring_principal(w.who.dave.arn())
        .operations(GrantOperation::Decrypt)
        .send()
        .await
        .expect("CreateGrant");
    // The retiring principal of account B retires a grant on account A's key by its token.
    w.dave
        .retire_grant()
        .grant_token(first.grant_token().expect("GrantToken"))
        .send()
        .await
        .expect("RetireGrant across accounts by the retiring principal");
    let out = w
        .dave
        .list_retirable_grants()
        .retiring_principal(w.who.dave.arn())
        .send()
        .await
        .expect("ListRetirableGrants by dave");
    let ids: Vec<&str> = out.grants().iter().filter_map(|g| g.grant_id()).collect();
    assert_eq!(
        ids,
        [second.grant_id().expect("GrantId")],
        "the grant on account A's key whose retiring principal is dave"
    );
    assert_eq!(out.grants()[0].key_id(), Some(key_arn(&key).as_str()));
}

// ---------------------------------------------------------------------------------------------
// 7. The policy lockout safety check and malformed policies.

#[tokio::test]
async fn policy_lockout_safety_check() {
    let w = World::start().await;
    let key = w.key().await;
    let before = w
        .alice
        .get_key_policy()
        .key_id(&key)
        .send()
        .await
        .expect("GetKeyPolicy by alice")
        .policy()
        .expect("Policy")
        .to_string();

    // Only the admin would be allowed: alice could not change it again.
    let admin_only = key_policy(&[w.admin_statement()]);
    expect_code(
        w.alice
            .put_key_policy()
            .key_id(&key)
            .policy(&admin_only)
            .send()
            .await,
        MALFORMED,
    );
    // Delegation to IAM, but alice denied PutKeyPolicy.
    let deny_alice = key_policy(&[
        statement("Allow", json!(root(A)), json!("kms:*"), None),
        statement(
            "Deny",
            json!(w.who.alice.arn()),
            json!("kms:PutKeyPolicy"),
            None,
        ),
    ]);
    expect_code(
        w.alice
            .put_key_policy()
            .key_id(&key)
            .policy(&deny_alice)
            .send()
            .await,
        MALFORMED,
    );
    let now = w
        .admin
        .get_key_policy()
        .key_id(&key)
        .send()
        .await
        .expect("GetKeyPolicy");
    assert_eq!(now.policy(), Some(before.as_str()), "unchanged");

    // Bypassing the check, alice locks herself out.
    w.alice
        .put_key_policy()
        .key_id(&key)
        .policy(&admin_only)
        .bypass_policy_lockout_safety_check(true)
        .send()
        .await
        .expect("PutKeyPolicy with BypassPolicyLockoutSafetyCheck");
    expect_code(
        w.alice
            .put_key_policy()
            .key_id(&key)
            .policy(&before)
            .send()
            .await,
        DENIED,
    );
    // The admin, named in the policy, still can.
    w.put_policy(&key, &before).await;

    // CreateKey checks its Policy the same way.
    expect_code(
        w.alice.create_key().policy(&admin_only).send().await,
        MALFORMED,
    );
    w.alice
        .create_key()
        .policy(&admin_only)
        .bypass_policy_lockout_safety_check(true)
        .send()
        .await
        .expect("CreateKey with BypassPolicyLockoutSafetyCheck");
    w.alice
        .create_key()
        .policy(key_policy(&[statement(
            "Allow",
            json!(root(A)),
            json!("kms:*"),
            None,
        )]))
        .send()
        .await
        .expect("CreateKey with a policy delegating to IAM");
}

#[tokio::test]
async fn malformed_key_policies_are_refused() {
    let w = World::start().await;
    let key = w.key().await;
    let bad = [
        "{not json".to_string(),
        json!({"Version": "2012-10-17", "Statement": [
            {"Principal": {"AWS": root(A)}, "Action": "kms:*", "Resource": "*"}
        ]})
        .to_string(),
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Maybe", "Principal": {"AWS": root(A)}, "Action": "kms:*", "Resource": "*"}
        ]})
        .to_string(),
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}
        ]})
        .to_string(),
    ];
    for doc in &bad {
        let msg = expect_code(
            w.admin
                .put_key_policy()
                .key_id(&key)
                .policy(doc)
                .bypass_policy_lockout_safety_check(true)
                .send()
                .await,
            MALFORMED,
        );
        assert!(!msg.is_empty(), "{doc}: a reason");
        expect_code(
            w.admin
                .create_key()
                .policy(doc)
                .bypass_policy_lockout_safety_check(true)
                .send()
                .await,
            MALFORMED,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Reloading the principals on SIGHUP.

#[tokio::test]
async fn sighup_reloads_principals_without_restart() {
    let w = World::start().await;
    let key = w.key().await;
    let mut specs = w.who.all();
    let frank = PrincipalSpec::user(A, "frank").policy(allow(&["kms:*"]));
    let frank_client = w.srv.client(&frank).await;
    expect_code(
        frank_client.list_keys().send().await,
        "UnrecognizedClientException",
    );
    expect_code(encrypt(&w.bob, &key).await, DENIED);

    // Add frank; give bob an identity policy.
    specs.push(frank.clone());
    for s in &mut specs {
        if s.name == "bob" {
            s.policies.push(allow(&["kms:Encrypt"]));
        }
    }
    w.srv.rewrite_config(&specs);
    w.srv.sighup();
    poll_until(
        "frank's new access key authenticates",
        Duration::from_secs(10),
        || async { frank_client.list_keys().send().await.is_ok() },
    )
    .await;
    blob(encrypt(&frank_client, &key).await);
    blob(encrypt(&w.bob, &key).await);

    // A file that does not load leaves the principals as they are.
    w.srv.write_raw_config("this is = = not TOML");
    w.srv.sighup();
    w.srv
        .wait_for_log("configuration reload failed", Duration::from_secs(10));
    blob(encrypt(&frank_client, &key).await);

    // Remove frank's key: it is unknown after the next SIGHUP.
    specs.retain(|s| s.name != "frank");
    w.srv.rewrite_config(&specs);
    w.srv.sighup();
    poll_until(
        "frank's removed access key is refused",
        Duration::from_secs(10),
        || async {
            frank_client
                .list_keys()
                .send()
                .await
                .is_err_and(|e| code(&e) == "UnrecognizedClientException")
        },
    )
    .await;
    // The others, the keys and the process are unaffected.
    blob(encrypt(&w.alice, &key).await);
    blob(encrypt(&w.bob, &key).await);
    let mut srv = w.srv;
    assert!(srv.is_running(), "strongroom serve is still running");
}
