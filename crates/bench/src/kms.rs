//! `--suite kms` (the default): Encrypt, Decrypt, GenerateDataKey, Sign (ECC_NIST_P256,
//! RSA_2048) and GenerateDataKeyPair (every KeyPairSpec) on `strongroom dev` beside the HTTP
//! floor, measured by two load clients: `wrk -t1` replaying one pre-signed request per
//! target (the headline, where wrk is installed), then this crate's own client signing every
//! request afresh. Optionally a `perf` profile of the server during one more wrk run.
//!
//! A target is a [`KmsTarget`]: a name, an operation (`X-Amz-Target: TrentService.<Op>`) and a
//! JSON body, with where to send it; both clients are built from it, so a new operation to
//! compare is one more entry in [`TargetKind`] and its body in [`run`].

use base64::Engine as _;
use bytes::Bytes;
use clap::ValueEnum;

use crate::suite::{
    self, kms_call, kms_request_maker, Endpoint, FloorColumn, Job, Signer, KMS_CONTENT_TYPE,
};
use crate::wrk::{self, WrkRow, WrkTarget};
use crate::{perf, procstat, servers, size_label, Cli};

/// What a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetKind {
    /// The bare hyper server, sent the same signed Encrypt request.
    Floor,
    /// Strongroom Encrypt of `--plaintext-bytes` bytes.
    Encrypt,
    /// Strongroom Decrypt of a ciphertext of `--plaintext-bytes` bytes.
    Decrypt,
    /// Strongroom GenerateDataKey, KeySpec AES_256.
    GenerateDataKey,
    /// Strongroom Sign with an ECC_NIST_P256 key: ECDSA_SHA_256 of a SHA-256 digest.
    #[value(name = "sign-p256")]
    SignP256,
    /// Strongroom Sign with an RSA_2048 key: RSASSA_PKCS1_V1_5_SHA_256 of a SHA-256 digest
    /// (what `openssl speed rsa2048` signs; the run also measures that, for the ratio).
    #[value(name = "sign-rsa-2048")]
    SignRsa2048,
    /// GenerateDataKeyPair RSA_2048 (the private key encrypted under a symmetric key).
    #[value(name = "gdkp-rsa-2048")]
    GdkpRsa2048,
    /// GenerateDataKeyPair RSA_3072.
    #[value(name = "gdkp-rsa-3072")]
    GdkpRsa3072,
    /// GenerateDataKeyPair RSA_4096.
    #[value(name = "gdkp-rsa-4096")]
    GdkpRsa4096,
    /// GenerateDataKeyPair ECC_NIST_P256.
    #[value(name = "gdkp-p256")]
    GdkpP256,
    /// GenerateDataKeyPair ECC_NIST_P384.
    #[value(name = "gdkp-p384")]
    GdkpP384,
    /// GenerateDataKeyPair ECC_NIST_P521.
    #[value(name = "gdkp-p521")]
    GdkpP521,
    /// GenerateDataKeyPair ECC_SECG_P256K1.
    #[value(name = "gdkp-secp256k1")]
    GdkpSecp256k1,
    /// GenerateDataKeyPair ECC_NIST_EDWARDS25519.
    #[value(name = "gdkp-ed25519")]
    GdkpEd25519,
    /// GenerateDataKeyPair ML_KEM_512.
    #[value(name = "gdkp-ml-kem-512")]
    GdkpMlKem512,
    /// GenerateDataKeyPair ML_KEM_768.
    #[value(name = "gdkp-ml-kem-768")]
    GdkpMlKem768,
    /// GenerateDataKeyPair ML_KEM_1024.
    #[value(name = "gdkp-ml-kem-1024")]
    GdkpMlKem1024,
}

