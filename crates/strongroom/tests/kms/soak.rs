//! Crash loops under load: `strongroom serve` is SIGKILLed again and again while several SDK
//! clients run a mixed write load (CreateKey, aliases, tags, grants, key policies, deletion
//! schedules, enable/disable, rotation); after every restart each acknowledged write must be
//! there and every ciphertext made before the kill must decrypt.
//!
//! Each worker owns its keys and aliases and keeps a model of them, updated only when a write is
//! acknowledged. The one request a worker had in flight at the kill has an unknown outcome: the
//! check accepts the model with or without it (and then adopts what the server shows).
//!
//! Short by default (CI); longer with `STRONGROOM_SOAK_CYCLES` (kills), `STRONGROOM_SOAK_WORKERS`
//! (concurrent clients) and `STRONGROOM_SOAK_SEED` (the load's choices), see docs/reliability.md.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{GrantOperation, KeyState, RotationType, Tag};
use aws_sdk_kms::Client;

use crate::common::{random_bytes, with_operation_timeout, PrincipalSpec, Served};

const ACCOUNT: &str = "444455556666";
/// A request that takes longer than this is a hang (the machine may be busy: generous).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the check waits for asynchronous effects (on-demand rotations) to show.
const SETTLE: Duration = Duration::from_secs(20);
const MAX_GRANTS: usize = 4;
const MAX_ON_DEMAND: usize = 3;

