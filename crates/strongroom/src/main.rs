//! `strongroom`: the KMS server (`serve`), its first-run setup (`init`) and a one-command
//! development instance (`dev`).
#![forbid(unsafe_code)]

/// A thread-caching allocator: request buffers are allocated on one tokio worker and freed on
/// another, which serialises on glibc malloc's arena locks (about 8% of the server's CPU).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin;
mod audit_trail;
mod dev_proxy;
mod root_key;
mod server;
mod setup;

use strongroom::{config, seed, tls};

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "strongroom",
    version,
    about = "A self-hosted key management service that speaks the AWS KMS API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the KMS from a configuration file.
    Serve {
        /// The configuration file (TOML), as `strongroom init` writes it.
        #[arg(long)]
        config: PathBuf,
    },
    /// Create a configuration, a data directory and a root key file (mode 0600) in DIR.
    Init {
        /// Directory to create them in.
        #[arg(long, default_value = "strongroom")]
        dir: PathBuf,
        /// Address the KMS will listen on.
        #[arg(long, default_value = "127.0.0.1:4599")]
        listen: String,
        /// AWS region the KMS answers for.
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// Where the root key lives: a new `root.key` file, or an AES key in a PKCS#11 token
        /// (created there when absent).
        #[arg(long = "root-key", value_enum, default_value_t)]
        root_key: root_key::RootKeyKind,
        #[command(flatten)]
        pkcs11: root_key::Pkcs11Args,
    },
    /// The audit trail: check its files.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Create root keys, and move a deployment from one root key to another.
    RootKey(root_key::RootKeyArgs),
    /// The external key store proxy (AWS XKS Proxy API v1): serve it, administer its keys.
    XksProxy(xks_proxy::XksProxyArgs),
    /// Run a development KMS on 127.0.0.1 with an embedded store and print the `export` lines to use it.
    Dev {
        /// Port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 4599)]
        port: u16,
        /// Keep the data (and credentials) in this directory instead of a fresh temporary one.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Create no demo external key store, leaving the proxy's URI free for your own
        /// CreateCustomKeyStore.
        #[arg(long)]
        no_demo_store: bool,
        /// For tests: run the KMS's clock ahead of the system's by the number of milliseconds
        /// in this file (read at every use; missing or empty is 0), to cross deletion and
        /// rotation dates without waiting.
        #[arg(long)]
        clock_offset_file: Option<PathBuf>,
        /// How often the rotator, the change feed follower and the deletion sweep run, in
        /// milliseconds.
        #[arg(long, default_value_t = 1000)]
        job_interval_ms: u64,
        /// Keep the records in this PostgreSQL database (postgresql://user@host:port/db)
        /// instead of SQLite in the data directory.
        #[arg(long)]
        postgres: Option<String>,
        /// The schema for the records in that database (created if missing).
        #[arg(long, requires = "postgres")]
        postgres_schema: Option<String>,
        /// Run this many nodes on the database, each its own listener and connections (the
        /// first at --port); prints STRONGROOM_NODE_ENDPOINTS.
        #[arg(long, default_value_t = 1, requires = "postgres")]
        nodes: usize,
        /// Every request first reads the database's change feed, so that every node answers
        /// at once as one would after a change through another (a round trip per request).
        #[arg(long, requires = "postgres")]
        strict_consistency: bool,
        /// Serve HTTPS with a certificate of a throwaway CA; prints AWS_CA_BUNDLE (its
        /// certificate) so the AWS CLI and SDKs verify the connection.
        #[arg(long)]
        tls: bool,
        /// Create the keys of this seed file (TOML, see docs) at start when absent: given key
        /// ids, specs, policies, tags, aliases and key material, so a fixture's ciphertexts
        /// decrypt on every machine.
        #[arg(long)]
        seed: Option<PathBuf>,
        /// Cryptographic requests per second each external key store accepts (default: AWS's
        /// quota, 1800); raise it to measure XKS keys without the quota throttling them.
        #[arg(long)]
        xks_requests_per_second: Option<u32>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check audit files: every record before a file's last signed digest unchanged, in order,
    /// none added or removed; closed files complete; no file missing in the sequence.
    Verify {
        /// A trusted copy of the signing key's public key (PEM); several for logs signed by
        /// several keys. Default: audit-signing-key.pub beside the first file.
        #[arg(long = "public-key")]
        public_key: Vec<PathBuf>,
        /// The audit files (audit-*.jsonl), in any order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init {
            dir,
            listen,
            region,
            root_key,
            pkcs11,
        } => setup::init(&dir, &listen, &region, root_key, &pkcs11).map(|created| {
            println!("Created {}", created.config_path.display());
            println!(
                "Run it with: strongroom serve --config {}",
                created.config_path.display()
            );
            created.print_exports(None);
        }),
        Command::Serve { config } => runtime().and_then(|rt| rt.block_on(setup::serve(&config))),
        Command::Audit(AuditCommand::Verify { public_key, files }) => {
            audit_trail::verify_command(&public_key, &files)
        }
        Command::XksProxy(args) => xks_proxy::run_cli(args),
        Command::RootKey(args) => runtime().and_then(|rt| rt.block_on(root_key::run(args))),
        Command::Dev {
            port,
            data_dir,
            no_demo_store,
            clock_offset_file,
            job_interval_ms,
            postgres,
            postgres_schema,
            nodes,
            strict_consistency,
            tls,
            seed,
            xks_requests_per_second,
        } => runtime().and_then(|rt| {
            rt.block_on(setup::dev(setup::DevOptions {
                port,
                data_dir,
                demo_store: !no_demo_store,
                clock_offset_file,
                job_interval: std::time::Duration::from_millis(job_interval_ms.max(10)),
                postgres,
                postgres_schema,
                nodes: nodes.clamp(1, 16),
                strict_consistency,
                tls,
                seed,
                xks_requests_per_second,
            }))
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strongroom: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}
