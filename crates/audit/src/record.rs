//! One audit record: an AWS CloudTrail event as CloudTrail writes one for KMS, member for member
//! and in CloudTrail's order, so that tools reading CloudTrail logs read ours.

use serde::{Deserialize, Serialize};

use crate::params::Redacted;

/// The CloudTrail event version our records follow (the KMS developer guide's current examples).
pub const EVENT_VERSION: &str = "1.11";
/// `eventSource` of every KMS record.
pub const EVENT_SOURCE: &str = "kms.amazonaws.com";
/// `eventType` of a record of an API call.
pub const EVENT_TYPE: &str = "AwsApiCall";
/// `eventCategory` of KMS API calls: CloudTrail counts all of them, cryptographic ones included,
/// as management events.
pub const EVENT_CATEGORY: &str = "Management";
/// `resources[].type` of a KMS key.
pub const KEY_RESOURCE_TYPE: &str = "AWS::KMS::Key";

/// A CloudTrail record of one KMS request, as read back; [`RecordRef`] is how one is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Record {
    pub event_version: String,
    pub user_identity: UserIdentity,
    /// UTC, whole seconds: `2025-05-20T20:46:16Z`.
    pub event_time: String,
    pub event_source: String,
    /// The operation (`Encrypt`).
    pub event_name: String,
    pub aws_region: String,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    pub user_agent: String,
    /// The exception name of a failed request (`AccessDeniedException`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Its message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The request's members, camelCased, without any secret ([`crate::params`]); `null` when
    /// the body could not be decoded.
    pub request_parameters: Option<serde_json::Value>,
    /// For a management operation that changed something, its response without secrets;
    /// `null` otherwise.
    pub response_elements: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_event_data: Option<AdditionalEventData>,
    /// The `x-amzn-RequestId` the caller got.
    #[serde(rename = "requestID")]
    pub request_id: String,
    /// This record's own id.
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub read_only: bool,
    /// The KMS keys the request named, in order (ReEncrypt: source, then destination).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    pub event_type: String,
    pub management_event: bool,
    /// The account the event belongs to: the key's owner, or the caller's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_account_id: Option<String>,
    pub event_category: String,
}

/// Who made the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserIdentity {
    /// `IAMUser`, `AssumedRole`, `Root`, or `Unknown` for a request that did not authenticate.
    #[serde(rename = "type")]
    pub kind: IdentityType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The access key the request was signed with (an id, not a secret; CloudTrail logs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// An IAM user's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// A role session's issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_context: Option<SessionContext>,
}

/// CloudTrail's `userIdentity.type` values that Strongroom's principals can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdentityType {
    #[serde(rename = "IAMUser")]
    IamUser,
    AssumedRole,
    Root,
    /// The request did not authenticate (a bad signature, an unknown access key).
    Unknown,
}

/// `userIdentity.sessionContext` of a role session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionContext {
    pub session_issuer: SessionIssuer,
    pub attributes: SessionAttributes,
}

/// The role a session was issued for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionIssuer {
    /// Always `Role`.
    #[serde(rename = "type")]
    pub kind: String,
    pub principal_id: String,
    pub arn: String,
    pub account_id: String,
    /// The role's name.
    pub user_name: String,
}

/// `sessionContext.attributes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionAttributes {
    /// `"false"`: Strongroom's sessions are configured credentials, never MFA-authenticated.
    pub mfa_authenticated: String,
}

/// `additionalEventData`: the key material and the external key a request used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdditionalEventData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_key_store_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xks_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
    /// ReEncrypt: the material the ciphertext was under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_key_material_id: Option<String>,
    /// ReEncrypt: the material it is under now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_key_material_id: Option<String>,
}

/// One resource of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    #[serde(rename = "accountId")]
    pub account_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "ARN")]
    pub arn: String,
}

