//! Server-side verification of SigV4 `Authorization` headers.

use std::fmt;
use std::time::Duration;

use subtle::ConstantTimeEq;
use time::{format_description::FormatItem, macros::format_description, OffsetDateTime};

use crate::authorization::{
    self, echo, ParsedAuthorization, MISSING_DATE_SENTENCE, SCOPE_TERMINATOR,
};
use crate::canonical::{canonical_request, Request};
use crate::error::Error;
use crate::key_cache::KeyCache;
use crate::signing::{
    derive_signing_key, format_amz_date, parse_amz_date, sha256_hex, string_to_sign_parts,
};

/// Default bound on cached signing keys; a few per active access key per day.
const DEFAULT_CACHE_CAPACITY: usize = 1024;

/// IMF-fixdate, the `Date` header format (`Sun, 06 Nov 1994 08:49:37 GMT`).
const HTTP_DATE_FORMAT: &[FormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// The outcome of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The access key id whose secret produced the signature.
    pub access_key_id: String,
    /// The region of the credential scope.
    pub region: String,
}

/// The regions a verifier accepts in credential scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Regions {
    /// These regions.
    Only(Vec<String>),
    /// Any region (a development server that serves every region).
    Any,
}

impl Regions {
    fn allows(&self, region: &str) -> bool {
        match self {
            Regions::Only(list) => list.iter().any(|r| r == region),
            Regions::Any => !region.is_empty(),
        }
    }
}

/// Verifies SigV4-signed requests for one service in the regions it accepts.
///
/// Thread-safe (`Send + Sync`); share one per service. Derived signing keys are
/// cached so the four-HMAC derivation runs once per key per day, not per request.
pub struct Verifier {
    regions: Regions,
    service: String,
    max_skew: time::Duration,
    normalize_path: bool,
    required_signed: Vec<String>,
    amz_headers_signed: bool,
    cache: KeyCache,
}

impl Verifier {
    /// A verifier for `region`/`service` accepting request times within `max_skew`
    /// of the server clock (AWS uses 5 minutes).
    pub fn new(region: impl Into<String>, service: impl Into<String>, max_skew: Duration) -> Self {
        Verifier::for_regions(Regions::Only(vec![region.into()]), service, max_skew)
    }

    /// A verifier for `service` in `regions`.
    pub fn for_regions(regions: Regions, service: impl Into<String>, max_skew: Duration) -> Self {
        Verifier {
            regions,
            service: service.into(),
            // A skew too large for `time` means "no limit" in practice.
            max_skew: time::Duration::try_from(max_skew).unwrap_or(time::Duration::MAX),
            normalize_path: true,
            required_signed: Vec::new(),
            amz_headers_signed: false,
            cache: KeyCache::new(DEFAULT_CACHE_CAPACITY),
        }
    }

    /// Whether to normalize the request path (default `true`; only S3 does not).
    pub fn with_path_normalization(mut self, normalize: bool) -> Self {
        self.normalize_path = normalize;
        self
    }

    /// Headers (lowercase) that must be among the signed headers besides `host` and the date,
    /// so that a captured signature cannot be replayed with another value of them (another
    /// `X-Amz-Target`, say).
    pub fn with_required_signed_headers(mut self, names: &[&str]) -> Self {
        self.required_signed = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        self
    }

    /// Whether every `x-amz-*` header present must be signed (default `false`).
    pub fn with_amz_headers_signed(mut self, required: bool) -> Self {
        self.amz_headers_signed = required;
        self
    }

