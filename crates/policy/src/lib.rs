//! The IAM JSON policy language as AWS KMS uses it: key policies (resource-based policies) and
//! IAM identity-based policies.
//!
//! A policy document is parsed and validated once with [`Policy::parse`]; every pattern in it
//! (actions, resources, condition values) is compiled at that time, so that
//! [`Policy::evaluate`] only walks the compiled statements against a [`RequestContext`] and
//! allocates nothing for the common cases.
//!
//! [`kms_authorize`] combines a key policy, the caller's identity policies and grants the way AWS
//! KMS does, and checks the policy lockout safety rule of `PutKeyPolicy` and `CreateKey`.
//!
//! The crate is pure: no I/O, no clock (dates come from the request context).
//!
//! ```
//! use policy::{authorize, ContextMap, Policy, PolicyKind, Principal, RequestContext};
//!
//! let key_policy = Policy::parse(
//!     r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
//!         "Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#,
//!     PolicyKind::Resource,
//! )?;
//! let iam = Policy::parse(
//!     r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt",
//!         "Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:app":"billing"}}}]}"#,
//!     PolicyKind::Identity,
//! )?;
//! let alice = Principal::user("arn:aws:iam::111122223333:user/alice");
//! let keys = ContextMap::new().with("kms:EncryptionContext:app", "billing");
//! let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
//! let ctx = RequestContext::new(&alice, "kms:Encrypt", key, &keys);
//! assert!(authorize(Some(&key_policy), &[&iam], false, &ctx).is_allowed());
//!
//! let ctx = RequestContext::new(&alice, "kms:Decrypt", key, &keys);
//! let denied = authorize(Some(&key_policy), &[&iam], false, &ctx);
//! assert_eq!(
//!     denied.access_denied_message(&ctx).as_deref(),
//!     Some(
//!         "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: \
//!          kms:Decrypt on resource: arn:aws:kms:us-east-1:111122223333:key/\
//!          1234abcd-12ab-34cd-56ef-1234567890ab because no identity-based policy allows \
//!          the kms:Decrypt action"
//!     )
//! );
//! # Ok::<(), policy::PolicyError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod arn;
mod condition;
mod context;
mod error;
mod evaluate;
pub mod kms_authorize;
mod parse;
mod principal;
mod values;
mod variables;
mod wildcard;

pub use context::{ContextKeys, ContextMap, ContextValue, NoKeys, RequestContext, Value};
pub use error::{ErrorKind, PolicyError};
pub use evaluate::Decision;
pub use kms_authorize::{authorize, would_lock_out, AllowedVia, AuthzResult, DenyReason};
pub use parse::{Policy, PolicyKind, Version};
pub use principal::{Principal, PrincipalKind};

/// The largest key policy document AWS KMS accepts, in bytes (32 KiB). The KMS checks it before
/// parsing; [`Policy::parse`] itself accepts documents of any size.
pub const MAX_POLICY_BYTES: usize = 32 * 1024;
