//! `strongroom-bench`: a load generator for Strongroom.
//!
//! It starts two servers on 127.0.0.1 — a bare hyper server that only reads the body and
//! answers a fixed JSON (the HTTP floor), and the real `strongroom dev` — then drives
//! Encrypt, Decrypt and GenerateDataKey at a few concurrency levels and prints requests/s,
//! p50/p99 latency and CPU per request as markdown tables, with each row's requests/s
//! relative to the floor's at the same concurrency. Two load clients: `wrk -t1` replaying one
//! pre-signed request (`wrk.rs`, where wrk is installed) and our own, which signs every
//! request afresh (`suite.rs`: a single-threaded tokio runtime, one HTTP/1.1 keep-alive
//! connection per concurrent worker). Every loop is bounded in time.
//!
//! That is the default suite (`--suite kms`, `kms.rs`); the other suites live in their own
//! modules; all use the own client, and `--suite xks-proxy` wrk too.
#![forbid(unsafe_code)]

mod floor;
mod kms;
mod perf;
mod policy;
mod postgres;
mod procstat;
mod serve;
mod servers;
mod suite;
mod tls;
mod wrk;
mod xks;
mod xks_kms;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::kms::TargetKind;

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
    /// postgres suite: the database (postgresql://user@host:port/db); the suite works in a
    /// fresh schema of it.
    #[arg(long)]
    postgres: Option<String>,
    /// kms and xks-proxy suites: do not run `wrk` even if it is installed.
    #[arg(long)]
    no_wrk: bool,
    /// kms suite: after the wrk rounds, record a `perf record -e cpu-clock -g` profile of the
    /// server during one more wrk run of this target, into `perf-<target>-c<N>.data` in the
    /// current directory, and print its top shared objects and symbols.
    #[arg(long)]
    perf_target: Option<TargetKind>,
    /// kms suite: wrk's connections for the `--perf-target` run.
    #[arg(long, default_value_t = 8)]
    perf_connections: usize,
    /// kms suite: perf's `--call-graph` mode for the profile (`fp`, or `dwarf` for callers in
    /// code built without frame pointers; larger files).
    #[arg(long, default_value = "fp")]
    perf_call_graph: String,
    /// kms suite: also measure every KMS target on a second `strongroom dev` started from this
    /// binary (an earlier build, say), in the same rounds, as rows marked "baseline".
    #[arg(long)]
    baseline_bin: Option<PathBuf>,
    /// kms suite: only the wrk table (skip the own client's).
    #[arg(long)]
    wrk_only: bool,
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
    /// Encrypt, CreateKey and TagResource on a PostgreSQL-backed node beside a SQLite-backed
    /// one (wrk; needs --postgres).
    Postgres,
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
        Suite::Kms => kms::run(&cli),
        Suite::XksProxy => xks::run(&cli),
        Suite::XksKms => xks_kms::run(&cli),
        Suite::Policy => policy::run(&cli),
        Suite::Postgres => postgres::run(&cli),
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