    /// Bound the signing-key cache to `capacity` entries (minimum 1).
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache = KeyCache::new(capacity.max(1));
        self
    }

    /// The regions credentials may be scoped to.
    pub fn regions(&self) -> &Regions {
        &self.regions
    }

    /// The service credentials must be scoped to.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Verify `req`. `now` is the server's current time; `lookup` maps an access key
    /// id to its secret (`None` if unknown) and is called at most once.
    pub fn verify<'s>(
        &self,
        req: &Request,
        now: OffsetDateTime,
        lookup: impl FnOnce(&str) -> Option<&'s str>,
    ) -> Result<Verified, Error> {
        let auth_value = match single_header(req, "authorization") {
            Header::Absent => return Err(Error::MissingAuthenticationToken),
            Header::Repeated => {
                return Err(Error::IncompleteSignature(
                    "Authorization header must appear only once.".to_owned(),
                ))
            }
            Header::One(v) => v,
        };

        let date_source = DateSource::find(req);
        let auth = authorization::parse(auth_value, date_source.is_none())?;
        let Some(date_source) = date_source else {
            return Err(Error::IncompleteSignature(format!(
                "{MISSING_DATE_SENTENCE} Authorization={}",
                echo(auth_value.trim())
            )));
        };

        if !auth.signed_headers.iter().any(|h| h == "host") {
            return Err(Error::IncompleteSignature(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
                    .to_owned(),
            ));
        }
        let (date_header, date_header_shown) = date_source.header_name();
        if !auth.signed_headers.iter().any(|h| h == date_header) {
            return Err(Error::IncompleteSignature(format!(
                "'{date_header_shown}' must be a 'SignedHeader' in the AWS Authorization."
            )));
        }

        self.check_signed_headers(req, &auth)?;

        let request_time = date_source.parse()?;
        // An X-Amz-Date that parsed is already in the form the string to sign takes.
        let amz_date = match date_source {
            DateSource::AmzDate(v) => std::borrow::Cow::Borrowed(v.trim()),
            _ => std::borrow::Cow::Owned(format_amz_date(request_time)),
        };

        self.check_scope(&auth, &amz_date)?;
        self.check_skew(request_time, &amz_date, now)?;

        let secret = lookup(auth.access_key_id).ok_or(Error::UnrecognizedClient)?;

        let payload_hash = sha256_hex(req.body);
        match single_header(req, "x-amz-content-sha256") {
            Header::Absent => {}
            Header::One(v) if v.trim().eq_ignore_ascii_case(&payload_hash) => {}
            _ => {
                return Err(Error::InvalidSignature(
                    "The provided 'x-amz-content-sha256' header does not match what was computed."
                        .to_owned(),
                ))
            }
        }

        let creq = canonical_request(
            req,
            &auth.signed_headers,
            &payload_hash,
            self.normalize_path,
        )?;
        let sts = string_to_sign_parts(
            &amz_date,
            &[
                auth.date,
                "/",
                auth.region,
                "/",
                auth.service,
                "/",
                SCOPE_TERMINATOR,
            ],
            &creq,
        );
        let key =
            self.cache
                .get_or_derive(auth.access_key_id, secret, auth.date, auth.region, || {
                    derive_signing_key(secret, auth.date, auth.region, &self.service)
                });
        let expected = key.sign(&sts);
        if bool::from(expected.ct_eq(&auth.signature)) {
            Ok(Verified {
                access_key_id: auth.access_key_id.to_owned(),
                region: auth.region.to_owned(),
            })
        } else {
            Err(Error::signature_mismatch())
        }
    }

    /// Refuses a signature that leaves out a header this verifier requires signed.
    fn check_signed_headers(&self, req: &Request, auth: &ParsedAuthorization) -> Result<(), Error> {
        let signed = |name: &str| auth.signed_headers.iter().any(|h| h == name);
        let present_amz = req
            .headers
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| self.amz_headers_signed && is_amz_header(name));
        let missing = self
            .required_signed
            .iter()
            .map(String::as_str)
            .chain(present_amz)
            .find(|name| !signed(&name.to_ascii_lowercase()));
        match missing {
            None => Ok(()),
            Some(name) => Err(Error::IncompleteSignature(format!(
                "'{}' must be a 'SignedHeader' in the AWS Authorization.",
                title_case(name)
            ))),
        }
    }

    /// Region, service and date of the credential scope, with AWS's messages.
    fn check_scope(&self, auth: &ParsedAuthorization, amz_date: &str) -> Result<(), Error> {
        if !self.regions.allows(auth.region) {
            return Err(Error::InvalidSignature(format!(
                "Credential should be scoped to a valid region, not '{}'.",
                echo(auth.region)
            )));
        }
        if auth.service != self.service {
            return Err(Error::InvalidSignature(format!(
                "Credential should be scoped to correct service: '{}'.",
                self.service
            )));
        }
        let request_day = amz_date.get(..8).unwrap_or(amz_date);
        if auth.date != request_day {
            return Err(Error::InvalidSignature(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
                 from HTTP: '{}' != '{request_day}', from '{amz_date}'.",
                auth.date
            )));
        }
        Ok(())
    }

    /// Reject request times more than `max_skew` away from `now`, in AWS's words.
    fn check_skew(
        &self,
        request_time: OffsetDateTime,
        amz_date: &str,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let age = now - request_time;
        let skew = self.max_skew;
        if age > skew {
            let bound = now.checked_sub(skew).unwrap_or(now);
            return Err(Error::SignatureExpired(format!(
                "Signature expired: {amz_date} is now earlier than {} ({} - {}.)",
                format_amz_date(bound),
                format_amz_date(now),
                describe_skew(skew)
            )));
        }
        if age < -skew {
            let bound = now.checked_add(skew).unwrap_or(now);
            return Err(Error::SignatureExpired(format!(
                "Signature not yet current: {amz_date} is still later than {} ({} + {}.)",
                format_amz_date(bound),
                format_amz_date(now),
                describe_skew(skew)
            )));
        }
        Ok(())
    }
}

