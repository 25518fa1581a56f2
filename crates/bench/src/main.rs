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
#![forbid(unsafe_code)]

mod floor;
mod load;
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
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use clap::{Parser, Subcommand, ValueEnum};

use crate::load::{Creds, RunResult, Schedule, Target};

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

/// Runs the benchmark; `Ok(false)` when some run saw errors.
fn run(cli: &Cli) -> Result<bool, String> {
    if !(1..=100).contains(&cli.rounds) {
        return Err("--rounds must be in [1, 100]".to_string());
    }
    if cli.concurrency.is_empty() || cli.concurrency.contains(&0) {
        return Err("--concurrency needs levels of at least 1".to_string());
    }
    if !(0.001..=3600.0).contains(&cli.seconds) || !(0.0..=600.0).contains(&cli.warmup) {
        return Err("--seconds must be in [0.001, 3600] and --warmup in [0, 600]".to_string());
    }
    let load_before = procstat::load_average();
    let exe = std::env::current_exe().map_err(|e| format!("cannot find my own path: {e}"))?;
    let strongroom_bin = match &cli.strongroom_bin {
        Some(p) => p.clone(),
        None => exe
            .parent()
            .map(|d| d.join("strongroom"))
            .ok_or("cannot find my own directory")?,
    };

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
    let creds = Arc::new(Creds {
        access_key_id: kms.access_key_id.clone(),
        secret: kms.secret.clone(),
        region: kms.region.clone(),
    });

    let plaintext: Vec<u8> = (0..cli.plaintext_bytes)
        .map(|i| (i % 251) as u8) // arbitrary, not compressible to nothing
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD;

    let results = rt.block_on(async {
        // Setup on the real server: one key, one ciphertext; check each operation once.
        let key_id = load::create_key(kms.addr, &creds).await?;
        let encrypt_body =
            serde_json::json!({"KeyId": key_id, "Plaintext": b64.encode(&plaintext)}).to_string();
        let out = load::call_ok(kms.addr, &creds, "TrentService.Encrypt", &encrypt_body).await?;
        let blob = out["CiphertextBlob"]
            .as_str()
            .ok_or("Encrypt answered without a CiphertextBlob")?
            .to_string();
        let decrypt_body = serde_json::json!({"CiphertextBlob": blob}).to_string();
        let out = load::call_ok(kms.addr, &creds, "TrentService.Decrypt", &decrypt_body).await?;
        if out["Plaintext"].as_str() != Some(b64.encode(&plaintext).as_str()) {
            return Err("Decrypt did not return the plaintext that was encrypted".to_string());
        }
        let gdk_body = serde_json::json!({"KeyId": key_id, "KeySpec": "AES_256"}).to_string();
        let out =
            load::call_ok(kms.addr, &creds, "TrentService.GenerateDataKey", &gdk_body).await?;
        if out["Plaintext"].as_str().map(str::len) != Some(44) {
            return Err("GenerateDataKey did not return a 32-byte plaintext key".to_string());
        }
        // The floor must answer too (and does not look at the signature).
        load::call_ok(floor.addr, &creds, "TrentService.Encrypt", &encrypt_body).await?;

        let mut results: Vec<RunResult> = Vec::new();
        // Concurrency outermost, so each KMS row is measured right after its floor row.
        for round in 1..=cli.rounds {
            for &concurrency in &cli.concurrency {
                for &kind in &cli.targets {
                    let (addr, pid, x_amz_target, body) = match kind {
                        TargetKind::Floor => (
                            floor.addr,
                            floor.pid(),
                            "TrentService.Encrypt",
                            &encrypt_body,
                        ),
                        TargetKind::Encrypt => {
                            (kms.addr, kms.pid(), "TrentService.Encrypt", &encrypt_body)
                        }
                        TargetKind::Decrypt => {
                            (kms.addr, kms.pid(), "TrentService.Decrypt", &decrypt_body)
                        }
                        TargetKind::GenerateDataKey => (
                            kms.addr,
                            kms.pid(),
                            "TrentService.GenerateDataKey",
                            &gdk_body,
                        ),
                    };
                    let target = Arc::new(Target::new(
                        addr,
                        Arc::clone(&creds),
                        x_amz_target,
                        Bytes::from(body.clone()),
                    ));
                    let schedule = Schedule::starting_now(
                        Duration::from_secs_f64(cli.warmup),
                        Duration::from_secs_f64(cli.seconds),
                    );
                    let label = kind.label(cli.plaintext_bytes);
                    eprint!("round {round}/{}: {label} @ {concurrency} ... ", cli.rounds);
                    let r = load::run(kind, label, target, concurrency, schedule, pid).await;
                    eprintln!(
                        "{:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, {} errors",
                        r.rps,
                        r.p50_us as f64 / 1000.0,
                        r.p99_us as f64 / 1000.0,
                        r.errors
                    );
                    results.push(r);
                }
            }
        }
        Ok::<_, String>(results)
    })?;

    drop(kms);
    drop(floor);

    let rows = median_rounds(results);
    print_report(cli, &rows, load_before.as_deref());
    Ok(rows.iter().all(|r| r.row.errors == 0))
}

/// One table row: the median round of one (target, concurrency), with the spread.
struct Row {
    row: RunResult,
    min_rps: f64,
    max_rps: f64,
}

