//! The operations, one module per family. Each is a function of the core, its typed request and
//! the access; they depend on the core and never on each other.

mod agreement;
mod aliases;
mod crypto;
mod custom_key_stores;
mod grants;
mod import;
mod keys;
mod mac;
mod multi_region;
mod policies;
mod rotation;
mod signing;
mod tags;
mod usage;

use kms_api::wire::Request;
use kms_api::KmsError;

use crate::core::{Access, Core};
use crate::json;

/// Runs the operation of `request`; the answer is the JSON response body.
pub(crate) async fn dispatch(
    core: &Core,
    request: &Request,
    access: &Access<'_>,
) -> Result<Vec<u8>, KmsError> {
    match request {
        Request::CreateKey(r) => json(keys::create_key(core, r, access).await),
        Request::DescribeKey(r) => json(keys::describe_key(core, r, access)),
        Request::ListKeys(r) => json(keys::list_keys(core, r, access).await),
        Request::EnableKey(r) => json(keys::set_enabled(core, &r.key_id, access, true).await),
        Request::DisableKey(r) => json(keys::set_enabled(core, &r.key_id, access, false).await),
        Request::UpdateKeyDescription(r) => json(keys::update_description(core, r, access).await),
        Request::ScheduleKeyDeletion(r) => json(keys::schedule_deletion(core, r, access).await),
        Request::CancelKeyDeletion(r) => json(keys::cancel_deletion(core, r, access).await),
        Request::CreateAlias(r) => json(aliases::create_alias(core, r, access).await),
        Request::UpdateAlias(r) => json(aliases::update_alias(core, r, access).await),
        Request::DeleteAlias(r) => json(aliases::delete_alias(core, r, access).await),
        Request::ListAliases(r) => json(aliases::list_aliases(core, r, access).await),
        Request::TagResource(r) => json(tags::tag_resource(core, r, access).await),
        Request::UntagResource(r) => json(tags::untag_resource(core, r, access).await),
        Request::ListResourceTags(r) => json(tags::list_resource_tags(core, r, access)),
        Request::Encrypt(r) => json(crypto::encrypt(core, r, access).await),
        Request::Decrypt(r) => json(crypto::decrypt(core, r, access).await),
        Request::ReEncrypt(r) => json(crypto::re_encrypt(core, r, access).await),
        Request::GenerateDataKey(r) => json(crypto::generate_data_key(core, r, access).await),
        Request::GenerateDataKeyWithoutPlaintext(r) => {
            json(crypto::generate_data_key_without_plaintext(core, r, access).await)
        }
        Request::GenerateDataKeyPair(r) => {
            json(crypto::generate_data_key_pair(core, r, access).await)
        }
        Request::GenerateDataKeyPairWithoutPlaintext(r) => {
            json(crypto::generate_data_key_pair_without_plaintext(core, r, access).await)
        }
        Request::GenerateRandom(r) => json(crypto::generate_random(core, r, access)),
        Request::GetPublicKey(r) => json(signing::get_public_key(core, r, access)),
        Request::Sign(r) => json(signing::sign(core, r, access).await),
        Request::Verify(r) => json(signing::verify(core, r, access)),
        Request::GenerateMac(r) => json(mac::generate_mac(core, r, access)),
        Request::VerifyMac(r) => json(mac::verify_mac(core, r, access)),
        Request::DeriveSharedSecret(r) => json(agreement::derive_shared_secret(core, r, access)),
        Request::Encapsulate(r) => json(agreement::encapsulate(core, r, access)),
        Request::Decapsulate(r) => json(agreement::decapsulate(core, r, access)),
        Request::GetKeyPolicy(r) => json(policies::get_key_policy(core, r, access)),
        Request::PutKeyPolicy(r) => json(policies::put_key_policy(core, r, access).await),
        Request::ListKeyPolicies(r) => json(policies::list_key_policies(core, r, access)),
        Request::CreateCustomKeyStore(r) => json(custom_key_stores::create(core, r, access).await),
        Request::DescribeCustomKeyStores(r) => json(custom_key_stores::describe(core, r, access)),
        Request::ConnectCustomKeyStore(r) => {
            json(custom_key_stores::connect(core, r, access).await)
        }
        Request::DisconnectCustomKeyStore(r) => {
            json(custom_key_stores::disconnect(core, r, access).await)
        }
        Request::UpdateCustomKeyStore(r) => json(custom_key_stores::update(core, r, access).await),
        Request::DeleteCustomKeyStore(r) => json(custom_key_stores::delete(core, r, access).await),
        Request::CreateGrant(r) => json(grants::create_grant(core, r, access).await),
        Request::ListGrants(r) => json(grants::list_grants(core, r, access).await),
        Request::ListRetirableGrants(r) => json(grants::list_retirable_grants(core, r, access)),
        Request::RetireGrant(r) => json(grants::retire_grant(core, r, access).await),
        Request::RevokeGrant(r) => json(grants::revoke_grant(core, r, access).await),
        Request::EnableKeyRotation(r) => json(rotation::enable(core, r, access).await),
        Request::DisableKeyRotation(r) => json(rotation::disable(core, r, access).await),
        Request::GetKeyRotationStatus(r) => json(rotation::status(core, r, access)),
        Request::RotateKeyOnDemand(r) => json(rotation::rotate_on_demand(core, r, access).await),
        Request::ListKeyRotations(r) => json(rotation::list(core, r, access)),
        Request::GetKeyLastUsage(r) => json(usage::get_key_last_usage(core, r, access).await),
        Request::ReplicateKey(r) => json(multi_region::replicate_key(core, r, access).await),
        Request::UpdatePrimaryRegion(r) => {
            json(multi_region::update_primary_region(core, r, access).await)
        }
        Request::GetParametersForImport(r) => {
            json(import::get_parameters_for_import(core, r, access).await)
        }
        Request::ImportKeyMaterial(r) => json(import::import_key_material(core, r, access).await),
        Request::DeleteImportedKeyMaterial(r) => {
            json(import::delete_imported_key_material(core, r, access).await)
        }
    }
}
