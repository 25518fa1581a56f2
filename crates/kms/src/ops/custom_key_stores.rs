//! External key stores: Create/Describe/Connect/Disconnect/Update/DeleteCustomKeyStore for
//! `EXTERNAL_KEY_STORE`, and their connection states.

use kms_api::wire::{
    ConnectCustomKeyStoreRequest, ConnectCustomKeyStoreResponse, CreateCustomKeyStoreRequest,
    CreateCustomKeyStoreResponse, CustomKeyStoresListEntry, DeleteCustomKeyStoreRequest,
    DeleteCustomKeyStoreResponse, DescribeCustomKeyStoresRequest, DescribeCustomKeyStoresResponse,
    DisconnectCustomKeyStoreRequest, DisconnectCustomKeyStoreResponse, UpdateCustomKeyStoreRequest,
    UpdateCustomKeyStoreResponse, XksProxyConfiguration,
};
use kms_api::{ErrorCode, KmsError};
use kms_model::{
    ConnectionErrorCode, ConnectionState, CustomKeyStore, CustomKeyStoreId, CustomKeyStoreType,
    XksProxyConnectivity,
};
use store::Versioned;
use zeroize::Zeroizing;

use crate::core::paging::{page, PageLimits};
use crate::core::stores::{secret_context, StoreEntry};
use crate::core::{store_error, timestamp, Access, Core};
use crate::external::{checked_health, connection_error_code, health_check, Health, ProxyTarget};

/// AWS's quota of custom key stores per account and Region.
const MAX_STORES_PER_ACCOUNT: usize = 10;

fn invalid_state(msg: impl Into<String>) -> KmsError {
    KmsError::new(ErrorCode::CustomKeyStoreInvalidStateException, msg)
}

fn validation(msg: impl Into<String>) -> KmsError {
    KmsError::new(ErrorCode::ValidationException, msg)
}

fn random_store_id() -> Result<CustomKeyStoreId, KmsError> {
    let bytes =
        crypto::random_bytes(9).map_err(|_| KmsError::internal("Random generation failed."))?;
    let hex = hex::encode(bytes.as_slice());
    CustomKeyStoreId::parse(&format!("cks-{}", hex.get(..17).unwrap_or(&hex)))
        .ok_or_else(|| KmsError::internal("Custom key store id generation failed."))
}

fn pattern_violation(endpoint: &str) -> KmsError {
    validation(format!(
        "1 validation error detected: Value '{endpoint}' at 'xksProxyUriEndpoint' failed to satisfy constraint: Member must satisfy regular expression pattern: ^https://[a-zA-Z0-9.-]+$"
    ))
}

/// Checks an `XksProxyUriEndpoint` against AWS's pattern, or the relaxed one the configuration
/// allows (a port, plain HTTP) for development.
fn check_endpoint(core: &Core, endpoint: &str) -> Result<(), KmsError> {
    let s = &core.config.xks;
    let rest = if let Some(r) = endpoint.strip_prefix("https://") {
        r
    } else if let Some(r) = endpoint.strip_prefix("http://").filter(|_| s.allow_http) {
        r
    } else {
        return Err(pattern_violation(endpoint));
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if s.allow_endpoint_port => (h, Some(p)),
        _ => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(pattern_violation(endpoint))
    }
}

fn check_connectivity(
    connectivity: XksProxyConnectivity,
    vpc_service: Option<&str>,
) -> Result<(), KmsError> {
    match (connectivity, vpc_service) {
        (XksProxyConnectivity::PublicEndpoint, None) => Ok(()),
        (XksProxyConnectivity::PublicEndpoint, Some(_)) => Err(validation(
            "XksProxyVpcEndpointServiceName is valid only with XksProxyConnectivity VPC_ENDPOINT_SERVICE.",
        )),
        (XksProxyConnectivity::VpcEndpointService, None) => Err(validation(
            "XksProxyVpcEndpointServiceName is required when XksProxyConnectivity is VPC_ENDPOINT_SERVICE.",
        )),
        (XksProxyConnectivity::VpcEndpointService, Some(name)) => Err(KmsError::new(
            ErrorCode::XksProxyVpcEndpointServiceNotFoundException,
            format!(
                "Strongroom cannot use the Amazon VPC endpoint service {name}: VPC_ENDPOINT_SERVICE connectivity needs AWS PrivateLink, which exists only inside AWS. Use PUBLIC_ENDPOINT connectivity with the proxy's HTTPS endpoint."
            ),
        )),
    }
}