/// The form a KMS record is written in: [`Record`]'s members in its order, borrowed from the
/// request being answered, so that writing one copies no string and builds no JSON tree. `P` is
/// the decoded request, written through [`Redacted`] straight into the line.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordRef<'a, P: Serialize> {
    pub event_version: &'static str,
    pub user_identity: IdentityRef<'a>,
    pub event_time: &'a str,
    pub event_source: &'static str,
    pub event_name: &'a str,
    pub aws_region: &'a str,
    /// The caller's address; none for a request from within the service.
    #[serde(rename = "sourceIPAddress", serialize_with = "source_ip")]
    pub source_ip_address: Option<std::net::IpAddr>,
    pub user_agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<&'a str>,
    pub request_parameters: Option<Redacted<'a, P>>,
    pub response_elements: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_event_data: Option<AdditionalEventDataRef<'a>>,
    #[serde(rename = "requestID")]
    pub request_id: &'a str,
    #[serde(rename = "eventID")]
    pub event_id: &'a str,
    pub read_only: bool,
    #[serde(skip_serializing_if = "KeyResources::is_empty")]
    pub resources: KeyResources<'a>,
    pub event_type: &'static str,
    pub management_event: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_account_id: Option<&'a str>,
    pub event_category: &'static str,
}

fn source_ip<S: serde::Serializer>(ip: &Option<std::net::IpAddr>, s: S) -> Result<S::Ok, S::Error> {
    match ip {
        Some(ip) => s.collect_str(ip),
        None => s.serialize_str("AWS Internal"),
    }
}

/// A caller's `userIdentity`, serialized once when its credentials are loaded: it is a third
/// of every record, and the same for every request of that access key.
#[derive(Debug, Clone)]
pub struct RenderedIdentity {
    pub identity: UserIdentity,
    json: Box<serde_json::value::RawValue>,
}

impl RenderedIdentity {
    pub fn new(identity: UserIdentity) -> Result<RenderedIdentity, String> {
        let json = serde_json::value::to_raw_value(&identity)
            .map_err(|e| format!("cannot encode an audit identity: {e}"))?;
        Ok(RenderedIdentity { identity, json })
    }
}

/// `userIdentity` of a [`RecordRef`].
#[derive(Debug, Clone, Copy)]
pub enum IdentityRef<'a> {
    /// An authenticated caller's.
    Rendered(&'a RenderedIdentity),
    /// A request that did not authenticate, with the access key id it named.
    Unauthenticated(Option<&'a str>),
}

impl<'a> IdentityRef<'a> {
    /// The caller's account, when known.
    pub fn account_id(self) -> Option<&'a str> {
        match self {
            IdentityRef::Rendered(r) => r.identity.account_id.as_deref(),
            IdentityRef::Unauthenticated(_) => None,
        }
    }
}

impl Serialize for IdentityRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IdentityRef::Rendered(r) => r.json.serialize(s),
            IdentityRef::Unauthenticated(key) => UserIdentity::unauthenticated(*key).serialize(s),
        }
    }
}

/// [`AdditionalEventData`], borrowed.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalEventDataRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_key_store_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xks_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_key_material_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_key_material_id: Option<&'a str>,
}

impl AdditionalEventDataRef<'_> {
    /// Whether nothing is set (CloudTrail then leaves the member out).
    pub fn is_empty(&self) -> bool {
        self.custom_key_store_id.is_none()
            && self.xks_key_id.is_none()
            && self.key_material_id.is_none()
            && self.source_key_material_id.is_none()
            && self.destination_key_material_id.is_none()
    }
}

/// `resources`: one [`Resource`] per key ARN, written without building them.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyResources<'a> {
    /// The keys the request was authorized on, in order.
    pub arns: &'a [String],
    /// A key named only by the response (CreateKey), after those.
    pub created: Option<&'a str>,
}

impl<'a> KeyResources<'a> {
    pub fn is_empty(&self) -> bool {
        self.arns.is_empty() && self.created.is_none()
    }

    /// The account of the first key.
    pub fn first_account(&self) -> Option<&'a str> {
        self.iter().next().map(key_account)
    }

    fn iter(&self) -> impl Iterator<Item = &'a str> {
        self.arns.iter().map(String::as_str).chain(self.created)
    }
}