fn env_or(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// xorshift64*: the load's choices, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ---------------------------------------------------------------------------------------------
// The model

#[derive(Debug, Clone, PartialEq)]
enum State {
    Enabled,
    Disabled,
    /// With the DeletionDate in seconds (None: not known, the request's outcome was unknown).
    Pending(Option<i64>),
}

#[derive(Debug, Clone)]
struct Sealed {
    ciphertext: Vec<u8>,
    plaintext: Vec<u8>,
    context: String,
    checked: bool,
}

#[derive(Debug, Clone)]
struct KeyModel {
    description: String,
    state: State,
    tags: BTreeMap<String, String>,
    /// Grant ids; `?N` for a grant whose creation had an unknown outcome.
    grants: BTreeSet<String>,
    /// The last policy put (None: the default one).
    policy: Option<String>,
    /// Automatic rotation's period, when enabled.
    rotation: Option<i32>,
    /// On-demand rotations seen completed at the last check.
    on_demand: usize,
    /// A RotateKeyOnDemand acknowledged since then: at least one more must complete (a request
    /// made while one is in progress joins it).
    rotate_pending: bool,
    sealed: Vec<Sealed>,
    /// Written to since the last check.
    dirty: bool,
}

impl KeyModel {
    fn new(description: String) -> KeyModel {
        KeyModel {
            description,
            state: State::Enabled,
            tags: BTreeMap::new(),
            grants: BTreeSet::new(),
            policy: None,
            rotation: None,
            on_demand: 0,
            rotate_pending: false,
            sealed: Vec::new(),
            dirty: true,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Model {
    keys: BTreeMap<String, KeyModel>,
    aliases: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
enum Op {
    CreateKey {
        description: String,
    },
    CreateAlias {
        name: String,
        key: String,
    },
    UpdateAlias {
        name: String,
        key: String,
    },
    DeleteAlias {
        name: String,
    },
    Tag {
        key: String,
        tag: String,
        value: String,
    },
    Untag {
        key: String,
        tag: String,
    },
    CreateGrant {
        key: String,
    },
    RevokeGrant {
        key: String,
        grant: String,
    },
    PutPolicy {
        key: String,
        policy: String,
    },
    EnableRotation {
        key: String,
        days: i32,
    },
    DisableRotation {
        key: String,
    },
    RotateNow {
        key: String,
    },
    Disable {
        key: String,
    },
    Enable {
        key: String,
    },
    ScheduleDeletion {
        key: String,
        days: i32,
    },
    CancelDeletion {
        key: String,
    },
    /// Not a write: makes a ciphertext to decrypt after the kill.
    Encrypt {
        key: String,
        plaintext: Vec<u8>,
        context: String,
    },
}

impl Op {
    fn is_write(&self) -> bool {
        !matches!(self, Op::Encrypt { .. })
    }
}

/// What an acknowledged request returned that the model needs.
enum Ack {
    Done,
    Key(String),
    Grant(String),
    Deletion(i64),
    Ciphertext(Vec<u8>),
}

fn key_of<'a>(m: &'a mut Model, k: &str) -> Option<&'a mut KeyModel> {
    let km = m.keys.get_mut(k)?;
    km.dirty = true;
    Some(km)
}

impl Model {
    /// Applies `op`; `ack` is None for a request whose outcome is unknown.
    fn apply(&mut self, op: &Op, ack: Option<Ack>, placeholder: usize) {
        match op {
            Op::CreateKey { description } => {
                if let Some(Ack::Key(id)) = ack {
                    self.keys.insert(id, KeyModel::new(description.clone()));
                }
            }
            Op::CreateAlias { name, key } | Op::UpdateAlias { name, key } => {
                self.aliases.insert(name.clone(), key.clone());
            }
            Op::DeleteAlias { name } => {
                self.aliases.remove(name);
            }
            Op::Tag { key, tag, value } => {
                if let Some(k) = key_of(self, key) {
                    k.tags.insert(tag.clone(), value.clone());
                }
            }
            Op::Untag { key, tag } => {
                if let Some(k) = key_of(self, key) {
                    k.tags.remove(tag);
                }
            }
            Op::CreateGrant { key } => {
                if let Some(k) = key_of(self, key) {
                    match ack {
                        Some(Ack::Grant(id)) => k.grants.insert(id),
                        _ => k.grants.insert(format!("?{placeholder}")),
                    };
                }
            }
            Op::RevokeGrant { key, grant } => {
                if let Some(k) = key_of(self, key) {
                    k.grants.remove(grant);
                }
            }
            Op::PutPolicy { key, policy } => {
                if let Some(k) = key_of(self, key) {
                    k.policy = Some(policy.clone());
                }
            }
            Op::EnableRotation { key, days } => {
                if let Some(k) = key_of(self, key) {
                    k.rotation = Some(*days);
                }
            }
            Op::DisableRotation { key } => {
                if let Some(k) = key_of(self, key) {
                    k.rotation = None;
                }
            }
            Op::RotateNow { key } => {
                if let Some(k) = key_of(self, key) {
                    k.rotate_pending = true;
                }
            }
            Op::Disable { key } | Op::CancelDeletion { key } => {
                if let Some(k) = key_of(self, key) {
                    k.state = State::Disabled;
                }
            }
            Op::Enable { key } => {
                if let Some(k) = key_of(self, key) {
                    k.state = State::Enabled;
                }
            }
            Op::ScheduleDeletion { key, .. } => {
                if let Some(k) = key_of(self, key) {
                    k.state = State::Pending(match ack {
                        Some(Ack::Deletion(d)) => Some(d),
                        _ => None,
                    });
                }
            }
            Op::Encrypt {
                key,
                plaintext,
                context,
            } => {
                if let (Some(Ack::Ciphertext(ct)), Some(k)) = (ack, self.keys.get_mut(key)) {
                    k.sealed.push(Sealed {
                        ciphertext: ct,
                        plaintext: plaintext.clone(),
                        context: context.clone(),
                        checked: false,
                    });
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A worker

/// How a request ended when it did not succeed.
enum Failed {
    /// The server answered with this error code: nothing was written.
    Refused(String),
    /// No answer (the server died): the outcome is unknown.
    Lost,
    /// No answer within REQUEST_TIMEOUT from a live server.
    Hang(String),
}

fn failed<E: ProvideErrorMetadata + Debug, R: Debug>(e: SdkError<E, R>) -> Failed {
    match &e {
        SdkError::ServiceError(s) => Failed::Refused(
            s.err()
                .code()
                .map(str::to_string)
                .unwrap_or_else(|| format!("<no code: {e:?}>")),
        ),
        SdkError::TimeoutError(_) => Failed::Hang(format!("{e:?}")),
        _ => Failed::Lost,
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    acknowledged: u64,
    refused: u64,
    unknown: u64,
    encrypted: u64,
    /// Writes in flight at a kill that the server turned out to have made.
    in_flight_applied: u64,
}

struct Worker {
    id: usize,
    rng: Rng,
    seq: u64,
    model: Model,
    /// The request in flight at the last kill, if any.
    uncertain: Option<Op>,
    /// CreateKey requests with an unknown outcome (a key the model does not know may exist).
    unknown_creates: usize,
    counts: Counts,
}

fn done<T>(_: T) -> Ack {
    Ack::Done
}

fn policy_doc(sid: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{sid}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    )
}

impl Worker {
    fn alias_prefix(&self) -> String {
        format!("alias/soak-w{}-", self.id)
    }

    fn pick(&mut self) -> Op {
        self.seq += 1;
        let tag = format!("w{}-{}", self.id, self.seq);
        let keys: Vec<&String> = self.model.keys.keys().collect();
        if keys.is_empty() || self.rng.below(12) == 0 {
            return Op::CreateKey { description: tag };
        }
        let key = keys[self.rng.below(keys.len())].clone();
        let km = &self.model.keys[&key];
        let aliases: Vec<String> = self.model.aliases.keys().cloned().collect();
        let any_alias = |rng: &mut Rng| aliases[rng.below(aliases.len())].clone();
        match km.state {
            State::Pending(_) => Op::CancelDeletion { key },
            State::Disabled => match self.rng.below(4) {
                0 | 1 => Op::Enable { key },
                2 => Op::Tag {
                    key,
                    tag: format!("t{}", self.rng.below(3)),
                    value: tag,
                },
                _ => Op::PutPolicy {
                    key,
                    policy: policy_doc(&tag.replace('-', "x")),
                },
            },
            State::Enabled => loop {
                let op = match self.rng.below(20) {
                    0..=3 => Op::Encrypt {
                        key: key.clone(),
                        plaintext: random_bytes(1 + self.rng.below(64)),
                        context: tag.clone(),
                    },
                    4 | 5 => Op::Tag {
                        key: key.clone(),
                        tag: format!("t{}", self.rng.below(3)),
                        value: tag.clone(),
                    },
                    6 if !km.tags.is_empty() => Op::Untag {
                        key: key.clone(),
                        tag: km.tags.keys().next().cloned().unwrap_or_default(),
                    },
                    7 | 8 => Op::CreateAlias {
                        name: format!("{}{}", self.alias_prefix(), self.seq),
                        key: key.clone(),
                    },
                    9 if !aliases.is_empty() => Op::UpdateAlias {
                        name: any_alias(&mut self.rng),
                        key: key.clone(),
                    },
                    10 if !aliases.is_empty() => Op::DeleteAlias {
                        name: any_alias(&mut self.rng),
                    },
                    11 if km.grants.len() < MAX_GRANTS => Op::CreateGrant { key: key.clone() },
                    12 => match km.grants.iter().find(|g| !g.starts_with('?')) {
                        Some(g) => Op::RevokeGrant {
                            key: key.clone(),
                            grant: g.clone(),
                        },
                        None => continue,
                    },
                    13 => Op::PutPolicy {
                        key: key.clone(),
                        policy: policy_doc(&tag.replace('-', "x")),
                    },
                    14 => Op::EnableRotation {
                        key: key.clone(),
                        days: 90 + self.rng.below(2000) as i32,
                    },
                    15 if km.rotation.is_some() => Op::DisableRotation { key: key.clone() },
                    16 if km.on_demand < MAX_ON_DEMAND && !km.rotate_pending => {
                        Op::RotateNow { key: key.clone() }
                    }
                    17 => Op::Disable { key: key.clone() },
                    18 if self.rng.below(3) == 0 => Op::ScheduleDeletion {
                        key: key.clone(),
                        days: 7 + self.rng.below(24) as i32,
                    },
                    _ => continue,
                };
                break op;
            },
        }
    }

    async fn exec(&self, c: &Client, op: &Op) -> Result<Ack, Failed> {
        match op {
            Op::CreateKey { description } => c
                .create_key()
                .description(description)
                .send()
                .await
                .map(|o| {
                    Ack::Key(
                        o.key_metadata()
                            .map(|m| m.key_id().to_string())
                            .unwrap_or_default(),
                    )
                })
                .map_err(failed),
            Op::CreateAlias { name, key } => c
                .create_alias()
                .alias_name(name)
                .target_key_id(key)
                .send()
                .await
                .map(done)
                .map_err(failed),
            Op::UpdateAlias { name, key } => c
                .update_alias()
                .alias_name(name)
                .target_key_id(key)
                .send()
                .await
                .map(done)
                .map_err(failed),
            Op::DeleteAlias { name } => c
                .delete_alias()
                .alias_name(name)
                .send()
                .await
                .map(done)
                .map_err(failed),
            Op::Tag { key, tag, value } => c
                .tag_resource()
                .key_id(key)
                .tags(
                    Tag::builder()
                        .tag_key(tag)
                        .tag_value(value)
                        .build()
                        .expect("tag"),
                )
                .send()
                .await
                .map(done)
                .map_err(failed),
            Op::Untag { key, tag } => c
                .untag_resource()
                .key_id(key)
                .tag_keys(tag)
                .send()
                .await
                .map(done)
                .map_err(failed),
            Op::CreateGrant { key } => c
                .create_grant()
                .key_id(key)
                .grantee_principal(format!("arn:aws:iam::{ACCOUNT}:user/grantee"))
                .operations(GrantOperation::Decrypt)
                .send()
                .await
                .map(|o| Ack::Grant(o.grant_id().unwrap_or_default().to_string()))
                .map_err(failed),
            Op::RevokeGrant { key, grant } => c
                .revoke_grant()
                .key_id(key)
                .grant_id(grant)
                .send()
                .await
                .map(done)
                .map_err(failed),
            Op::PutPolicy { key, policy } => c
                .put_key_policy()
                .key_id(key)
                .policy_name("default")
                .policy(policy)
                .send()
                .await
                .map(done)
                .map_err(failed),
            Op::EnableRotation { key, days } => c
                .enable_key_rotation()
                .key_id(key)
                .rotation_period_in_days(*days)
                .send()
                .await
                .map(done)
                .map_err(failed),
            Op::DisableRotation { key } => c
                .disable_key_rotation()
                .key_id(key)
                .send()
                .await
                .map(done)
                .map_err(failed),
            Op::RotateNow { key } => c
                .rotate_key_on_demand()
                .key_id(key)
                .send()
                .await
                .map(done)
                .map_err(failed),
            Op::Disable { key } => c
                .disable_key()
                .key_id(key)
                .send()
                .await
                .map(done)
                .map_err(failed),
            Op::Enable { key } => c
                .enable_key()
                .key_id(key)
                .send()
                .await
                .map(done)
                .map_err(failed),
            Op::ScheduleDeletion { key, days } => c
                .schedule_key_deletion()
                .key_id(key)
                .pending_window_in_days(*days)
                .send()
                .await
                .map(|o| Ack::Deletion(o.deletion_date().map_or(0, |d| d.secs())))
                .map_err(failed),
            Op::CancelDeletion { key } => c
                .cancel_key_deletion()
                .key_id(key)
                .send()
                .await
                .map(done)
                .map_err(failed),
            Op::Encrypt {
                key,
                plaintext,
                context,
            } => c
                .encrypt()
                .key_id(key)
                .plaintext(Blob::new(plaintext.clone()))
                .encryption_context("soak", context)
                .send()
                .await
                .map(|o| {
                    Ack::Ciphertext(
                        o.ciphertext_blob()
                            .map(|b| b.as_ref().to_vec())
                            .unwrap_or_default(),
                    )
                })
                .map_err(failed),
        }
    }

    /// Runs writes until the server dies (or `stop`); returns with the request in flight then.
    async fn run(mut self, c: Client, stop: Arc<AtomicBool>) -> Worker {
        while !stop.load(Ordering::Relaxed) {
            let op = self.pick();
            match self.exec(&c, &op).await {
                Ok(ack) => {
                    if op.is_write() {
                        self.counts.acknowledged += 1;
                    } else {
                        self.counts.encrypted += 1;
                    }
                    if let Ack::Key(id) = &ack {
                        assert!(!id.is_empty(), "CreateKey answered without a KeyId");
                    }
                    self.model.apply(&op, Some(ack), 0);
                }
                // Another on-demand rotation of the key is still in progress (AWS's answer).
                Err(Failed::Refused(code))
                    if code == "ConflictException" && matches!(op, Op::RotateNow { .. }) =>
                {
                    self.counts.refused += 1;
                }
                Err(Failed::Refused(code)) => {
                    panic!("worker {}: {op:?} refused with {code}", self.id)
                }
                Err(Failed::Hang(e)) => {
                    panic!(
                        "worker {}: {op:?} had no answer in {REQUEST_TIMEOUT:?}: {e}",
                        self.id
                    )
                }
                Err(Failed::Lost) => {
                    if op.is_write() {
                        self.counts.unknown += 1;
                    }
                    if matches!(op, Op::CreateKey { .. }) {
                        self.unknown_creates += 1;
                    }
                    self.uncertain = Some(op);
                    break;
                }
            }
        }
        self
    }
}

// ---------------------------------------------------------------------------------------------
// What the server shows

#[derive(Debug, Clone)]
struct Seen {
    description: String,
    state: State,
    tags: BTreeMap<String, String>,
    grants: BTreeSet<String>,
    policy: String,
    /// Rotation status and on-demand rotations (not read for a key pending deletion).
    rotation: Option<(Option<i32>, usize)>,
}

fn must<T, E: Debug>(what: &str, r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{what} after the restart: {e:?}"))
}

async fn observe(c: &Client, key: &str) -> Seen {
    let d = must("DescribeKey", c.describe_key().key_id(key).send().await);
    let m = d.key_metadata().expect("KeyMetadata");
    let state = match m.key_state() {
        Some(KeyState::Enabled) => State::Enabled,
        Some(KeyState::Disabled) => State::Disabled,
        Some(KeyState::PendingDeletion) => {
            State::Pending(Some(m.deletion_date().map_or(0, |d| d.secs())))
        }
        other => panic!("{key}: unexpected KeyState {other:?}"),
    };
    let tags = must(
        "ListResourceTags",
        c.list_resource_tags().key_id(key).send().await,
    )
    .tags()
    .iter()
    .map(|t| (t.tag_key().to_string(), t.tag_value().to_string()))
    .collect();
    let grants = must("ListGrants", c.list_grants().key_id(key).send().await)
        .grants()
        .iter()
        .filter_map(|g| g.grant_id().map(str::to_string))
        .collect();
    let policy = must(
        "GetKeyPolicy",
        c.get_key_policy()
            .key_id(key)
            .policy_name("default")
            .send()
            .await,
    )
    .policy()
    .unwrap_or_default()
    .to_string();
    let rotation = if matches!(state, State::Pending(_)) {
        None
    } else {
        let s = must(
            "GetKeyRotationStatus",
            c.get_key_rotation_status().key_id(key).send().await,
        );
        let period = s
            .key_rotation_enabled()
            .then(|| s.rotation_period_in_days().unwrap_or(0));
        let mut on_demand = 0;
        let mut marker: Option<String> = None;
        loop {
            let page = must(
                "ListKeyRotations",
                c.list_key_rotations()
                    .key_id(key)
                    .set_marker(marker.clone())
                    .send()
                    .await,
            );
            on_demand += page
                .rotations()
                .iter()
                .filter(|r| r.rotation_type() == Some(&RotationType::OnDemand))
                .count();
            if !page.truncated() {
                break;
            }
            marker = page.next_marker().map(str::to_string);
        }
        Some((period, on_demand))
    };
    Seen {
        description: m.description().unwrap_or_default().to_string(),
        state,
        tags,
        grants,
        policy,
        rotation,
    }
}

async fn all_aliases(c: &Client, prefix: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut marker: Option<String> = None;
    loop {
        let page = must(
            "ListAliases",
            c.list_aliases().set_marker(marker.clone()).send().await,
        );
        for a in page.aliases() {
            if let (Some(n), Some(k)) = (a.alias_name(), a.target_key_id()) {
                if n.starts_with(prefix) {
                    out.insert(n.to_string(), k.to_string());
                }
            }
        }
        if !page.truncated() {
            break;
        }
        marker = page.next_marker().map(str::to_string);
    }
    out
}

/// The model's facts the server does not show (empty: everything acknowledged is there).
fn differences(
    model: &Model,
    seen: &BTreeMap<String, Seen>,
    aliases: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    if &model.aliases != aliases {
        for (n, k) in &model.aliases {
            if aliases.get(n) != Some(k) {
                out.push(format!("alias {n} → {k}: server has {:?}", aliases.get(n)));
            }
        }
        for n in aliases.keys().filter(|n| !model.aliases.contains_key(*n)) {
            out.push(format!("alias {n} deleted but still there"));
        }
    }
    for (id, s) in seen {
        let Some(m) = model.keys.get(id) else {
            continue;
        };
        let mut diff = |what: &str, want: String, got: String| {
            out.push(format!(
                "{id} {what}: acknowledged {want}, server has {got}"
            ));
        };
        if m.description != s.description {
            diff("description", m.description.clone(), s.description.clone());
        }
        let state_ok = match (&m.state, &s.state) {
            (State::Pending(None), State::Pending(_)) => true,
            (a, b) => a == b,
        };
        if !state_ok {
            diff("state", format!("{:?}", m.state), format!("{:?}", s.state));
        }
        if m.tags != s.tags {
            diff("tags", format!("{:?}", m.tags), format!("{:?}", s.tags));
        }
        let known_there = m
            .grants
            .iter()
            .filter(|g| !g.starts_with('?'))
            .all(|g| s.grants.contains(g));
        if !known_there || m.grants.len() != s.grants.len() {
            diff(
                "grants",
                format!("{:?}", m.grants),
                format!("{:?}", s.grants),
            );
        }
        if let Some(p) = &m.policy {
            if *p != s.policy {
                diff("policy", p.clone(), s.policy.clone());
            }
        }
        if let Some((period, on_demand)) = &s.rotation {
            if m.rotation != *period {
                diff(
                    "rotation",
                    format!("{:?}", m.rotation),
                    format!("{period:?}"),
                );
            }
            // On-demand rotations finish asynchronously (and only while the key is enabled).
            let least = m.on_demand + usize::from(m.rotate_pending);
            if m.state == State::Enabled && *on_demand < least {
                diff(
                    "on-demand rotations",
                    format!("at least {least}"),
                    on_demand.to_string(),
                );
            }
        }
    }
    out
}

/// Takes what the server shows into the model (grants of unknown id, dates of unknown value).
fn adopt(model: &mut Model, seen: &BTreeMap<String, Seen>) {
    for (id, s) in seen {
        if let Some(m) = model.keys.get_mut(id) {
            m.grants = s.grants.clone();
            if let Some((_, n)) = s.rotation {
                if m.state == State::Enabled && n > m.on_demand {
                    m.on_demand = n;
                    m.rotate_pending = false;
                }
            }
            if matches!(m.state, State::Pending(None)) {
                m.state = s.state.clone();
            }
        }
    }
}

/// Checks a worker's model against the server (its dirty keys, or all of them); returns the
/// number of acknowledged facts missing and the ciphertexts decrypted.
async fn check(c: &Client, w: &mut Worker, all: bool) -> (usize, usize) {
    let deadline = Instant::now() + SETTLE;
    let mut alt = w.model.clone();
    if let Some(op) = w.uncertain.take() {
        alt.apply(&op, None, w.seq as usize);
    }
    let mut lost = loop {
        let mut seen = BTreeMap::new();
        for (id, m) in &w.model.keys {
            if all || m.dirty || alt.keys.get(id).is_some_and(|a| a.dirty) {
                seen.insert(id.clone(), observe(c, id).await);
            }
        }
        let aliases = all_aliases(c, &w.alias_prefix()).await;
        let with = differences(&w.model, &seen, &aliases);
        let without = differences(&alt, &seen, &aliases);
        if with.is_empty() {
            adopt(&mut w.model, &seen);
            break 0;
        }
        if without.is_empty() {
            w.counts.in_flight_applied += 1;
            w.model = alt.clone();
            adopt(&mut w.model, &seen);
            break 0;
        }
        if Instant::now() > deadline {
            let best = if with.len() <= without.len() {
                with
            } else {
                without
            };
            eprintln!("soak: worker {} lost writes: {best:#?}", w.id);
            break best.len();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut decrypted = 0;
    for (id, m) in w.model.keys.iter_mut() {
        m.dirty = false;
        for s in m.sealed.iter_mut().filter(|s| all || !s.checked) {
            let r = c
                .decrypt()
                .ciphertext_blob(Blob::new(s.ciphertext.clone()))
                .encryption_context("soak", &s.context)
                .send()
                .await;
            match (&m.state, r) {
                (State::Enabled, Ok(o)) => {
                    assert_eq!(
                        o.plaintext().map(|p| p.as_ref()),
                        Some(s.plaintext.as_slice()),
                        "{id}: a ciphertext made before the kill decrypted to another plaintext"
                    );
                    decrypted += 1;
                }
                (State::Disabled, Err(e)) if e.code() == Some("DisabledException") => {}
                (State::Pending(_), Err(e)) if e.code() == Some("KMSInvalidStateException") => {}
                (State::Enabled, Err(e)) => {
                    eprintln!(
                        "soak: {id}: a ciphertext made before the kill does not decrypt: {e:?}"
                    );
                    lost += 1;
                }
                (state, r) => panic!("{id} ({state:?}): Decrypt gave {r:?}"),
            }
            s.checked = true;
        }
    }
    (lost, decrypted)
}

fn with_timeout(c: Client) -> Client {
    with_operation_timeout(&c, REQUEST_TIMEOUT)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_loops_under_load() {
    let cycles = env_or("STRONGROOM_SOAK_CYCLES", 8);
    let workers = env_or("STRONGROOM_SOAK_WORKERS", 3) as usize;
    let seed = env_or(
        "STRONGROOM_SOAK_SEED",
        u64::from_le_bytes(random_bytes(8).try_into().expect("8 bytes")) | 1,
    );
    eprintln!("soak: {cycles} cycles, {workers} workers, STRONGROOM_SOAK_SEED={seed}");
    let admin = PrincipalSpec::user(ACCOUNT, "admin").policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
    );
    let grantee = PrincipalSpec::user(ACCOUNT, "grantee");
    let principals = [admin.clone(), grantee];
    let mut served = Served::start_configured(&principals, "rotation_check_seconds = 1\n", "");
    let mut rng = Rng(seed);
    let mut pool: Vec<Worker> = (0..workers)
        .map(|id| Worker {
            id,
            rng: Rng(seed
                .wrapping_add(id as u64 + 1)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                | 1),
            seq: 0,
            model: Model::default(),
            uncertain: None,
            unknown_creates: 0,
            counts: Counts::default(),
        })
        .collect();
    let (mut lost, mut decrypted) = (0usize, 0usize);
    let started = Instant::now();
    for cycle in 1..=cycles {
        let client = with_timeout(served.client(&admin).await);
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = pool
            .drain(..)
            .map(|w| tokio::spawn(w.run(client.clone(), Arc::clone(&stop))))
            .collect();
        let load = Duration::from_millis(500 + rng.below(1000) as u64);
        tokio::time::sleep(load).await;
        served.kill();
        for t in tasks {
            pool.push(t.await.expect("worker"));
        }
        stop.store(true, Ordering::Relaxed);
        let t0 = Instant::now();
        served = served.restart("warn");
        let restart = t0.elapsed();
        let client = with_timeout(served.client(&admin).await);
        let last = cycle == cycles;
        for w in pool.iter_mut() {
            let (l, d) = check(&client, w, last).await;
            lost += l;
            decrypted += d;
        }
        let ack: u64 = pool.iter().map(|w| w.counts.acknowledged).sum();
        eprintln!(
            "soak: cycle {cycle}/{cycles}: killed after {load:?} of load, restarted in {restart:?}, checked in {:?}; {ack} writes acknowledged so far, {lost} lost",
            t0.elapsed() - restart
        );
    }

    // Keys whose CreateKey had no answer may exist; no more than that.
    let client = with_timeout(served.client(&admin).await);
    let mut listed = 0usize;
    let mut marker: Option<String> = None;
    loop {
        let page = must(
            "ListKeys",
            client.list_keys().set_marker(marker.clone()).send().await,
        );
        listed += page.keys().len();
        if !page.truncated() {
            break;
        }
        marker = page.next_marker().map(str::to_string);
    }
    let known: usize = pool.iter().map(|w| w.model.keys.len()).sum();
    let maybe: usize = pool.iter().map(|w| w.unknown_creates).sum();
    assert!(
        listed >= known && listed <= known + maybe,
        "ListKeys shows {listed} keys; acknowledged {known}, unknown outcome {maybe}"
    );
    if known > listed {
        lost += known - listed;
    }

    let total = pool.iter().fold(Counts::default(), |mut t, w| {
        t.acknowledged += w.counts.acknowledged;
        t.refused += w.counts.refused;
        t.unknown += w.counts.unknown;
        t.encrypted += w.counts.encrypted;
        t.in_flight_applied += w.counts.in_flight_applied;
        t
    });
    println!(
        "crash soak report: cycles={cycles} workers={workers} seconds={} writes_acknowledged={} writes_lost={lost} writes_in_flight_at_kill={} of_which_applied={} refused_conflict={} ciphertexts_made={} ciphertexts_decrypted_after_kills={decrypted} keys={known}",
        started.elapsed().as_secs(),
        total.acknowledged,
        total.unknown,
        total.in_flight_applied,
        total.refused,
        total.encrypted,
    );
    assert_eq!(lost, 0, "acknowledged writes were lost (see the log above)");
    assert!(total.acknowledged > 0, "no write was acknowledged");
}
