//! `strongroom-bench`: a load generator for Strongroom.
//!
//! It starts two servers on 127.0.0.1 — a bare hyper server that only reads the body and
//! answers a fixed JSON (the HTTP floor), and the real `strongroom dev` — then drives
//! Encrypt, Decrypt and GenerateDataKey at a few concurrency levels, every request freshly
//! SigV4-signed, and prints requests/s and p50/p99 latency as a markdown table, with each
//! row's requests/s as a percentage of the floor's at the same concurrency.
//!
//! The client runs on a single-threaded tokio runtime (one core's worth of work at most),
//! one HTTP/1.1 keep-alive connection per concurrent worker, so on a 2-core machine the
//! server under test has the other core. Every loop is bounded in time.
//!
//! That is the default suite (`--suite kms`, [`run`]); the other suites live in their own
//! modules, and all of them measure with the one load engine in `suite.rs`.
#![forbid(unsafe_code)]

mod floor;
mod policy;
mod procstat;
mod serve;
mod servers;
mod suite;
mod tls;
mod xks;
mod xks_kms;

use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine as _;
use clap::{Parser, Subcommand, ValueEnum};

use crate::suite::{kms_call, kms_request_maker, Endpoint, FloorColumn, Job, Signer};

#[derive(Parser)]
#[command(
    name = "strongroom-bench",
    version,
    about = "Load generator for Strongroom: SigV4-signed KMS calls next to a bare hyper HTTP floor"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Concurrency levels to run (concurrent workers = keep-alive connections), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    concurrency: Vec<usize>,
    /// Length of each measured window, in seconds.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Warm-up before each measured window (not recorded), in seconds.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Repeat the whole sequence this many times and report, per row, the round with the
    /// median requests/s (rounds are interleaved, so a burst of outside load hits one round).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Plaintext size for Encrypt (and for the ciphertext Decrypt decrypts), in bytes.
    #[arg(long, default_value_t = 1024)]
    plaintext_bytes: usize,
    /// Targets to run, comma-separated. Without `floor` the "% of floor" column is empty.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "floor,encrypt,decrypt,generate-data-key"
    )]
    targets: Vec<TargetKind>,
    /// The `strongroom` binary (default: `strongroom` next to this executable).
    #[arg(long)]
    strongroom_bin: Option<PathBuf>,
    /// Which benchmark to run; `kms` (the default) is the one the options above describe.
    #[arg(long, value_enum, default_value = "kms")]
    suite: Suite,
    /// xks-proxy / xks-kms suites: the key managers behind the proxy, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "software,softhsm")]
    xks_backends: Vec<xks::XksBackend>,
    /// xks-proxy / xks-kms suites: PKCS#11 sessions in the proxy's pool (`pool_size`).
    #[arg(long, default_value_t = 8)]
    pkcs11_pool_size: usize,
    /// xks-proxy / xks-kms suites: the proxy's `worker_threads` (default: its own, one per core).
    #[arg(long)]
    proxy_worker_threads: Option<usize>,
    /// xks-proxy suite: do not run `wrk` even if it is installed.
    #[arg(long)]
    no_wrk: bool,
}

/// The benchmark suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Suite {
    /// Encrypt/Decrypt/GenerateDataKey on `strongroom dev` beside the HTTP floor.
    Kms,
    /// The XKS proxy over HTTPS: software keystore and SoftHSMv2, beside HTTP/HTTPS floors.
    XksProxy,
    /// KMS keys in external key stores beside AWS_KMS keys (`strongroom serve` + proxy).
    XksKms,
    /// Encrypt under the default key policy vs a realistic key + identity policy.
    Policy,
}

#[derive(Subcommand)]
enum Command {
    /// Internal: run the HTTP floor server (prints `LISTEN addr`, exits when stdin closes).
    #[command(hide = true)]
    FloorServer,
    /// Internal: run the HTTPS floor server (prints `LISTEN addr`, exits when stdin closes).
    #[command(hide = true)]
    TlsFloorServer {
        #[arg(long)]
        cert: PathBuf,
        #[arg(long)]
        key: PathBuf,
    },
}

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
}

impl TargetKind {
    /// The row's id in the report (the floor column finds the floor row by it).
    fn id(self) -> &'static str {
        match self {
            TargetKind::Floor => "floor",
            TargetKind::Encrypt => "encrypt",
            TargetKind::Decrypt => "decrypt",
            TargetKind::GenerateDataKey => "generate-data-key",
        }
    }

    fn label(self, plaintext_bytes: usize) -> String {
        match self {
            TargetKind::Floor => "HTTP floor (bare hyper)".to_string(),
            TargetKind::Encrypt => format!("Encrypt {}", size_label(plaintext_bytes)),
            TargetKind::Decrypt => format!("Decrypt {}", size_label(plaintext_bytes)),
            TargetKind::GenerateDataKey => "GenerateDataKey AES_256".to_string(),
        }
    }
}