impl fmt::Debug for Verifier {
    // The cache is left out: it holds secrets and keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("regions", &self.regions)
            .field("service", &self.service)
            .field("max_skew", &self.max_skew)
            .field("normalize_path", &self.normalize_path)
            .field("required_signed", &self.required_signed)
            .field("amz_headers_signed", &self.amz_headers_signed)
            .field("cache_capacity", &self.cache.capacity)
            .finish_non_exhaustive()
    }
}

fn is_amz_header(name: &str) -> bool {
    name.get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("x-amz-"))
}

/// `x-amz-target` as AWS spells it in messages: `X-Amz-Target`.
fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if upper {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        upper = c == '-';
    }
    out
}

/// `5 min` for whole minutes, else seconds.
fn describe_skew(skew: time::Duration) -> String {
    let secs = skew.whole_seconds();
    if secs % 60 == 0 {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} sec")
    }
}

/// The header that dates the request: `X-Amz-Date`, or else `Date`, as SigV4 says.
enum DateSource<'a> {
    AmzDate(&'a str),
    HttpDate(&'a str),
    /// The chosen header appears more than once (its lowercase name).
    Repeated(&'static str),
}

impl<'a> DateSource<'a> {
    fn find(req: &Request<'a>) -> Option<Self> {
        match single_header(req, "x-amz-date") {
            Header::One(v) => Some(DateSource::AmzDate(v)),
            Header::Repeated => Some(DateSource::Repeated("x-amz-date")),
            Header::Absent => match single_header(req, "date") {
                Header::One(v) => Some(DateSource::HttpDate(v)),
                Header::Repeated => Some(DateSource::Repeated("date")),
                Header::Absent => None,
            },
        }
    }

    /// Lowercase name (as in SignedHeaders) and the spelling AWS uses in messages.
    fn header_name(&self) -> (&'static str, &'static str) {
        match self {
            DateSource::AmzDate(_) | DateSource::Repeated("x-amz-date") => {
                ("x-amz-date", "X-Amz-Date")
            }
            DateSource::HttpDate(_) | DateSource::Repeated(_) => ("date", "Date"),
        }
    }

    fn parse(&self) -> Result<OffsetDateTime, Error> {
        match self {
            DateSource::AmzDate(v) => parse_amz_date(v.trim()),
            DateSource::HttpDate(v) => time::PrimitiveDateTime::parse(v.trim(), HTTP_DATE_FORMAT)
                .map(|t| t.assume_utc())
                .map_err(|_| bad_date(v)),
            DateSource::Repeated(name) => Err(bad_date(&format!("multiple '{name}' headers"))),
        }
    }
}

fn bad_date(value: &str) -> Error {
    Error::IncompleteSignature(format!(
        "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
        echo(value)
    ))
}

enum Header<'a> {
    Absent,
    One(&'a str),
    Repeated,
}

fn single_header<'a>(req: &Request<'a>, name: &str) -> Header<'a> {
    let mut values = req.header_values(name);
    match (values.next(), values.next()) {
        (None, _) => Header::Absent,
        (Some(v), None) => Header::One(v),
        (Some(_), Some(_)) => Header::Repeated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Verifier>();
    }

    #[test]
    fn verifier_debug_hides_the_cache() {
        let v = Verifier::new("us-east-1", "kms", Duration::from_secs(300));
        v.cache
            .get_or_derive("A", "secret", "20150830", "us-east-1", || {
                derive_signing_key("secret", "20150830", "us-east-1", "kms")
            });
        let d = format!("{v:?}");
        assert!(d.contains("us-east-1") && d.contains("kms"), "{d}");
        let key = derive_signing_key("secret", "20150830", "us-east-1", "kms");
        assert!(!d.contains(&hex::encode(key.as_bytes())));
        assert!(!d.contains("secret"), "{d}");
    }

    #[test]
    fn header_names_as_aws_spells_them() {
        assert_eq!(title_case("x-amz-target"), "X-Amz-Target");
        assert_eq!(title_case("content-type"), "Content-Type");
        assert!(is_amz_header("X-Amz-Security-Token"));
        assert!(!is_amz_header("x-amzn-trace-id"));
        assert!(!is_amz_header("x-am"));
    }

    #[test]
    fn skew_descriptions() {
        assert_eq!(describe_skew(time::Duration::minutes(5)), "5 min");
        assert_eq!(describe_skew(time::Duration::seconds(90)), "90 sec");
    }
}