/// A store's name must be unique in its account and Region, and its proxy URI in the Region.
fn check_unique(core: &Core, record: &CustomKeyStore) -> Result<(), KmsError> {
    let others = core.stores.matching(|s| {
        s.record.id != record.id
            && s.record.account == record.account
            && s.record.region == record.region
    });
    for s in others {
        let r = &s.record;
        if r.name == record.name {
            return Err(KmsError::new(
                ErrorCode::CustomKeyStoreNameInUseException,
                format!(
                    "A custom key store with the name '{}' already exists in this account.",
                    record.name
                ),
            ));
        }
        if r.uri_endpoint == record.uri_endpoint && r.uri_path == record.uri_path {
            return Err(KmsError::new(
                ErrorCode::XksProxyUriInUseException,
                format!(
                    "The proxy URI {}{} is already associated with another external key store in this Region.",
                    record.uri_endpoint, record.uri_path
                ),
            ));
        }
    }
    Ok(())
}

fn seal_secret(
    core: &Core,
    id: &CustomKeyStoreId,
    secret: &Zeroizing<String>,
) -> Result<String, KmsError> {
    let sealed = core
        .root
        .seal_secret(secret.as_bytes(), &secret_context(id))
        .map_err(|_| KmsError::internal("The proxy credential could not be sealed."))?;
    Ok(hex::encode(sealed))
}

/// Writes a store record (store first, then cache): a new one when `expected` is `None`.
async fn put_store(
    core: &Core,
    record: CustomKeyStore,
    expected: Option<kms_model::Revision>,
) -> Result<(), KmsError> {
    let revision = match expected {
        None => core.store.create_custom_key_store(&record).await,
        Some(r) => core.store.update_custom_key_store(&record, r).await,
    }
    .map_err(store_error)?;
    let entry = core.store_entry_for(Versioned { record, revision })?;
    core.stores.put(entry);
    Ok(())
}