impl Serialize for KeyResources<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeSeq as _, SerializeStruct as _};
        struct One<'a>(&'a str);
        impl Serialize for One<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut r = s.serialize_struct("Resource", 3)?;
                r.serialize_field("accountId", key_account(self.0))?;
                r.serialize_field("type", KEY_RESOURCE_TYPE)?;
                r.serialize_field("ARN", self.0)?;
                r.end()
            }
        }
        let mut seq = s.serialize_seq(None)?;
        for arn in self.iter() {
            seq.serialize_element(&One(arn))?;
        }
        seq.end()
    }
}

/// The account of a key ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`).
fn key_account(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

/// `eventTime`: UTC to the second, as CloudTrail writes it.
pub fn event_time(t: time::OffsetDateTime) -> String {
    // A busy server formats the same second thousands of times; each thread keeps the last.
    thread_local! {
        static LAST: std::cell::RefCell<(i64, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let second = t.unix_timestamp();
    LAST.with_borrow_mut(|(at, text)| {
        if *at != second {
            *text = format_event_time(t);
            *at = second;
        }
        text.clone()
    })
}

fn format_event_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

impl UserIdentity {
    /// The identity of a principal, from its ARN: an IAM user
    /// (`arn:aws:iam::ACCOUNT:user/NAME`), a role session
    /// (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`) or an account root
    /// (`arn:aws:iam::ACCOUNT:root`). Strongroom's principals have no IAM unique ids; their
    /// `principalId`s are derived from the ARN ([`unique_id`]), stable across restarts.
    pub fn for_principal(arn: &str, access_key_id: Option<&str>) -> UserIdentity {
        let mut parts = arn.splitn(6, ':');
        let (service, account, resource) = (
            parts.nth(2).unwrap_or_default(),
            parts.nth(1).unwrap_or_default().to_string(),
            parts.next().unwrap_or_default(),
        );
        let base = UserIdentity {
            kind: IdentityType::Unknown,
            principal_id: None,
            arn: Some(arn.to_string()),
            account_id: Some(account.clone()),
            access_key_id: access_key_id.map(String::from),
            user_name: None,
            session_context: None,
        };
        match (service, resource.split_once('/')) {
            ("iam", None) if resource == "root" => UserIdentity {
                kind: IdentityType::Root,
                principal_id: Some(account),
                ..base
            },
            ("iam", Some(("user", path))) => UserIdentity {
                kind: IdentityType::IamUser,
                principal_id: Some(unique_id("AIDA", arn)),
                user_name: Some(path.rsplit('/').next().unwrap_or(path).to_string()),
                ..base
            },
            ("sts", Some(("assumed-role", rest))) => {
                let (role, session) = rest.split_once('/').unwrap_or((rest, ""));
                let role_arn = format!("arn:aws:iam::{account}:role/{role}");
                let role_id = unique_id("AROA", &role_arn);
                UserIdentity {
                    kind: IdentityType::AssumedRole,
                    principal_id: Some(format!("{role_id}:{session}")),
                    session_context: Some(SessionContext {
                        session_issuer: SessionIssuer {
                            kind: "Role".to_string(),
                            principal_id: role_id,
                            arn: role_arn,
                            account_id: account.clone(),
                            user_name: role.to_string(),
                        },
                        attributes: SessionAttributes {
                            mfa_authenticated: "false".to_string(),
                        },
                    }),
                    ..base
                }
            }
            _ => base,
        }
    }

    /// A request that did not authenticate: only the access key it named, if any.
    pub fn unauthenticated(access_key_id: Option<&str>) -> UserIdentity {
        UserIdentity {
            kind: IdentityType::Unknown,
            principal_id: None,
            arn: None,
            account_id: None,
            access_key_id: access_key_id.map(String::from),
            user_name: None,
            session_context: None,
        }
    }
}

/// An IAM-style unique id (`AIDA` + 17 characters of base32) derived from an ARN.
pub fn unique_id(prefix: &str, arn: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, arn.as_bytes());
    let tail: String = d
        .as_ref()
        .iter()
        .take(17)
        .map(|b| char::from(ALPHABET[usize::from(*b & 31)]))
        .collect();
    format!("{prefix}{tail}")
}