impl TargetKind {
    /// The row's id in the report (the floor column finds the floor row by it): the name
    /// `--targets` takes.
    pub fn id(self) -> &'static str {
        match self {
            TargetKind::Floor => "floor",
            TargetKind::Encrypt => "encrypt",
            TargetKind::Decrypt => "decrypt",
            TargetKind::GenerateDataKey => "generate-data-key",
            TargetKind::SignP256 => "sign-p256",
            TargetKind::SignRsa2048 => "sign-rsa-2048",
            TargetKind::GdkpRsa2048 => "gdkp-rsa-2048",
            TargetKind::GdkpRsa3072 => "gdkp-rsa-3072",
            TargetKind::GdkpRsa4096 => "gdkp-rsa-4096",
            TargetKind::GdkpP256 => "gdkp-p256",
            TargetKind::GdkpP384 => "gdkp-p384",
            TargetKind::GdkpP521 => "gdkp-p521",
            TargetKind::GdkpSecp256k1 => "gdkp-secp256k1",
            TargetKind::GdkpEd25519 => "gdkp-ed25519",
            TargetKind::GdkpMlKem512 => "gdkp-ml-kem-512",
            TargetKind::GdkpMlKem768 => "gdkp-ml-kem-768",
            TargetKind::GdkpMlKem1024 => "gdkp-ml-kem-1024",
        }
    }

    /// The `KeyPairSpec` of a GenerateDataKeyPair target.
    fn key_pair_spec(self) -> Option<&'static str> {
        Some(match self {
            TargetKind::GdkpRsa2048 => "RSA_2048",
            TargetKind::GdkpRsa3072 => "RSA_3072",
            TargetKind::GdkpRsa4096 => "RSA_4096",
            TargetKind::GdkpP256 => "ECC_NIST_P256",
            TargetKind::GdkpP384 => "ECC_NIST_P384",
            TargetKind::GdkpP521 => "ECC_NIST_P521",
            TargetKind::GdkpSecp256k1 => "ECC_SECG_P256K1",
            TargetKind::GdkpEd25519 => "ECC_NIST_EDWARDS25519",
            TargetKind::GdkpMlKem512 => "ML_KEM_512",
            TargetKind::GdkpMlKem768 => "ML_KEM_768",
            TargetKind::GdkpMlKem1024 => "ML_KEM_1024",
            _ => return None,
        })
    }

    /// The key spec and signing algorithm of a Sign target.
    fn signing(self) -> Option<(&'static str, &'static str)> {
        match self {
            TargetKind::SignP256 => Some(("ECC_NIST_P256", "ECDSA_SHA_256")),
            TargetKind::SignRsa2048 => Some(("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256")),
            _ => None,
        }
    }

    fn label(self, plaintext_bytes: usize) -> String {
        if let Some(spec) = self.key_pair_spec() {
            return format!("GenerateDataKeyPair {spec}");
        }
        if let Some((spec, alg)) = self.signing() {
            return format!("Sign {spec} ({alg}, DIGEST)");
        }
        match self {
            TargetKind::Floor => "HTTP floor (bare hyper)".to_string(),
            TargetKind::Encrypt => format!("Encrypt {}", size_label(plaintext_bytes)),
            TargetKind::Decrypt => format!("Decrypt {}", size_label(plaintext_bytes)),
            _ => "GenerateDataKey AES_256".to_string(),
        }
    }
}

/// One KMS call to measure: (name, `X-Amz-Target`, body), where it goes, who signs it and
/// whose CPU is the server's.
#[derive(Clone)]
pub struct KmsTarget {
    pub id: String,
    pub label: String,
    /// The operation: `X-Amz-Target: TrentService.<operation>`.
    pub operation: String,
    pub body: serde_json::Value,
    pub endpoint: Endpoint,
    pub signer: Signer,
    pub server_pid: u32,
}

impl KmsTarget {
    /// For the own client: every request signed afresh.
    pub fn job(&self) -> Job {
        Job {
            id: self.id.clone(),
            label: self.label.clone(),
            make: kms_request_maker(&self.endpoint, &self.signer, &self.operation, &self.body),
            endpoint: self.endpoint.clone(),
            server_pids: vec![self.server_pid],
            baseline: None,
        }
    }

    /// For wrk: one request signed per run and replayed.
    pub fn wrk(&self) -> WrkTarget {
        WrkTarget {
            id: self.id.clone(),
            label: self.label.clone(),
            endpoint: self.endpoint.clone(),
            path: "/".to_string(),
            content_type: KMS_CONTENT_TYPE,
            x_amz_target: Some(format!("TrentService.{}", self.operation)),
            body: Bytes::from(self.body.to_string()),
            signer: self.signer.clone(),
            server_pid: self.server_pid,
        }
    }
}

