//! GenerateMac and VerifyMac with HMAC keys. Each HMAC key spec has exactly
//! one algorithm (HMAC_256 computes HMAC_SHA_256, and so on); the message
//! is at most 4096 bytes.

use aws_lc_rs::hmac;
use kms_api::wire::MacAlgorithmSpec;

use super::material::{HmacKey, Loaded, Material};
use super::KeyOpError;

/// The longest message GenerateMac and VerifyMac take, in bytes.
pub const MAX_MAC_MESSAGE_LEN: usize = 4096;

impl Material {
    fn hmac_for(
        &self,
        operation: &'static str,
        alg: MacAlgorithmSpec,
        message: &[u8],
    ) -> Result<&HmacKey, KeyOpError> {
        let spec = self.spec();
        let Loaded::Hmac(key) = &self.key else {
            return Err(KeyOpError::WrongKeyType { spec, operation });
        };
        if key.algorithm != alg {
            return Err(KeyOpError::IncompatibleAlgorithm {
                algorithm: alg.as_str(),
                spec,
            });
        }
        if message.len() > MAX_MAC_MESSAGE_LEN {
            return Err(KeyOpError::TooLong { field: "message" });
        }
        Ok(key)
    }

    /// The HMAC of `message`, as GenerateMac returns it.
    pub fn generate_mac(
        &self,
        alg: MacAlgorithmSpec,
        message: &[u8],
    ) -> Result<Vec<u8>, KeyOpError> {
        let key = self.hmac_for("GenerateMac", alg, message)?;
        Ok(hmac::sign(&key.key, message).as_ref().to_vec())
    }

    /// Whether `mac` is the HMAC of `message`, compared in constant time.
    /// `Ok(false)` is VerifyMac's KMSInvalidMacException.
    pub fn verify_mac(
        &self,
        alg: MacAlgorithmSpec,
        message: &[u8],
        mac: &[u8],
    ) -> Result<bool, KeyOpError> {
        let key = self.hmac_for("VerifyMac", alg, message)?;
        Ok(hmac::verify(&key.key, message, mac).is_ok())
    }
}