pub(crate) async fn create(
    core: &Core,
    req: &CreateCustomKeyStoreRequest,
    access: &Access<'_>,
) -> Result<CreateCustomKeyStoreResponse, KmsError> {
    if req.custom_key_store_type != Some(CustomKeyStoreType::ExternalKeyStore) {
        return Err(KmsError::new(
            ErrorCode::UnsupportedOperationException,
            "AWS CloudHSM key stores are not supported by Strongroom; create an EXTERNAL_KEY_STORE.",
        ));
    }
    if req.cloud_hsm_cluster_id.is_some()
        || req.trust_anchor_certificate.is_some()
        || req.key_store_password.is_some()
    {
        return Err(validation(
            "CloudHsmClusterId, TrustAnchorCertificate and KeyStorePassword are not valid for an EXTERNAL_KEY_STORE.",
        ));
    }
    let required = |name: &str| {
        validation(format!(
            "{name} is required for a custom key store of type EXTERNAL_KEY_STORE."
        ))
    };
    let connectivity = req
        .xks_proxy_connectivity
        .ok_or_else(|| required("XksProxyConnectivity"))?;
    let endpoint = req
        .xks_proxy_uri_endpoint
        .clone()
        .ok_or_else(|| required("XksProxyUriEndpoint"))?;
    let path = req
        .xks_proxy_uri_path
        .clone()
        .ok_or_else(|| required("XksProxyUriPath"))?;
    let credential = req
        .xks_proxy_authentication_credential
        .as_ref()
        .ok_or_else(|| required("XksProxyAuthenticationCredential"))?;
    check_endpoint(core, &endpoint)?;
    check_connectivity(
        connectivity,
        req.xks_proxy_vpc_endpoint_service_name.as_deref(),
    )?;
    let _w = core.writes.lock().await;
    let id = random_store_id()?;
    let mut record = CustomKeyStore {
        id: id.clone(),
        account: access.account.clone(),
        region: access.region().clone(),
        name: req.custom_key_store_name.clone(),
        store_type: CustomKeyStoreType::ExternalKeyStore,
        created_ms: core.now_ms(),
        uri_endpoint: endpoint.clone(),
        uri_path: path.clone(),
        connectivity,
        vpc_endpoint_service_name: None,
        access_key_id: credential.access_key_id.to_string(),
        sealed_secret_hex: String::new(),
        connection_state: ConnectionState::Disconnected,
        connection_error: None,
        credential_updated_ms: Some(core.now_ms()),
    };
    check_unique(core, &record)?;
    let count = core
        .stores
        .matching(|s| s.record.account == access.account && s.record.region == *access.region())
        .len();
    if count >= MAX_STORES_PER_ACCOUNT {
        return Err(KmsError::new(
            ErrorCode::LimitExceededException,
            format!("An account can have at most {MAX_STORES_PER_ACCOUNT} custom key stores."),
        ));
    }
    let target = ProxyTarget {
        endpoint,
        uri_path: path,
        access_key_id: credential.access_key_id.to_string(),
        secret: credential.raw_secret_access_key.clone(),
    };
    checked_health(
        core.xks.as_ref(),
        &target,
        "CreateCustomKeyStore",
        &access.origin.request_id,
    )
    .await?;
    record.sealed_secret_hex = seal_secret(core, &id, &credential.raw_secret_access_key)?;
    put_store(core, record, None).await?;
    Ok(CreateCustomKeyStoreResponse {
        custom_key_store_id: Some(id.to_string()),
    })
}

fn list_entry(r: &CustomKeyStore) -> CustomKeyStoresListEntry {
    CustomKeyStoresListEntry {
        custom_key_store_id: Some(r.id.to_string()),
        custom_key_store_name: Some(r.name.clone()),
        custom_key_store_type: Some(r.store_type),
        connection_state: Some(r.connection_state),
        connection_error_code: r
            .connection_error
            .filter(|_| r.connection_state == ConnectionState::Failed),
        creation_date: Some(timestamp(r.created_ms)),
        xks_proxy_configuration: Some(XksProxyConfiguration {
            connectivity: Some(r.connectivity),
            access_key_id: Some(Zeroizing::new(r.access_key_id.clone())),
            uri_endpoint: Some(r.uri_endpoint.clone()),
            uri_path: Some(r.uri_path.clone()),
            vpc_endpoint_service_name: r.vpc_endpoint_service_name.clone(),
            vpc_endpoint_service_owner: None,
        }),
        ..CustomKeyStoresListEntry::default()
    }
}

pub(crate) fn describe(
    core: &Core,
    req: &DescribeCustomKeyStoresRequest,
    access: &Access<'_>,
) -> Result<DescribeCustomKeyStoresResponse, KmsError> {
    if req.custom_key_store_id.is_some() && req.custom_key_store_name.is_some() {
        return Err(validation(
            "Specify either CustomKeyStoreId or CustomKeyStoreName, but not both.",
        ));
    }
    let mut stores: Vec<CustomKeyStore> = core
        .stores
        .matching(|s| {
            let r = &s.record;
            r.account == access.account
                && r.region == *access.region()
                && req
                    .custom_key_store_id
                    .as_ref()
                    .is_none_or(|id| *id == r.id.as_str())
                && req
                    .custom_key_store_name
                    .as_ref()
                    .is_none_or(|n| *n == r.name)
        })
        .iter()
        .map(|s| s.record.clone())
        .collect();
    if stores.is_empty()
        && (req.custom_key_store_id.is_some() || req.custom_key_store_name.is_some())
    {
        return Err(KmsError::new(
            ErrorCode::CustomKeyStoreNotFoundException,
            "The request was rejected because KMS cannot find a custom key store with the specified key store name or ID.",
        ));
    }
    stores.sort_by(|a, b| a.id.cmp(&b.id));
    let p = page(
        stores,
        |r| r.id.to_string(),
        req.limit,
        req.marker.as_deref(),
        PageLimits {
            default: 100,
            max: 1000,
        },
    )?;
    Ok(DescribeCustomKeyStoresResponse {
        custom_key_stores: Some(p.items.iter().map(list_entry).collect()),
        next_marker: p.next_marker,
        truncated: Some(p.truncated),
    })
}