/// Checks an answer beyond its 200: Decrypt gives the plaintext back, GenerateDataKey a
/// 32-byte key.
fn check_answer(
    kind: TargetKind,
    answer: &serde_json::Value,
    plaintext_b64: &str,
) -> Result<(), String> {
    match kind {
        TargetKind::Floor | TargetKind::Encrypt => Ok(()),
        TargetKind::Decrypt if answer["Plaintext"].as_str() == Some(plaintext_b64) => Ok(()),
        TargetKind::Decrypt => {
            Err("Decrypt did not return the plaintext that was encrypted".to_string())
        }
        // 32 bytes are 44 characters of base64.
        TargetKind::GenerateDataKey if answer["Plaintext"].as_str().map(str::len) == Some(44) => {
            Ok(())
        }
        TargetKind::GenerateDataKey => {
            Err("GenerateDataKey did not return a 32-byte plaintext key".to_string())
        }
        TargetKind::SignP256 | TargetKind::SignRsa2048 => {
            if answer["Signature"].as_str().is_some_and(|s| !s.is_empty()) {
                Ok(())
            } else {
                Err("Sign did not return a signature".to_string())
            }
        }
        _ => {
            let has = |m: &str| answer[m].as_str().is_some_and(|s| !s.is_empty());
            if has("PublicKey") && has("PrivateKeyPlaintext") && has("PrivateKeyCiphertextBlob") {
                Ok(())
            } else {
                Err("GenerateDataKeyPair did not return a key pair".to_string())
            }
        }
    }
}

/// A SHA-256-sized digest for the Sign targets (any 32 bytes are a digest to sign).
const DIGEST_B64: &str = "c3Ryb25ncm9vbS1iZW5jaCBzaWduIGRpZ2VzdCAzMmI=";

/// Creates a SIGN_VERIFY key of `spec`; its id.
async fn signing_key(kms_ep: &Endpoint, signer: &Signer, spec: &str) -> Result<String, String> {
    let created = kms_call(
        kms_ep,
        signer,
        "CreateKey",
        serde_json::json!({
            "Description": "strongroom-bench",
            "KeySpec": spec,
            "KeyUsage": "SIGN_VERIFY",
        }),
    )
    .await?;
    created["KeyMetadata"]["KeyId"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("CreateKey {spec} answered without KeyMetadata.KeyId"))
}

/// A `strongroom dev` to measure, and the suffix its rows' ids and labels carry.
struct Server<'a> {
    strongroom: &'a servers::Strongroom,
    suffix: Option<&'static str>,
}