/// Groups the runs by (target, concurrency), in first-seen order, and keeps for each the run
/// with the median requests/s (the lower middle one for an even count), summing errors.
fn median_rounds(results: Vec<RunResult>) -> Vec<Row> {
    let mut groups: Vec<Vec<RunResult>> = Vec::new();
    for r in results {
        match groups
            .iter_mut()
            .find(|g| g[0].kind == r.kind && g[0].concurrency == r.concurrency)
        {
            Some(g) => g.push(r),
            None => groups.push(vec![r]),
        }
    }
    groups
        .into_iter()
        .map(|mut g| {
            g.sort_by(|a, b| a.rps.total_cmp(&b.rps));
            let errors: u64 = g.iter().map(|r| r.errors).sum();
            let first_error = g.iter().find_map(|r| r.first_error.clone());
            let min_rps = g.first().map_or(0.0, |r| r.rps);
            let max_rps = g.last().map_or(0.0, |r| r.rps);
            let mut row = g.swap_remove((g.len() - 1) / 2);
            row.errors = errors;
            row.first_error = first_error;
            Row {
                row,
                min_rps,
                max_rps,
            }
        })
        .collect()
}

fn print_report(cli: &Cli, rows: &[Row], load_before: Option<&str>) {
    let cpu = procstat::cpu_model().unwrap_or_else(|| "unknown".to_string());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("## strongroom-bench results");
    println!();
    println!("- Machine: {nproc} CPUs (`nproc`), {cpu}");
    if let Some(k) = procstat::kernel() {
        println!("- Kernel: Linux {k}");
    }
    println!("- Command: `{}`", command_line());
    if let Some(l) = load_before {
        println!("- Load average (1 min) before the run: {l}");
    }
    println!(
        "- Each window: {} s warm-up, then {} s measured; every request freshly SigV4-signed; \
         one HTTP/1.1 keep-alive connection per concurrent worker; client on one thread",
        cli.warmup, cli.seconds
    );
    if cli.rounds > 1 {
        println!(
            "- {} interleaved rounds; each row is the round with the median req/s \
             (its latencies and CPU figures), errors summed over all rounds",
            cli.rounds
        );
    }
    println!();
    let spread = cli.rounds > 1;
    println!(
        "| target | concurrency | req/s | p50 ms | p99 ms | % of floor req/s | errors | client CPU | server CPU | other CPU | client CPU µs/req | server CPU µs/req | % of floor, CPU-bound estimate |{}",
        if spread { " req/s min–max |" } else { "" }
    );
    println!(
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|{}",
        if spread { "---:|" } else { "" }
    );
    for row in rows {
        let r = &row.row;
        let floor = rows
            .iter()
            .map(|f| &f.row)
            .find(|f| f.kind == TargetKind::Floor && f.concurrency == r.concurrency);
        let pct = match floor {
            Some(f) if f.rps > 0.0 => format!("{:.0}%", 100.0 * r.rps / f.rps),
            _ => "–".to_string(),
        };
        // If client and server together kept every core busy, req/s would be
        // cores / (client + server CPU per request): the ratio to the floor's is then
        // independent of how much of the machine other processes took.
        let est = match floor {
            Some(f) => {
                let ratio = (f.client_cpu_us_per_req + f.server_cpu_us_per_req)
                    / (r.client_cpu_us_per_req + r.server_cpu_us_per_req);
                if ratio.is_finite() {
                    format!("{:.0}%", 100.0 * ratio)
                } else {
                    "–".to_string()
                }
            }
            None => "–".to_string(),
        };
        let errors = if r.errors == 0 {
            "0".to_string()
        } else {
            format!("**{} ⚠**", r.errors)
        };
        println!(
            "| {} | {} | {:.0} | {:.3} | {:.3} | {} | {} | {:.0}% | {:.0}% | {:.0}% | {:.1} | {:.1} | {} |{}",
            r.label,
            r.concurrency,
            r.rps,
            r.p50_us as f64 / 1000.0,
            r.p99_us as f64 / 1000.0,
            pct,
            errors,
            r.client_cpu_pct,
            r.server_cpu_pct,
            r.other_cpu_pct,
            r.client_cpu_us_per_req,
            r.server_cpu_us_per_req,
            est,
            if spread {
                format!(" {:.0}–{:.0} |", row.min_rps, row.max_rps)
            } else {
                String::new()
            },
        );
    }
    let flagged: Vec<&RunResult> = rows
        .iter()
        .map(|r| &r.row)
        .filter(|r| r.errors > 0)
        .collect();
    if !flagged.is_empty() {
        println!();
        println!("Runs with errors (their figures are not valid):");
        for r in flagged {
            println!(
                "- {} @ {}: {} errors, first: {}",
                r.label,
                r.concurrency,
                r.errors,
                r.first_error.as_deref().unwrap_or("?")
            );
        }
    }
    println!();
    println!(
        "CPU columns: share of one core over the measured window (the machine has {}%); \
         other CPU = everything else busy on the machine meanwhile (from /proc/stat) — if it \
         is high, other processes took cores from the run and its req/s are low; CPU µs/req = \
         process CPU time / requests answered; the CPU-bound estimate is \
         (client + server µs/req of the floor) / (client + server µs/req of the row), the \
         req/s ratio if client and server together saturated the cores.",
        100 * nproc.max(1)
    );
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
