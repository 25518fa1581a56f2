//! Small helpers of the PKCS#11 backend: the PIN, labels, dates.

use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use super::Pkcs11Config;
use crate::backend::BackendError;

/// Reads the user PIN from `pin_file` or `pin_env` (exactly one must be set). A single trailing
/// newline (`\n` or `\r\n`) of a PIN file is not part of the PIN. The PIN is never logged and
/// never part of an error message.
pub(super) fn read_pin(cfg: &Pkcs11Config) -> Result<Zeroizing<String>, BackendError> {
    let pin = match (&cfg.pin_file, &cfg.pin_env) {
        (Some(_), Some(_)) => {
            return Err(config_error(
                "set only one of pin_file and pin_env".to_string(),
            ))
        }
        (None, None) => {
            return Err(config_error(
                "the user PIN is needed: set pin_file or pin_env".to_string(),
            ))
        }
        (Some(path), None) => {
            let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
                config_error(format!("cannot read pin_file {}: {e}", path.display()))
            })?);
            let mut pin = Zeroizing::new(String::with_capacity(bytes.len()));
            match std::str::from_utf8(&bytes) {
                Ok(s) => pin.push_str(s),
                Err(_) => {
                    return Err(config_error(format!(
                        "pin_file {} is not UTF-8",
                        path.display()
                    )))
                }
            }
            if pin.ends_with('\n') {
                pin.pop();
                if pin.ends_with('\r') {
                    pin.pop();
                }
            }
            pin
        }
        (None, Some(var)) => match std::env::var(var) {
            Ok(value) => Zeroizing::new(value),
            Err(std::env::VarError::NotPresent) => {
                return Err(config_error(format!(
                    "environment variable {var} (pin_env) is not set"
                )))
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(config_error(format!(
                    "environment variable {var} (pin_env) is not UTF-8"
                )));
            }
        },
    };
    if pin.is_empty() {
        return Err(config_error("the user PIN is empty".to_string()));
    }
    Ok(pin)
}

pub(super) fn config_error(msg: String) -> BackendError {
    BackendError::Internal(format!("PKCS#11 backend configuration: {msg}"))
}

/// The XKS spec's `externalKeyId`: 1 to 128 characters of `A-Za-z0-9-._`.
pub(super) fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 128
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// Today's UTC date as `YYYYMMDD` ASCII digits (PKCS#11 `CK_DATE` order).
pub(super) fn today_utc() -> [u8; 8] {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let (y, m, d) = civil_from_days(days);
    let s = format!("{:04}{:02}{:02}", y.clamp(0, 9999), m, d);
    let mut out = [b'0'; 8];
    out.copy_from_slice(&s.as_bytes()[..8]);
    out
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (y, m as u32, d as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
        let today = today_utc();
        assert!(today.iter().all(u8::is_ascii_digit));
        assert!(&today[..] > b"20250101".as_slice());
    }

    #[test]
    fn labels() {
        assert!(valid_label("a"));
        assert!(valid_label("Key-1.prod_A"));
        assert!(valid_label(&"x".repeat(128)));
        assert!(!valid_label(&"x".repeat(129)));
        assert!(!valid_label(""));
        assert!(!valid_label("a b"));
        assert!(!valid_label("a/b"));
        assert!(!valid_label("é"));
    }
}