/// Creates a key on `server`, then builds and checks (own client and replay) each target of
/// `--targets` there. The floor target goes to the floor, and only for the main server.
async fn setup_targets(
    cli: &Cli,
    server: &Server<'_>,
    floor_ep: &Endpoint,
    floor_pid: u32,
    plaintext_b64: &str,
) -> Result<Vec<(TargetKind, KmsTarget)>, String> {
    let kms = server.strongroom;
    let signer = Signer {
        access_key_id: kms.access_key_id.clone(),
        secret: kms.secret.clone(),
        region: kms.region.clone(),
        service: "kms",
    };
    let kms_ep = Endpoint::http(kms.addr);
    let created = kms_call(
        &kms_ep,
        &signer,
        "CreateKey",
        serde_json::json!({"Description": "strongroom-bench"}),
    )
    .await?;
    let key_id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .ok_or("CreateKey answered without KeyMetadata.KeyId")?
        .to_string();
    let encrypt_body = serde_json::json!({"KeyId": key_id, "Plaintext": plaintext_b64});
    let out = kms_call(&kms_ep, &signer, "Encrypt", encrypt_body.clone()).await?;
    let blob = out["CiphertextBlob"]
        .as_str()
        .ok_or("Encrypt answered without a CiphertextBlob")?;
    let mut targets = Vec::new();
    for &kind in &cli.targets {
        if kind == TargetKind::Floor && server.suffix.is_some() {
            continue;
        }
        let (operation, body, endpoint, pid) = if let Some((spec, alg)) = kind.signing() {
            let key = signing_key(&kms_ep, &signer, spec).await?;
            let body = serde_json::json!({
                "KeyId": key,
                "Message": DIGEST_B64,
                "MessageType": "DIGEST",
                "SigningAlgorithm": alg,
            });
            ("Sign", body, &kms_ep, kms.pid())
        } else if let Some(spec) = kind.key_pair_spec() {
            let body = serde_json::json!({"KeyId": key_id, "KeyPairSpec": spec});
            ("GenerateDataKeyPair", body, &kms_ep, kms.pid())
        } else {
            match kind {
                // The floor is sent the same signed Encrypt (it does not look at the signature).
                TargetKind::Floor => ("Encrypt", encrypt_body.clone(), floor_ep, floor_pid),
                TargetKind::Encrypt => ("Encrypt", encrypt_body.clone(), &kms_ep, kms.pid()),
                TargetKind::Decrypt => (
                    "Decrypt",
                    serde_json::json!({ "CiphertextBlob": blob }),
                    &kms_ep,
                    kms.pid(),
                ),
                _ => (
                    "GenerateDataKey",
                    serde_json::json!({"KeyId": key_id, "KeySpec": "AES_256"}),
                    &kms_ep,
                    kms.pid(),
                ),
            }
        };
        let (id, label) = match server.suffix {
            None => (kind.id().to_string(), kind.label(cli.plaintext_bytes)),
            Some(s) => (
                format!("{}-{s}", kind.id()),
                format!("{} ({s})", kind.label(cli.plaintext_bytes)),
            ),
        };
        let target = KmsTarget {
            id,
            label,
            operation: operation.to_string(),
            body,
            endpoint: endpoint.clone(),
            signer: signer.clone(),
            server_pid: pid,
        };
        let answer = suite::call_job(&target.job()).await?;
        check_answer(kind, &answer, plaintext_b64)?;
        target.wrk().check_replay().await?;
        targets.push((kind, target));
    }
    Ok(targets)
}

/// What became of the wrk measurement.
enum WrkOutcome {
    /// Not run; why (the report says it).
    Skipped(String),
    /// Started and failed.
    Failed(String),
    Measured {
        rows: Vec<WrkRow>,
        /// The perf section's markdown, or why there is none.
        profile: Option<Result<String, String>>,
        /// `openssl speed`'s RSA_2048 signs per second, measured right after the wrk rounds
        /// when a Sign RSA_2048 target ran (or why not).
        openssl_rsa2048: Option<Result<f64, String>>,
    },
}

/// `openssl speed -seconds 3 rsa2048`: RSA-2048 signatures per second on one core, on this
/// machine, now.
fn openssl_rsa2048_signs() -> Result<f64, String> {
    eprint!("openssl speed -seconds 3 rsa2048 ... ");
    let out = std::process::Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa2048"])
        .output()
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "openssl speed failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let signs = parse_openssl_speed_rsa2048(&String::from_utf8_lossy(&out.stdout))
        .ok_or("openssl speed printed no `rsa 2048 bits` line")?;
    eprintln!("{signs:.1} sign/s");
    Ok(signs)
}

/// The sign/s of `openssl speed`'s summary line
/// `rsa 2048 bits 0.000693s 0.000020s   1443.0  49043.8` (sign, verify, sign/s, verify/s).
fn parse_openssl_speed_rsa2048(stdout: &str) -> Option<f64> {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("rsa 2048 bits"))?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    fields.get(5)?.parse().ok()
}

