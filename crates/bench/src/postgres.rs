//! `--suite postgres`: the same requests on two `strongroom dev` nodes in one run, one on SQLite
//! (its data directory) and one on PostgreSQL (`--postgres URL`, a fresh schema): Encrypt
//! (memory only on both: the figures should match), CreateKey and TagResource (each a durable
//! write: they show what each database costs). wrk replays one signed request per run, as in
//! the KMS suite; rounds alternate the order of the rows.

use crate::kms::KmsTarget;
use crate::suite::{self, kms_call, Endpoint, Signer};
use crate::wrk::{self, WrkTarget};
use crate::{procstat, servers, size_label, Cli};

/// The two stores, in the table's order.
const STORES: [&str; 2] = ["sqlite", "postgres"];

pub fn run(cli: &Cli) -> Result<bool, String> {
    suite::validate(cli)?;
    let url = cli
        .postgres
        .clone()
        .ok_or("--suite postgres needs --postgres postgresql://user@host:port/db")?;
    wrk::availability(cli)?;
    let load_before = procstat::load_average();
    let strongroom_bin = suite::strongroom_bin(cli)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the client runtime: {e}"))?;

    let schema = format!("bench_{}", std::process::id());
    let mut dirs = Vec::new();
    let mut nodes = Vec::new();
    for store in STORES {
        let dir = tempfile::Builder::new()
            .prefix("strongroom-bench-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let extra: Vec<&str> = match store {
            "postgres" => vec![
                "--postgres",
                &url,
                "--postgres-schema",
                &schema,
                "--no-demo-store",
            ],
            _ => vec!["--no-demo-store"],
        };
        let node = servers::spawn_strongroom_with(&strongroom_bin, dir.path(), &extra)?;
        eprintln!(
            "strongroom on {store}: {} (pid {}, log {})",
            node.addr,
            node.pid(),
            node.log_path.display()
        );
        nodes.push(node);
        dirs.push(dir);
    }

    let plaintext: Vec<u8> = (0..cli.plaintext_bytes).map(|i| (i % 251) as u8).collect();
    let plaintext_b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&plaintext)
    };
    let targets: Vec<WrkTarget> = rt.block_on(async {
        let mut targets = Vec::new();
        for (store, node) in STORES.iter().zip(&nodes) {
            let signer = Signer {
                access_key_id: node.access_key_id.clone(),
                secret: node.secret.clone(),
                region: node.region.clone(),
                service: "kms",
            };
            let ep = Endpoint::http(node.addr);
            let created = kms_call(
                &ep,
                &signer,
                "CreateKey",
                serde_json::json!({"Description": "strongroom-bench"}),
            )
            .await?;
            let key_id = created["KeyMetadata"]["KeyId"]
                .as_str()
                .ok_or("CreateKey answered without KeyMetadata.KeyId")?
                .to_string();
            let rows = [
                (
                    "encrypt",
                    "Encrypt",
                    format!("Encrypt {}", size_label(cli.plaintext_bytes)),
                    serde_json::json!({"KeyId": key_id, "Plaintext": plaintext_b64}),
                ),
                (
                    "create-key",
                    "CreateKey",
                    "CreateKey".to_string(),
                    serde_json::json!({"Description": "bench"}),
                ),
                (
                    "tag-resource",
                    "TagResource",
                    "TagResource".to_string(),
                    serde_json::json!({"KeyId": key_id, "Tags": [{"TagKey": "bench", "TagValue": "1"}]}),
                ),
            ];
            for (id, operation, label, body) in rows {
                let target = KmsTarget {
                    id: format!("{id}-{store}"),
                    label: format!("{label} on {store}"),
                    operation: operation.to_string(),
                    body,
                    endpoint: ep.clone(),
                    signer: signer.clone(),
                    server_pid: node.pid(),
                };
                let wrk = target.wrk();
                wrk.check_replay().await?;
                targets.push(wrk);
            }
        }
        Ok::<_, String>(targets)
    })?;

    let runs = wrk::run_rounds(cli, &targets, dirs[0].path())?;
    // Each row beside its SQLite twin.
    let mut rows = Vec::new();
    for kind in ["encrypt", "create-key", "tag-resource"] {
        let pair: Vec<_> = runs
            .iter()
            .filter(|r| r.id.starts_with(&format!("{kind}-")))
            .cloned()
            .collect();
        rows.extend(wrk::summarise(&pair, Some(&format!("{kind}-sqlite"))));
    }
    drop(nodes);

    let notes = vec![
        format!(
            "Servers: two `strongroom dev --no-demo-store` nodes in one run, one on SQLite (its \
             data directory), one on PostgreSQL ({}, schema `{schema}`); {} plaintext",
            redact(&url),
            size_label(cli.plaintext_bytes)
        ),
        "Ratio: the row's req/s over the same operation's on SQLite".to_string(),
    ];
    suite::print_header(
        cli,
        "SQLite and PostgreSQL nodes (`--suite postgres`)",
        load_before.as_deref(),
        &notes,
    );
    wrk::print_table(&rows, "ratio to SQLite req/s");
    wrk::print_note(cli, "the `strongroom dev` node of the row");
    Ok(rows.iter().all(|r| !r.has_errors()))
}

/// The URL without a password.
fn redact(url: &str) -> String {
    match url.split_once("://").and_then(|(s, rest)| {
        let (userinfo, host) = rest.rsplit_once('@')?;
        let user = userinfo.split(':').next()?;
        Some(format!("{s}://{user}@{host}"))
    }) {
        Some(u) => u,
        None => url.to_string(),
    }
}