pub(crate) async fn connect(
    core: &Core,
    req: &ConnectCustomKeyStoreRequest,
    access: &Access<'_>,
) -> Result<ConnectCustomKeyStoreResponse, KmsError> {
    let _w = core.writes.lock().await;
    let entry = core.own_store(&req.custom_key_store_id, access)?;
    let id = &entry.record.id;
    match entry.record.connection_state {
        ConnectionState::Connected | ConnectionState::Connecting => {
            return Ok(ConnectCustomKeyStoreResponse {})
        }
        ConnectionState::Failed => {
            return Err(invalid_state(format!(
                "Custom key store {id} is in the FAILED state; disconnect it before connecting it again."
            )))
        }
        ConnectionState::Disconnecting => {
            return Err(invalid_state(format!("Custom key store {id} is disconnecting.")))
        }
        ConnectionState::Disconnected => {}
    }
    // AWS connects asynchronously; here the check takes at most one proxy deadline, so the
    // outcome is recorded before the call returns and DescribeCustomKeyStores shows it at once.
    let mut record = entry.record.clone();
    match health_check(
        core.xks.as_ref(),
        &entry.target,
        "ConnectCustomKeyStore",
        &access.origin.request_id,
    )
    .await
    {
        Health::Ok => {
            record.connection_state = ConnectionState::Connected;
            record.connection_error = None;
        }
        Health::AllUnavailable => {
            record.connection_state = ConnectionState::Failed;
            record.connection_error = Some(ConnectionErrorCode::XksProxyNotReachable);
        }
        Health::Failed(e) => {
            tracing::info!(store = %record.id, error = %e, "connecting the external key store failed");
            record.connection_state = ConnectionState::Failed;
            record.connection_error = Some(connection_error_code(&e));
        }
    }
    put_store(core, record, Some(entry.revision)).await?;
    Ok(ConnectCustomKeyStoreResponse {})
}

pub(crate) async fn disconnect(
    core: &Core,
    req: &DisconnectCustomKeyStoreRequest,
    access: &Access<'_>,
) -> Result<DisconnectCustomKeyStoreResponse, KmsError> {
    let _w = core.writes.lock().await;
    let entry = core.own_store(&req.custom_key_store_id, access)?;
    if matches!(
        entry.record.connection_state,
        ConnectionState::Disconnected | ConnectionState::Disconnecting
    ) {
        return Err(invalid_state(format!(
            "Custom key store {} is already {}.",
            entry.record.id,
            entry.record.connection_state.as_str().to_lowercase()
        )));
    }
    let mut record = entry.record.clone();
    record.connection_state = ConnectionState::Disconnected;
    record.connection_error = None;
    put_store(core, record, Some(entry.revision)).await?;
    Ok(DisconnectCustomKeyStoreResponse {})
}