/// The figures issue 11 sets targets for: Sign ECC_NIST_P256 against Encrypt at the same
/// connection count (≥ 0.50), Sign RSA_2048 against `openssl speed` (≥ 0.80).
fn print_targets(rows: &[WrkRow], openssl_rsa2048: Option<&Result<f64, String>>) {
    let row = |id: &str, c: usize| rows.iter().find(|r| r.id == id && r.connections == c);
    let mut lines = Vec::new();
    for sign in rows.iter().filter(|r| r.id == TargetKind::SignP256.id()) {
        let Some(enc) = row(TargetKind::Encrypt.id(), sign.connections) else {
            continue;
        };
        let pair = |r: &WrkRow| r.server_us_per_req + r.wrk_us_per_req;
        lines.push(format!(
            "- Sign ECC_NIST_P256 / Encrypt, {} connections: {:.0} / {:.0} req/s = **{:.2}**              (target ≥ 0.50); CPU-bound estimate (wrk + server CPU µs/req of Encrypt / of Sign):              {:.1} / {:.1} = {:.2}",
            sign.connections,
            sign.rps,
            enc.rps,
            sign.rps / enc.rps,
            pair(enc),
            pair(sign),
            pair(enc) / pair(sign),
        ));
    }
    for sign in rows.iter().filter(|r| r.id == TargetKind::SignRsa2048.id()) {
        match openssl_rsa2048 {
            Some(Ok(signs)) => lines.push(format!(
                "- Sign RSA_2048 / `openssl speed -seconds 3 rsa2048`, {} connections: {:.0} req/s                  / {signs:.0} sign/s = **{:.2}** (target ≥ 0.80); server CPU per Sign {:.0} µs                  against openssl's {:.0} µs per signature (one core): {:.2}",
                sign.connections,
                sign.rps,
                sign.rps / signs,
                sign.server_us_per_req,
                1e6 / signs,
                1e6 / signs / sign.server_us_per_req,
            )),
            Some(Err(e)) => lines.push(format!("- Sign RSA_2048: `openssl speed` failed: {e}")),
            None => {}
        }
    }
    if lines.is_empty() {
        return;
    }
    println!("#### Asymmetric targets (issue 11)");
    println!();
    for l in lines {
        println!("{l}");
    }
    println!();
}

