//! The load engine and report shared by every suite (`kms`, `xks-proxy`, `xks-kms`, `policy`):
//! plain HTTP or HTTPS keep-alive connections sending any request (freshly signed per request
//! by a closure), CPU accounting over several server processes, median-of-rounds, and the
//! markdown report.
//!
//! The measuring rules: one HTTP/1.1 keep-alive connection per concurrent worker, one request
//! in flight per worker, a warm-up that is not recorded, latency = the HTTP round trip of a 200
//! answer to a request started inside the measured window, requests/s = those answers / (last
//! answer − window start).

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::procstat;
use crate::Cli;

/// How long a server process may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Child processes

/// A child process killed (and reaped) on drop.
pub struct ChildGuard {
    child: Child,
    what: String,
    // Held so a child that watches stdin sees end of file only when we are gone.
    _stdin: Option<ChildStdin>,
}

impl ChildGuard {
    /// Wraps a spawned child.
    pub fn new(mut child: Child, what: impl Into<String>) -> ChildGuard {
        let stdin = child.stdin.take();
        ChildGuard {
            child,
            what: what.into(),
            _stdin: stdin,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if the child has exited.
    pub fn check_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("{} exited ({status})", self.what)),
            Err(e) => Err(format!("{}: {e}", self.what)),
        }
    }

    /// Reads stdout lines (on a thread that keeps draining it) until `done` is satisfied.
    pub fn read_stdout_until(&mut self, mut done: impl FnMut(&str) -> bool) -> Result<(), String> {
        let stdout = self
            .child
            .stdout
            .take()
            .ok_or_else(|| format!("{}: no stdout", self.what))?;
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if done(&line) => return Ok(()),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("{} not ready within {READY_TIMEOUT:?}", self.what))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = self.check_running();
                    return Err(format!(
                        "{} closed its stdout before it was ready",
                        self.what
                    ));
                }
            }
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 (bound, read, released: a server told to listen on it next
/// almost always gets it).
pub fn free_port() -> Result<u16, String> {
    let l = StdTcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot bind: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot read the port: {e}"))
}

/// Waits until something accepts TCP connections on `addr` (the process must stay alive).
pub fn wait_for_port(addr: SocketAddr, child: &mut ChildGuard, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Err(e) = child.check_running() {
            return Err(format!("{e}; its log ends with:\n{}", log_tail(log)));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "nothing listens on {addr} after {READY_TIMEOUT:?}; log:\n{}",
                log_tail(log)
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last lines of a log file.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Runs a command to completion; its output on failure.
pub fn run_command(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `n` random bytes from the kernel.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(buf)
}

/// A random string of `len` characters of `alphabet` (whose size divides 256).
pub fn random_string(alphabet: &[u8], len: usize) -> Result<String, String> {
    Ok(random_bytes(len)?
        .iter()
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect())
}

/// Writes a file with mode 0600.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The checks the default suite makes on the shared options.
pub fn validate(cli: &Cli) -> Result<(), String> {
    if !(1..=100).contains(&cli.rounds) {
        return Err("--rounds must be in [1, 100]".to_string());
    }
    if cli.concurrency.is_empty() || cli.concurrency.contains(&0) {
        return Err("--concurrency needs levels of at least 1".to_string());
    }
    if !(0.001..=3600.0).contains(&cli.seconds) || !(0.0..=600.0).contains(&cli.warmup) {
        return Err("--seconds must be in [0.001, 3600] and --warmup in [0, 600]".to_string());
    }
    Ok(())
}

/// The `strongroom` binary: `--strongroom-bin`, else next to this executable.
pub fn strongroom_bin(cli: &Cli) -> Result<PathBuf, String> {
    match &cli.strongroom_bin {
        Some(p) => Ok(p.clone()),
        None => std::env::current_exe()
            .map_err(|e| format!("cannot find my own path: {e}"))?
            .parent()
            .map(|d| d.join("strongroom"))
            .ok_or_else(|| "cannot find my own directory".to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Signing

/// SigV4 credentials and scope of one client.
#[derive(Clone)]
pub struct Signer {
    pub access_key_id: String,
    pub secret: String,
    pub region: String,
    pub service: &'static str,
}

/// The parts of a POST that are signed.
pub struct Post<'a> {
    pub host: &'a str,
    pub path: &'a str,
    pub content_type: &'a str,
    /// `X-Amz-Target` (AWS JSON services); `None` for the XKS Proxy API.
    pub x_amz_target: Option<&'a str>,
    pub body: &'a Bytes,
}

impl Signer {
    /// The request headers, signed now (`x-amz-date` is the current time), sorted by name:
    /// content-type, host, x-amz-date, [x-amz-target], then authorization.
    pub fn headers(&self, post: &Post<'_>) -> Result<Vec<(&'static str, String)>, String> {
        let amz_date = sigv4::format_amz_date(time::OffsetDateTime::now_utc());
        let mut headers: Vec<(&'static str, &str)> = vec![
            ("content-type", post.content_type),
            ("host", post.host),
            ("x-amz-date", amz_date.as_str()),
        ];
        if let Some(t) = post.x_amz_target {
            headers.push(("x-amz-target", t));
        }
        let signed: Vec<String> = headers.iter().map(|(n, _)| (*n).to_string()).collect();
        let request = sigv4::Request {
            method: "POST",
            path: post.path,
            query: "",
            headers: &headers,
            body: post.body,
        };
        let authorization = sigv4::sign(
            &self.secret,
            &self.access_key_id,
            &self.region,
            self.service,
            &amz_date,
            &request,
            &signed,
            &sigv4::sha256_hex(post.body),
        )
        .map_err(|e| format!("signing failed: {e}"))?;
        let mut out: Vec<(&'static str, String)> = headers
            .into_iter()
            .map(|(n, v)| (n, v.to_string()))
            .collect();
        out.push(("authorization", authorization));
        Ok(out)
    }

    /// A freshly signed POST, as an SDK (or KMS calling a proxy) builds it: current date,
    /// payload hash, canonical request, signing-key derivation and signature, every time.
    pub fn request(&self, post: &Post<'_>) -> Result<Request<Full<Bytes>>, String> {
        let mut b = Request::builder().method(Method::POST).uri(post.path);
        for (name, value) in self.headers(post)? {
            b = b.header(name, value);
        }
        b.body(Full::new(post.body.clone()))
            .map_err(|e| format!("cannot build the request: {e}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Connections

/// A server to load: its address and, for HTTPS, the client TLS settings.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub tls: Option<TlsClient>,
}

/// Client TLS settings and the name the server's certificate is checked against.
#[derive(Clone)]
pub struct TlsClient {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: ServerName<'static>,
}

impl Endpoint {
    pub fn http(addr: SocketAddr) -> Endpoint {
        Endpoint { addr, tls: None }
    }

    /// The `Host` header value.
    pub fn host(&self) -> String {
        match &self.tls {
            Some(TlsClient {
                server_name: ServerName::DnsName(n),
                ..
            }) => format!("{}:{}", n.as_ref(), self.addr.port()),
            _ => self.addr.to_string(),
        }
    }

    /// A new HTTP/1.1 keep-alive connection (TLS handshake included for HTTPS).
    pub async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let addr = self.addr;
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        tcp.set_nodelay(true)
            .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
        match &self.tls {
            None => {
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                    .await
                    .map_err(|e| format!("HTTP handshake with {addr} failed: {e}"))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(sender)
            }
            Some(t) => {
                let tls = tokio_rustls::TlsConnector::from(Arc::clone(&t.config))
                    .connect(t.server_name.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {addr} failed: {e}"))?;
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                    .await
                    .map_err(|e| format!("HTTP handshake with {addr} failed: {e}"))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(sender)
            }
        }
    }
}

/// Sends one request and reads the whole answer.
pub async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), String> {
    sender
        .ready()
        .await
        .map_err(|e| format!("connection lost: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading the answer failed: {e}"))?
        .to_bytes();
    Ok((status, body))
}

/// `HTTP status: body` (shortened), for error reports.
pub fn describe(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text: String = text.chars().take(300).collect();
    format!("HTTP {status}: {text}")
}

/// One request on a fresh connection; the answer must be 200 with a JSON body.
pub async fn call_json(
    endpoint: &Endpoint,
    req: Request<Full<Bytes>>,
    what: &str,
) -> Result<serde_json::Value, String> {
    let mut sender = endpoint.connect().await?;
    let (status, answer) = exchange(&mut sender, req).await?;
    if status != StatusCode::OK {
        return Err(format!("{what}: {}", describe(status, &answer)));
    }
    serde_json::from_slice(&answer).map_err(|e| format!("{what}: the answer is not JSON: {e}"))
}

/// A signed KMS (AWS JSON 1.1) call on a fresh plain-HTTP connection, answered 200 with JSON.
pub async fn kms_call(
    endpoint: &Endpoint,
    signer: &Signer,
    operation: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let host = endpoint.host();
    let target = format!("TrentService.{operation}");
    let body = Bytes::from(body.to_string());
    let req = signer.request(&Post {
        host: &host,
        path: "/",
        content_type: KMS_CONTENT_TYPE,
        x_amz_target: Some(&target),
        body: &body,
    })?;
    call_json(endpoint, req, operation).await
}

/// The AWS JSON 1.1 content type KMS speaks.
pub const KMS_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// A request factory for a KMS operation: every call signs anew.
pub fn kms_request_maker(
    endpoint: &Endpoint,
    signer: &Signer,
    operation: &str,
    body: &serde_json::Value,
) -> MakeRequest {
    let host = endpoint.host();
    let target = format!("TrentService.{operation}");
    let body = Bytes::from(body.to_string());
    let signer = signer.clone();
    Arc::new(move || {
        signer.request(&Post {
            host: &host,
            path: "/",
            content_type: KMS_CONTENT_TYPE,
            x_amz_target: Some(&target),
            body: &body,
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Load

/// Builds the next request (signing it).
pub type MakeRequest = Arc<dyn Fn() -> Result<Request<Full<Bytes>>, String> + Send + Sync>;

/// One row of a table: what to send where, and whose CPU to count as the server's.
#[derive(Clone)]
pub struct Job {
    /// Stable identifier (floors are found by it; baselines name it).
    pub id: String,
    /// The row's label.
    pub label: String,
    pub endpoint: Endpoint,
    pub make: MakeRequest,
    /// The server processes (their CPU is summed as "server CPU").
    pub server_pids: Vec<u32>,
    /// The id of the row this one is compared with (same concurrency), if any.
    pub baseline: Option<String>,
}

/// When a run's warm-up ends and when it stops issuing requests.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub measure_start: Instant,
    pub end: Instant,
}

impl Schedule {
    pub fn starting_now(warmup: Duration, measured: Duration) -> Self {
        let measure_start = Instant::now() + warmup;
        Schedule {
            measure_start,
            end: measure_start + measured,
        }
    }
}

/// The figures of one (job, concurrency) run.
#[derive(Debug, Clone)]
pub struct Measured {
    pub id: String,
    pub label: String,
    pub baseline: Option<String>,
    pub concurrency: usize,
    pub rps: f64,
    pub p50_us: u32,
    pub p99_us: u32,
    pub errors: u64,
    pub first_error: Option<String>,
    pub client_cpu_pct: f64,
    pub server_cpu_pct: f64,
    pub other_cpu_pct: f64,
    pub server_cpu_us_per_req: f64,
    pub client_cpu_us_per_req: f64,
    /// Server CPU µs per request of each of the job's server processes, in order.
    pub per_server_us: Vec<f64>,
    /// Spread over rounds (filled by [`median_rounds`]).
    pub min_rps: f64,
    pub max_rps: f64,
}

#[derive(Default)]
struct WorkerResult {
    latencies_us: Vec<u32>,
    last_done: Option<Instant>,
    errors: u64,
    first_error: Option<String>,
}

impl WorkerResult {
    fn error(&mut self, message: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(message);
        }
    }
}

async fn worker(endpoint: Endpoint, make: MakeRequest, schedule: Schedule) -> WorkerResult {
    let mut out = WorkerResult {
        latencies_us: Vec::with_capacity(1 << 16),
        ..WorkerResult::default()
    };
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    loop {
        if Instant::now() >= schedule.end {
            break;
        }
        let s = match &mut sender {
            Some(s) => s,
            None => match endpoint.connect().await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    out.error(e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let req = match make() {
            Ok(r) => r,
            Err(e) => {
                out.error(e);
                break;
            }
        };
        // Latency is the HTTP round trip; signing (above) costs client CPU, so it shows in
        // requests/s but not in the latency figures.
        let started = Instant::now();
        let outcome = exchange(s, req).await;
        let done = Instant::now();
        match outcome {
            Ok((StatusCode::OK, _)) => {
                if started >= schedule.measure_start {
                    let us = done.duration_since(started).as_micros();
                    out.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                    out.last_done = Some(done);
                }
            }
            Ok((status, body)) => out.error(describe(status, &body)),
            Err(e) => {
                out.error(e);
                sender = None;
            }
        }
    }
    out
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn cpu_sum(pids: &[u32]) -> Option<f64> {
    pids.iter().map(|p| procstat::cpu_seconds(*p)).sum()
}

/// Runs `concurrency` workers of `job` for `schedule`, measuring the client's and the server
/// processes' CPU over the measured window.
pub async fn measure(job: &Job, concurrency: usize, schedule: Schedule) -> Measured {
    let client_pid = std::process::id();
    let handles: Vec<_> = (0..concurrency)
        .map(|_| {
            tokio::spawn(worker(
                job.endpoint.clone(),
                Arc::clone(&job.make),
                schedule,
            ))
        })
        .collect();

    tokio::time::sleep_until(schedule.measure_start.into()).await;
    let t0 = Instant::now();
    let client0 = procstat::cpu_seconds(client_pid);
    let per0: Vec<Option<f64>> = job
        .server_pids
        .iter()
        .map(|p| procstat::cpu_seconds(*p))
        .collect();
    let server0 = cpu_sum(&job.server_pids);
    let machine0 = procstat::machine_busy_seconds();
    tokio::time::sleep_until(schedule.end.into()).await;
    let t1 = Instant::now();
    let client1 = procstat::cpu_seconds(client_pid);
    let per1: Vec<Option<f64>> = job
        .server_pids
        .iter()
        .map(|p| procstat::cpu_seconds(*p))
        .collect();
    let server1 = cpu_sum(&job.server_pids);
    let machine1 = procstat::machine_busy_seconds();

    let mut latencies: Vec<u32> = Vec::new();
    let mut last_done = schedule.measure_start;
    let mut errors = 0;
    let mut first_error = None;
    for h in handles {
        match h.await {
            Ok(w) => {
                latencies.extend_from_slice(&w.latencies_us);
                if let Some(d) = w.last_done {
                    last_done = last_done.max(d);
                }
                errors += w.errors;
                if first_error.is_none() {
                    first_error = w.first_error;
                }
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| format!("worker failed: {e}"));
            }
        }
    }
    latencies.sort_unstable();
    let elapsed = last_done
        .duration_since(schedule.measure_start)
        .as_secs_f64();
    let rps = if elapsed > 0.0 {
        latencies.len() as f64 / elapsed
    } else {
        0.0
    };
    let window = t1.duration_since(t0).as_secs_f64().max(1e-9);
    let pct = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => 100.0 * (b - a) / window,
        _ => f64::NAN,
    };
    let server_cpu_pct = pct(server0, server1);
    let client_cpu_pct = pct(client0, client1);
    let other_cpu_pct = (pct(machine0, machine1) - server_cpu_pct - client_cpu_pct).max(0.0);
    let us_per_req = |pct: f64| {
        if rps > 0.0 {
            pct / 100.0 / rps * 1e6
        } else {
            f64::NAN
        }
    };
    let server_cpu_us_per_req = us_per_req(server_cpu_pct);
    let client_cpu_us_per_req = us_per_req(client_cpu_pct);
    let per_server_us = per0
        .iter()
        .zip(&per1)
        .map(|(a, b)| us_per_req(pct(*a, *b)))
        .collect();
    Measured {
        id: job.id.clone(),
        label: job.label.clone(),
        baseline: job.baseline.clone(),
        concurrency,
        rps,
        p50_us: percentile(&latencies, 50.0),
        p99_us: percentile(&latencies, 99.0),
        errors,
        first_error,
        client_cpu_pct,
        server_cpu_pct,
        other_cpu_pct,
        server_cpu_us_per_req,
        client_cpu_us_per_req,
        per_server_us,
        min_rps: rps,
        max_rps: rps,
    }
}

/// Sends one of `job`'s requests on a fresh connection; the answer must be 200 with JSON.
pub async fn call_job(job: &Job) -> Result<serde_json::Value, String> {
    let req = (job.make)()?;
    call_json(&job.endpoint, req, &job.label).await
}

/// Checks that every job answers 200 once (setup errors are clearer than a table of errors).
pub async fn check_jobs(jobs: &[Job]) -> Result<(), String> {
    for job in jobs {
        call_job(job).await?;
    }
    Ok(())
}

/// Runs every job at every concurrency, `cli.rounds` times (rounds interleaved; concurrency
/// outermost so each row is measured right after its floor), and keeps the median round of
/// each (job, concurrency).
pub async fn run_jobs(cli: &Cli, title: &str, jobs: &[Job]) -> Vec<Measured> {
    let mut results = Vec::new();
    for round in 1..=cli.rounds {
        for &concurrency in &cli.concurrency {
            for job in jobs {
                let schedule = Schedule::starting_now(
                    Duration::from_secs_f64(cli.warmup),
                    Duration::from_secs_f64(cli.seconds),
                );
                eprint!(
                    "{title} round {round}/{}: {} @ {concurrency} ... ",
                    cli.rounds, job.label
                );
                let r = measure(job, concurrency, schedule).await;
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
    median_rounds(results)
}

/// Groups by (id, concurrency) in first-seen order and keeps the median-req/s round.
pub fn median_rounds(results: Vec<Measured>) -> Vec<Measured> {
    let mut groups: Vec<Vec<Measured>> = Vec::new();
    for r in results {
        match groups
            .iter_mut()
            .find(|g| g[0].id == r.id && g[0].concurrency == r.concurrency)
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
            row.min_rps = min_rps;
            row.max_rps = max_rps;
            row
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Report

/// The lines every suite's report starts with: machine, command, window settings.
pub fn print_header(cli: &Cli, title: &str, load_before: Option<&str>, notes: &[String]) {
    let cpu = procstat::cpu_model().unwrap_or_else(|| "unknown".to_string());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("## strongroom-bench: {title}");
    println!();
    println!("- Machine: {nproc} CPUs (`nproc`), {cpu}");
    if let Some(k) = procstat::kernel() {
        println!("- Kernel: Linux {k}");
    }
    println!("- Command: `{}`", crate::command_line());
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
            "- {} interleaved rounds; each row is the round with the median req/s (its latencies \
             and CPU figures), errors summed over all rounds",
            cli.rounds
        );
    }
    for n in notes {
        println!("- {n}");
    }
    println!();
}

/// A "% of floor" column: header and the floor row's id.
pub struct FloorColumn<'a> {
    pub header: &'a str,
    pub floor_id: &'a str,
    /// When given, the header of a second column against this floor: the CPU-bound estimate
    /// (see [`print_cpu_bound_note`]), placed after the CPU µs/req columns.
    pub cpu_bound_header: Option<&'a str>,
}

/// The CPU-bound estimate of `r` against its floor `f`: (client + server CPU µs/req of the
/// floor) / (the same of the row). If client and server together kept every core busy, req/s
/// would be cores / (their CPU per request), so this ratio does not depend on how much of the
/// machine other processes took.
fn cpu_bound_estimate(r: &Measured, f: Option<&Measured>) -> String {
    let Some(f) = f else {
        return "–".to_string();
    };
    let ratio = (f.client_cpu_us_per_req + f.server_cpu_us_per_req)
        / (r.client_cpu_us_per_req + r.server_cpu_us_per_req);
    if ratio.is_finite() {
        format!("{:.0}%", 100.0 * ratio)
    } else {
        "–".to_string()
    }
}

/// Prints one markdown table of `rows`, with a percentage column per floor (and its CPU-bound
/// estimate where asked), when `baseline_header` is given each row's req/s relative to its
/// baseline row, and when `split_header` is given the server CPU µs/req of each server
/// process (`a + b`).
pub fn print_table(
    cli: &Cli,
    rows: &[Measured],
    floors: &[FloorColumn<'_>],
    baseline_header: Option<&str>,
    split_header: Option<&str>,
) {
    let spread = cli.rounds > 1;
    let mut head = String::from("| target | concurrency | req/s | p50 ms | p99 ms |");
    let mut rule = String::from("|---|---:|---:|---:|---:|");
    for f in floors {
        head.push_str(&format!(" {} |", f.header));
        rule.push_str("---:|");
    }
    if let Some(b) = baseline_header {
        head.push_str(&format!(" {b} |"));
        rule.push_str("---:|");
    }
    head.push_str(
        " errors | client CPU | server CPU | other CPU | client CPU µs/req | server CPU µs/req |",
    );
    rule.push_str("---:|---:|---:|---:|---:|---:|");
    for h in floors.iter().filter_map(|f| f.cpu_bound_header) {
        head.push_str(&format!(" {h} |"));
        rule.push_str("---:|");
    }
    let split = rows.iter().any(|r| r.per_server_us.len() > 1);
    if let (true, Some(h)) = (split, split_header) {
        head.push_str(&format!(" {h} |"));
        rule.push_str("---:|");
    }
    if spread {
        head.push_str(" req/s min–max |");
        rule.push_str("---:|");
    }
    println!("{head}");
    println!("{rule}");
    let find = |id: &str, c: usize| rows.iter().find(|r| r.id == id && r.concurrency == c);
    let ratio = |r: &Measured, other: Option<&Measured>| match other {
        Some(o) if o.rps > 0.0 => format!("{:.0}%", 100.0 * r.rps / o.rps),
        _ => "–".to_string(),
    };
    for r in rows {
        let mut line = format!(
            "| {} | {} | {:.0} | {:.3} | {:.3} |",
            r.label,
            r.concurrency,
            r.rps,
            r.p50_us as f64 / 1000.0,
            r.p99_us as f64 / 1000.0
        );
        for f in floors {
            line.push_str(&format!(" {} |", ratio(r, find(f.floor_id, r.concurrency))));
        }
        if baseline_header.is_some() {
            let b = r.baseline.as_deref().and_then(|id| find(id, r.concurrency));
            line.push_str(&format!(" {} |", ratio(r, b)));
        }
        let errors = if r.errors == 0 {
            "0".to_string()
        } else {
            format!("**{} ⚠**", r.errors)
        };
        line.push_str(&format!(
            " {} | {:.0}% | {:.0}% | {:.0}% | {:.1} | {:.1} |",
            errors,
            r.client_cpu_pct,
            r.server_cpu_pct,
            r.other_cpu_pct,
            r.client_cpu_us_per_req,
            r.server_cpu_us_per_req
        ));
        for f in floors.iter().filter(|f| f.cpu_bound_header.is_some()) {
            let est = cpu_bound_estimate(r, find(f.floor_id, r.concurrency));
            line.push_str(&format!(" {est} |"));
        }
        if split && split_header.is_some() {
            let parts: Vec<String> = r.per_server_us.iter().map(|u| format!("{u:.1}")).collect();
            line.push_str(&format!(" {} |", parts.join(" + ")));
        }
        if spread {
            line.push_str(&format!(" {:.0}–{:.0} |", r.min_rps, r.max_rps));
        }
        println!("{line}");
    }
    let flagged: Vec<&Measured> = rows.iter().filter(|r| r.errors > 0).collect();
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
}

/// The closing note on the CPU columns.
pub fn print_cpu_note(server: &str) {
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "CPU columns: share of one core over the measured window (the machine has {}%); server \
         CPU = {server}; other CPU = everything else busy on the machine meanwhile (from \
         /proc/stat); CPU µs/req = process CPU time / requests answered (less sensitive to \
         outside load than req/s).",
        100 * nproc
    );
    println!();
}

/// The closing note on the CPU-bound estimate column.
pub fn print_cpu_bound_note() {
    println!(
        "CPU-bound estimate: (client + server CPU µs/req of the floor) / (client + server CPU \
         µs/req of the row), the req/s ratio if client and server together saturated the cores \
         (it holds even when other processes took cores from the run)."
    );
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_keeps_the_middle_round_and_sums_errors() {
        let m = |rps: f64, errors: u64| Measured {
            id: "a".into(),
            label: "a".into(),
            baseline: None,
            concurrency: 1,
            rps,
            p50_us: 0,
            p99_us: 0,
            errors,
            first_error: None,
            client_cpu_pct: 0.0,
            server_cpu_pct: 0.0,
            other_cpu_pct: 0.0,
            server_cpu_us_per_req: 0.0,
            client_cpu_us_per_req: 0.0,
            per_server_us: Vec::new(),
            min_rps: rps,
            max_rps: rps,
        };
        let rows = median_rounds(vec![m(3.0, 1), m(1.0, 0), m(2.0, 2)]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].rps, 2.0);
        assert_eq!(rows[0].errors, 3);
        assert_eq!((rows[0].min_rps, rows[0].max_rps), (1.0, 3.0));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn signer_sorts_and_signs() {
        let s = Signer {
            access_key_id: "AKIDEXAMPLE".into(),
            secret: "secret".into(),
            region: "us-east-1".into(),
            service: "kms-xks-proxy",
        };
        let body = Bytes::from_static(b"{}");
        let h = s
            .headers(&Post {
                host: "localhost:1",
                path: "/kms/xks/v1/health",
                content_type: "application/json",
                x_amz_target: None,
                body: &body,
            })
            .unwrap();
        let names: Vec<&str> = h.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["content-type", "host", "x-amz-date", "authorization"]
        );
        assert!(h[3].1.contains("/us-east-1/kms-xks-proxy/aws4_request"));
        assert!(h[3]
            .1
            .contains("SignedHeaders=content-type;host;x-amz-date,"));
    }
}