pub(crate) async fn update(
    core: &Core,
    req: &UpdateCustomKeyStoreRequest,
    access: &Access<'_>,
) -> Result<UpdateCustomKeyStoreResponse, KmsError> {
    if req.cloud_hsm_cluster_id.is_some() || req.key_store_password.is_some() {
        return Err(validation(
            "CloudHsmClusterId and KeyStorePassword are not valid for an EXTERNAL_KEY_STORE.",
        ));
    }
    let _w = core.writes.lock().await;
    let entry: std::sync::Arc<StoreEntry> = core.own_store(&req.custom_key_store_id, access)?;
    let state = entry.record.connection_state;
    let needs_disconnected = req.xks_proxy_uri_endpoint.is_some()
        || req.xks_proxy_connectivity.is_some()
        || req.xks_proxy_vpc_endpoint_service_name.is_some()
        || req.xks_proxy_vpc_endpoint_service_owner.is_some();
    if needs_disconnected && state != ConnectionState::Disconnected {
        return Err(invalid_state(format!(
            "Custom key store {} must be disconnected to change its endpoint, connectivity or VPC endpoint service.",
            entry.record.id
        )));
    }
    if !matches!(
        state,
        ConnectionState::Disconnected | ConnectionState::Connected
    ) {
        return Err(invalid_state(format!(
            "Custom key store {} is {}; it can be updated only when CONNECTED or DISCONNECTED.",
            entry.record.id, state
        )));
    }
    let mut record = entry.record.clone();
    let mut target = entry.target.clone();
    if let Some(e) = &req.xks_proxy_uri_endpoint {
        check_endpoint(core, e)?;
        record.uri_endpoint = e.clone();
        target.endpoint = e.clone();
    }
    if let Some(p) = &req.xks_proxy_uri_path {
        record.uri_path = p.clone();
        target.uri_path = p.clone();
    }
    if let Some(c) = req.xks_proxy_connectivity {
        check_connectivity(c, req.xks_proxy_vpc_endpoint_service_name.as_deref())?;
        record.connectivity = c;
    }
    let credential = req.xks_proxy_authentication_credential.as_ref();
    if let Some(c) = credential {
        record.access_key_id = c.access_key_id.to_string();
        target.access_key_id = c.access_key_id.to_string();
        target.secret = c.raw_secret_access_key.clone();
        record.sealed_secret_hex = seal_secret(core, &record.id, &c.raw_secret_access_key)?;
        record.credential_updated_ms = Some(core.now_ms());
    }
    if let Some(n) = &req.new_custom_key_store_name {
        record.name = n.clone();
    }
    check_unique(core, &record)?;
    let proxy_changed = record.uri_endpoint != entry.record.uri_endpoint
        || record.uri_path != entry.record.uri_path
        || credential.is_some();
    if proxy_changed {
        checked_health(
            core.xks.as_ref(),
            &target,
            "UpdateCustomKeyStore",
            &access.origin.request_id,
        )
        .await?;
    }
    put_store(core, record, Some(entry.revision)).await?;
    Ok(UpdateCustomKeyStoreResponse {})
}

pub(crate) async fn delete(
    core: &Core,
    req: &DeleteCustomKeyStoreRequest,
    access: &Access<'_>,
) -> Result<DeleteCustomKeyStoreResponse, KmsError> {
    let _w = core.writes.lock().await;
    let entry = core.own_store(&req.custom_key_store_id, access)?;
    if entry.record.connection_state != ConnectionState::Disconnected {
        return Err(invalid_state(format!(
            "Custom key store {} must be disconnected before it is deleted.",
            entry.record.id
        )));
    }
    let has_keys = !core
        .cache
        .keys_where(|k| {
            k.key
                .external
                .as_ref()
                .is_some_and(|e| e.store == entry.record.id)
        })
        .is_empty();
    if has_keys {
        return Err(KmsError::new(
            ErrorCode::CustomKeyStoreHasCMKsException,
            "The custom key store contains KMS keys. After verifying that you do not need to use the KMS keys, use the ScheduleKeyDeletion operation to delete the KMS keys. After they are deleted, you can delete the custom key store.",
        ));
    }
    core.store
        .delete_custom_key_store(&entry.record.id, entry.revision)
        .await
        .map_err(store_error)?;
    core.stores.remove(&entry.record.id);
    Ok(DeleteCustomKeyStoreResponse {})
}
