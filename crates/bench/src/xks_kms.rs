//! `--suite xks-kms`: KMS keys in external key stores. One `strongroom serve` (with `[xks]`
//! trusting the run's CA, accepting `https://localhost:PORT` and a per-store quota raised from
//! AWS's 1,800 req/s) and one `strongroom xks-proxy serve` with a software-keystore tenant and a
//! SoftHSMv2 tenant; an external key store per tenant is created and connected through the KMS
//! API (signed), a KMS key is created in each (`Origin: EXTERNAL_KEY_STORE`), and Encrypt 1 KiB
//! and GenerateDataKey on them are measured beside the same operations on an `AWS_KMS` key.

use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::serve::{self, UserSpec, XksClientSettings, ALLOW_ALL};
use crate::suite::{self, kms_call, kms_request_maker, Endpoint, FloorColumn, Job, Signer};
use crate::xks::{ProxySetup, Tenant, XksBackend, KEY_LABEL};
use crate::{procstat, servers, Cli};

/// The per-store quota for the benchmark (AWS's, and Strongroom's default, is 1,800 req/s).
pub const STORE_QUOTA_RPS: u32 = 100_000;

/// Creates and connects an external key store for `tenant`, then a KMS key in it.
async fn external_key(
    kms: &Endpoint,
    admin: &Signer,
    setup: &ProxySetup,
    tenant: &Tenant,
) -> Result<String, String> {
    let created = kms_call(
        kms,
        admin,
        "CreateCustomKeyStore",
        serde_json::json!({
            "CustomKeyStoreName": format!("bench-{}", tenant.id),
            "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
            "XksProxyConnectivity": "PUBLIC_ENDPOINT",
            "XksProxyUriEndpoint": setup.endpoint_url(),
            "XksProxyUriPath": tenant.uri_path(),
            "XksProxyAuthenticationCredential": {
                "AccessKeyId": setup.signer.access_key_id,
                "RawSecretAccessKey": setup.signer.secret,
            },
        }),
    )
    .await?;
    let store = created["CustomKeyStoreId"]
        .as_str()
        .ok_or("CreateCustomKeyStore answered without CustomKeyStoreId")?
        .to_string();
    kms_call(
        kms,
        admin,
        "ConnectCustomKeyStore",
        serde_json::json!({ "CustomKeyStoreId": store }),
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = kms_call(
            kms,
            admin,
            "DescribeCustomKeyStores",
            serde_json::json!({ "CustomKeyStoreId": store }),
        )
        .await?;
        let s = &d["CustomKeyStores"][0];
        match s["ConnectionState"].as_str() {
            Some("CONNECTED") => break,
            Some("CONNECTING") if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => {
                return Err(format!(
                    "external key store {store} ({}) did not connect: {other:?} {}",
                    tenant.describe(),
                    s["ConnectionErrorCode"].as_str().unwrap_or_default()
                ))
            }
        }
    }
    let key = kms_call(
        kms,
        admin,
        "CreateKey",
        serde_json::json!({
            "Origin": "EXTERNAL_KEY_STORE",
            "CustomKeyStoreId": store,
            "XksKeyId": KEY_LABEL,
            "Description": format!("strongroom-bench xks-kms ({})", tenant.describe()),
        }),
    )
    .await?;
    key["KeyMetadata"]["KeyId"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| "CreateKey answered without KeyMetadata.KeyId".to_string())
}

/// Encrypts and decrypts once with `key_id` (so every key is known to work).
async fn round_trip(
    kms: &Endpoint,
    signer: &Signer,
    key_id: &str,
    plaintext: &[u8],
) -> Result<(), String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let out = kms_call(
        kms,
        signer,
        "Encrypt",
        serde_json::json!({"KeyId": key_id, "Plaintext": b64.encode(plaintext)}),
    )
    .await?;
    let blob = out["CiphertextBlob"]
        .as_str()
        .ok_or("Encrypt answered without a CiphertextBlob")?;
    let out = kms_call(
        kms,
        signer,
        "Decrypt",
        serde_json::json!({ "CiphertextBlob": blob }),
    )
    .await?;
    if out["Plaintext"].as_str() != Some(b64.encode(plaintext).as_str()) {
        return Err(format!(
            "Decrypt with {key_id} did not return the plaintext"
        ));
    }
    Ok(())
}