fn size_label(n: usize) -> String {
    if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} B")
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::FloorServer) => return floor::run_server(),
        Some(Command::TlsFloorServer { cert, key }) => return tls::run_server(cert, key),
        None => {}
    }
    let outcome = match cli.suite {
        Suite::Kms => run(&cli),
        Suite::XksProxy => xks::run(&cli),
        Suite::XksKms => xks_kms::run(&cli),
        Suite::Policy => policy::run(&cli),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("strongroom-bench: some runs had errors (flagged in the table)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("strongroom-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--suite kms`; `Ok(false)` when some run saw errors.
fn run(cli: &Cli) -> Result<bool, String> {
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
    let signer = Signer {
        access_key_id: kms.access_key_id.clone(),
        secret: kms.secret.clone(),
        region: kms.region.clone(),
        service: "kms",
    };
    let kms_ep = Endpoint::http(kms.addr);
    let floor_ep = Endpoint::http(floor.addr);

    let plaintext: Vec<u8> = (0..cli.plaintext_bytes)
        .map(|i| (i % 251) as u8) // arbitrary, not compressible to nothing
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD;
    let job = |kind: TargetKind, endpoint: &Endpoint, pid: u32, op: &str, body| Job {
        id: kind.id().to_string(),
        label: kind.label(cli.plaintext_bytes),
        make: kms_request_maker(endpoint, &signer, op, &body),
        endpoint: endpoint.clone(),
        server_pids: vec![pid],
        baseline: None,
    };

    let rows = rt.block_on(async {
        // Setup on the real server: one key, one ciphertext; each job's request is checked
        // once, by the same request maker the workers use.
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
        let encrypt_body =
            serde_json::json!({"KeyId": key_id, "Plaintext": b64.encode(&plaintext)});
        let encrypt = job(
            TargetKind::Encrypt,
            &kms_ep,
            kms.pid(),
            "Encrypt",
            encrypt_body.clone(),
        );
        let out = suite::call_job(&encrypt).await?;
        let blob = out["CiphertextBlob"]
            .as_str()
            .ok_or("Encrypt answered without a CiphertextBlob")?;
        let decrypt = job(
            TargetKind::Decrypt,
            &kms_ep,
            kms.pid(),
            "Decrypt",
            serde_json::json!({ "CiphertextBlob": blob }),
        );
        let out = suite::call_job(&decrypt).await?;
        if out["Plaintext"].as_str() != Some(b64.encode(&plaintext).as_str()) {
            return Err("Decrypt did not return the plaintext that was encrypted".to_string());
        }
        let gdk = job(
            TargetKind::GenerateDataKey,
            &kms_ep,
            kms.pid(),
            "GenerateDataKey",
            serde_json::json!({"KeyId": key_id, "KeySpec": "AES_256"}),
        );
        let out = suite::call_job(&gdk).await?;
        if out["Plaintext"].as_str().map(str::len) != Some(44) {
            return Err("GenerateDataKey did not return a 32-byte plaintext key".to_string());
        }
        // The floor is sent the same signed Encrypt (it does not look at the signature).
        let floor_job = job(
            TargetKind::Floor,
            &floor_ep,
            floor.pid(),
            "Encrypt",
            encrypt_body,
        );
        suite::call_job(&floor_job).await?;

        let all = [floor_job, encrypt, decrypt, gdk];
        let jobs: Vec<Job> = cli
            .targets
            .iter()
            .filter_map(|&kind| all.iter().find(|j| j.id == kind.id()).cloned())
            .collect();
        Ok::<_, String>(suite::run_jobs(cli, "kms", &jobs).await)
    })?;

    drop(kms);
    drop(floor);

    let notes = vec![format!(
        "Servers: `strongroom dev` (fresh data directory) and the HTTP floor \
         (`strongroom-bench floor-server`), sent the same signed Encrypt; {} plaintext",
        size_label(cli.plaintext_bytes)
    )];
    suite::print_header(
        cli,
        "KMS operations (`--suite kms`)",
        load_before.as_deref(),
        &notes,
    );
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
    Ok(rows.iter().all(|r| r.errors == 0))
}

/// The command as invoked, shell-quoted where needed.
fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=,:+@".contains(c))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