/// `--suite kms`; `Ok(false)` when some run saw errors.
pub fn run(cli: &Cli) -> Result<bool, String> {
    suite::validate(cli)?;
    let load_before = procstat::load_average();
    let exe = std::env::current_exe().map_err(|e| format!("cannot find my own path: {e}"))?;
    let strongroom_bin = suite::strongroom_bin(cli)?;

    // The client: one thread. The servers are separate processes with their own runtimes.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the client runtime: {e}"))?;

    let floor = servers::spawn_floor(&exe)?;
    let data_dir = tempfile::Builder::new()
        .prefix("strongroom-bench-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let kms = servers::spawn_strongroom(&strongroom_bin, data_dir.path())?;
    eprintln!(
        "floor on {} (pid {}), strongroom on {} (pid {}, log {})",
        floor.addr,
        floor.pid(),
        kms.addr,
        kms.pid(),
        kms.log_path.display()
    );
    let baseline_dir = tempfile::Builder::new()
        .prefix("strongroom-bench-baseline-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let baseline = match &cli.baseline_bin {
        Some(bin) => {
            let b = servers::spawn_strongroom(bin, baseline_dir.path())?;
            eprintln!(
                "baseline strongroom ({}) on {} (pid {})",
                bin.display(),
                b.addr,
                b.pid()
            );
            Some(b)
        }
        None => None,
    };
    let floor_ep = Endpoint::http(floor.addr);

    let plaintext: Vec<u8> = (0..cli.plaintext_bytes)
        .map(|i| (i % 251) as u8) // arbitrary, not compressible to nothing
        .collect();
    let plaintext_b64 = base64::engine::general_purpose::STANDARD.encode(&plaintext);

    // Setup on the real server(s): one key, one ciphertext; then every target's request is
    // checked once by the own client and once pre-signed and replayed, as wrk will send it.
    // A baseline server's rows follow each of the main server's.
    let targets: Vec<(TargetKind, KmsTarget)> = rt.block_on(async {
        let main = Server {
            strongroom: &kms,
            suffix: None,
        };
        let mut targets = setup_targets(cli, &main, &floor_ep, floor.pid(), &plaintext_b64).await?;
        if let Some(b) = &baseline {
            let server = Server {
                strongroom: b,
                suffix: Some("baseline"),
            };
            let extra = setup_targets(cli, &server, &floor_ep, floor.pid(), &plaintext_b64).await?;
            let mut merged = Vec::new();
            for t in targets {
                let kind = t.0;
                merged.push(t);
                merged.extend(
                    extra
                        .iter()
                        .filter(|(k, _)| *k == kind && *k != TargetKind::Floor)
                        .cloned(),
                );
            }
            targets = merged;
        }
        Ok::<_, String>(targets)
    })?;

    let wrk_outcome = match wrk::availability(cli) {
        Err(why) => WrkOutcome::Skipped(why),
        Ok(()) => measure_wrk(cli, &targets, data_dir.path()),
    };

    let jobs: Vec<Job> = targets.iter().map(|(_, t)| t.job()).collect();
    let rows = if cli.wrk_only {
        Vec::new()
    } else {
        rt.block_on(suite::run_jobs(cli, "kms", &jobs))
    };

    drop(kms);
    drop(baseline);
    drop(floor);

    let mut notes = vec![format!(
        "Servers: `strongroom dev` (fresh data directory) and the HTTP floor \
         (`strongroom-bench floor-server`), sent the same signed Encrypt; {} plaintext",
        size_label(cli.plaintext_bytes)
    )];
    if let Some(bin) = &cli.baseline_bin {
        notes.push(format!(
            "Rows marked \"baseline\": a second `strongroom dev` started from `{}`, measured \
             in the same rounds right after the main server's row",
            bin.display()
        ));
    }
    notes.push(match &wrk_outcome {
        WrkOutcome::Skipped(why) | WrkOutcome::Failed(why) => {
            format!("**wrk: {why}** — only the own client's figures below")
        }
        WrkOutcome::Measured { .. } => "Two load clients, one after the other: wrk (the first \
             table, the headline) and strongroom-bench's own (the second table; the \
             window settings above are the own client's)"
            .to_string(),
    });
    suite::print_header(
        cli,
        "KMS operations (`--suite kms`)",
        load_before.as_deref(),
        &notes,
    );
    let mut ok = true;
    println!("### wrk");
    println!();
    match &wrk_outcome {
        WrkOutcome::Skipped(why) => println!("wrk: {why}.\n"),
        WrkOutcome::Failed(why) => {
            ok = false;
            println!("wrk failed: {why}\n");
        }
        WrkOutcome::Measured {
            rows,
            profile,
            openssl_rsa2048,
        } => {
            wrk::print_table(rows, "ratio to floor req/s");
            wrk::print_note(cli, "`strongroom dev` (the floor process on floor rows)");
            print_targets(rows, openssl_rsa2048.as_ref());
            ok &= rows.iter().all(|r| !r.has_errors());
            match profile {
                None => {}
                Some(Ok(text)) => println!("{text}"),
                Some(Err(e)) => println!("perf: {e}\n"),
            }
        }
    }
    if cli.wrk_only {
        return Ok(ok);
    }
    println!("### Own client (every request signed afresh)");
    println!();
    suite::print_table(
        cli,
        &rows,
        &[FloorColumn {
            header: "% of floor req/s",
            floor_id: TargetKind::Floor.id(),
            cpu_bound_header: Some("% of floor, CPU-bound estimate"),
        }],
        None,
        None,
    );
    suite::print_cpu_note("`strongroom dev` (the floor process on floor rows)");
    suite::print_cpu_bound_note();
    Ok(ok && rows.iter().all(|r| r.errors == 0))
}

/// The wrk rounds, then the profile if `--perf-target` asks for one.
fn measure_wrk(
    cli: &Cli,
    targets: &[(TargetKind, KmsTarget)],
    dir: &std::path::Path,
) -> WrkOutcome {
    let wrk_targets: Vec<WrkTarget> = targets.iter().map(|(_, t)| t.wrk()).collect();
    let runs = match wrk::run_rounds(cli, &wrk_targets, dir) {
        Ok(runs) => runs,
        Err(e) => return WrkOutcome::Failed(e),
    };
    // Right after the rounds, on the same machine under the same outside load.
    let openssl_rsa2048 = targets
        .iter()
        .any(|(k, _)| *k == TargetKind::SignRsa2048)
        .then(openssl_rsa2048_signs);
    let profile = cli.perf_target.map(|kind| {
        let target = targets
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, t)| t.wrk())
            .ok_or_else(|| format!("--perf-target {} is not among --targets", kind.id()))?;
        let output = std::env::current_dir()
            .map(|d| perf::profile_path(&d, kind.id(), cli.perf_connections))
            .map_err(|e| format!("cannot find the current directory: {e}"))?;
        perf::profile(
            &target,
            cli.perf_connections,
            wrk::run_seconds(cli),
            dir,
            &output,
            &cli.perf_call_graph,
        )
    });
    WrkOutcome::Measured {
        rows: wrk::summarise(&runs, Some(TargetKind::Floor.id())),
        profile,
        openssl_rsa2048,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked() {
        let p = "cGxhaW4=";
        let key = serde_json::json!({ "Plaintext": "A".repeat(44) });
        assert!(check_answer(TargetKind::GenerateDataKey, &key, p).is_ok());
        let short = serde_json::json!({ "Plaintext": "A".repeat(24) });
        assert!(check_answer(TargetKind::GenerateDataKey, &short, p).is_err());
        assert!(check_answer(
            TargetKind::Decrypt,
            &serde_json::json!({ "Plaintext": p }),
            p
        )
        .is_ok());
        assert!(check_answer(TargetKind::Decrypt, &key, p).is_err());
        assert!(check_answer(TargetKind::Encrypt, &serde_json::json!({}), p).is_ok());
    }

    #[test]
    fn openssl_speed_summary_is_read() {
        let out = "Doing 2048 bits private rsa's for 3s: 4329 2048 bits private RSA's in 3.00s\n\
                   version: 3.0.19\n                  sign    verify    sign/s verify/s\n\
                   rsa 2048 bits 0.000693s 0.000020s   1443.0  49043.8\n";
        assert_eq!(parse_openssl_speed_rsa2048(out), Some(1443.0));
        assert_eq!(parse_openssl_speed_rsa2048("nothing"), None);
    }

    #[test]
    fn asymmetric_answers_are_checked() {
        let p = "cGxhaW4=";
        let signed = serde_json::json!({ "Signature": "MEUCIQ==" });
        assert!(check_answer(TargetKind::SignP256, &signed, p).is_ok());
        assert!(check_answer(TargetKind::SignRsa2048, &serde_json::json!({}), p).is_err());
        let pair = serde_json::json!({
            "PublicKey": "MA==", "PrivateKeyPlaintext": "MA==", "PrivateKeyCiphertextBlob": "MA=="
        });
        assert!(check_answer(TargetKind::GdkpEd25519, &pair, p).is_ok());
        assert!(check_answer(TargetKind::GdkpEd25519, &signed, p).is_err());
        for kind in TargetKind::value_variants() {
            assert_eq!(
                kind.to_possible_value().map(|v| v.get_name().to_string()),
                Some(kind.id().to_string()),
                "--targets takes the row's id"
            );
        }
    }

    #[test]
    fn the_wrk_request_is_the_own_clients() {
        let t = KmsTarget {
            id: "encrypt".into(),
            label: "Encrypt".into(),
            operation: "Encrypt".into(),
            body: serde_json::json!({"KeyId": "k", "Plaintext": "cA=="}),
            endpoint: Endpoint::http(([127, 0, 0, 1], 1).into()),
            signer: Signer {
                access_key_id: "AKIDEXAMPLE".into(),
                secret: "secret".into(),
                region: "us-east-1".into(),
                service: "kms",
            },
            server_pid: 1,
        };
        let w = t.wrk();
        assert_eq!(w.x_amz_target.as_deref(), Some("TrentService.Encrypt"));
        assert_eq!(w.path, "/");
        assert_eq!(w.content_type, KMS_CONTENT_TYPE);
        let req = (t.job().make)().unwrap();
        assert_eq!(req.headers()["x-amz-target"], "TrentService.Encrypt");
        assert_eq!(req.headers()["content-type"], KMS_CONTENT_TYPE);
        assert_eq!(w.body, Bytes::from(t.body.to_string()));
    }
}