/// `--suite xks-kms`.
pub fn run(cli: &Cli) -> Result<bool, String> {
    suite::validate(cli)?;
    let load_before = procstat::load_average();
    let bin = suite::strongroom_bin(cli)?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find my own path: {e}"))?;
    let tmp = tempfile::Builder::new()
        .prefix("strongroom-bench-xks-kms-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let tenants: Vec<Tenant> = cli
        .xks_backends
        .iter()
        .map(|b| Tenant {
            id: match b {
                XksBackend::Software => "software",
                XksBackend::Softhsm => "softhsm",
            },
            backend: *b,
            verify_encrypt: true,
        })
        .collect();
    if tenants.is_empty() {
        return Err("--xks-backends names no backend".to_string());
    }
    let setup = ProxySetup::prepare(tmp.path(), &bin, tenants, cli)?;
    let proxy = setup.start(&bin)?;
    let kms = serve::start(
        &bin,
        tmp.path(),
        &[UserSpec {
            name: "admin",
            policies: vec![ALLOW_ALL.to_string()],
            tags: Vec::new(),
            access_key: true,
        }],
        Some(&XksClientSettings {
            ca_bundle_file: setup.pki.ca_file.clone(),
            requests_per_second: STORE_QUOTA_RPS,
        }),
    )?;
    let floor = servers::spawn_floor(&exe)?;
    eprintln!(
        "strongroom serve on {} (pid {}, log {}), xks-proxy on {} (pid {}, log {}), HTTP floor on {} (pid {})",
        kms.endpoint.addr,
        kms.pid(),
        kms.log.display(),
        proxy.addr,
        proxy.pid(),
        proxy.log.display(),
        floor.addr,
        floor.pid()
    );
    let admin = kms.signer("admin")?.clone();
    let plaintext: Vec<u8> = (0..cli.plaintext_bytes).map(|i| (i % 251) as u8).collect();
    let b64 = base64::engine::general_purpose::STANDARD;
    let size = crate::size_label(cli.plaintext_bytes);
    let floor_ep = Endpoint::http(floor.addr);
    let both = vec![kms.pid(), proxy.pid()];

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the client runtime: {e}"))?;
    let rows = rt.block_on(async {
        let aws_key = kms_call(
            &kms.endpoint,
            &admin,
            "CreateKey",
            serde_json::json!({"Description": "strongroom-bench xks-kms (AWS_KMS)"}),
        )
        .await?["KeyMetadata"]["KeyId"]
            .as_str()
            .map(String::from)
            .ok_or("CreateKey answered without KeyMetadata.KeyId")?;
        let mut keys: Vec<(String, String, String)> =
            vec![("aws".to_string(), "AWS_KMS key".to_string(), aws_key)];
        for t in &setup.tenants {
            let id = external_key(&kms.endpoint, &admin, &setup, t).await?;
            keys.push((
                t.id.to_string(),
                format!("XKS key ({})", t.backend.name()),
                id,
            ));
        }
        for (_, _, key) in &keys {
            round_trip(&kms.endpoint, &admin, key, &plaintext).await?;
        }
        let encrypt =
            |key: &str| serde_json::json!({"KeyId": key, "Plaintext": b64.encode(&plaintext)});
        let mut jobs = vec![Job {
            id: "http-floor".into(),
            label: "HTTP floor (bare hyper)".into(),
            make: kms_request_maker(&floor_ep, &admin, "Encrypt", &encrypt(&keys[0].2)),
            endpoint: floor_ep.clone(),
            server_pids: vec![floor.pid()],
            baseline: None,
        }];
        for (op, label) in [
            ("Encrypt", format!("Encrypt {size}")),
            ("GenerateDataKey", "GenerateDataKey AES_256".to_string()),
        ] {
            for (kid, klabel, key) in &keys {
                let body = if op == "Encrypt" {
                    encrypt(key)
                } else {
                    serde_json::json!({"KeyId": key, "KeySpec": "AES_256"})
                };
                jobs.push(Job {
                    id: format!("{op}-{kid}"),
                    label: format!("{label}, {klabel}"),
                    make: kms_request_maker(&kms.endpoint, &admin, op, &body),
                    endpoint: kms.endpoint.clone(),
                    server_pids: if kid == "aws" {
                        vec![kms.pid()]
                    } else {
                        both.clone()
                    },
                    baseline: (kid != "aws").then(|| format!("{op}-aws")),
                });
            }
        }
        suite::check_jobs(&jobs).await?;
        Ok::<_, String>(suite::run_jobs(cli, "xks-kms", &jobs).await)
    })?;
    drop(floor);
    drop(kms);
    drop(proxy);

    let notes = vec![
        "KMS: `strongroom serve` with `[xks] allow_endpoint_port = true, ca_bundle_file = <run CA>, \
         system_roots = false, requests_per_second = 100000` — the per-store quota is raised \
         from the default 1,800 req/s (AWS's quota; past it KMS answers ThrottlingException), \
         `timeout_ms` left at 250; `RUST_LOG=warn`"
            .to_string(),
        format!(
            "Proxy: `strongroom xks-proxy serve` (`RUST_LOG=warn,xks_proxy::cli=info`), one tenant per backend, \
             `verify_encrypt = true`, `backend_timeout_ms = {}`, PKCS#11 `pool_size = {}`; \
             external key stores created and connected with CreateCustomKeyStore / \
             ConnectCustomKeyStore (PUBLIC_ENDPOINT, `https://localhost:PORT`), KMS keys by \
             CreateKey {{Origin: EXTERNAL_KEY_STORE, CustomKeyStoreId, XksKeyId}}",
            crate::xks::BACKEND_TIMEOUT_MS,
            setup.pool_size
        ),
        "An XKS Encrypt/GenerateDataKey is double encryption: KMS seals under its own backing \
         key, then calls the proxy's Encrypt over HTTPS (keep-alive pool, SigV4, AAD, CDIV \
         checked) — one proxy call per request"
            .to_string(),
    ];
    suite::print_header(
        cli,
        "KMS keys in external key stores (`--suite xks-kms`)",
        load_before.as_deref(),
        &notes,
    );
    suite::print_table(
        cli,
        &rows,
        &[FloorColumn {
            header: "% of HTTP floor",
            floor_id: "http-floor",
            cpu_bound_header: None,
        }],
        Some("% of same op on AWS_KMS key"),
        Some("µs/req: KMS + proxy"),
    );
    suite::print_cpu_note(
        "`strongroom serve` + `strongroom xks-proxy serve` on XKS rows, `strongroom serve` on \
         AWS_KMS rows (the floor process on the floor row)",
    );
    Ok(rows.iter().all(|r| r.errors == 0))
}
