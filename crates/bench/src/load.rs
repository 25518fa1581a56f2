//! The load generator: signed requests over keep-alive connections, one per worker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::procstat;
use crate::TargetKind;

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The credentials `strongroom dev` printed.
pub struct Creds {
    pub access_key_id: String,
    pub secret: String,
    pub region: String,
}

/// One kind of request to one server.
pub struct Target {
    addr: SocketAddr,
    host: String,
    creds: Arc<Creds>,
    x_amz_target: &'static str,
    body: Bytes,
    signed_headers: Vec<String>,
}

impl Target {
    pub fn new(
        addr: SocketAddr,
        creds: Arc<Creds>,
        x_amz_target: &'static str,
        body: Bytes,
    ) -> Self {
        Target {
            addr,
            host: addr.to_string(),
            creds,
            x_amz_target,
            body,
            signed_headers: ["content-type", "host", "x-amz-date", "x-amz-target"]
                .map(String::from)
                .to_vec(),
        }
    }

    /// A freshly signed request, as an SDK would build it: current date, payload hash,
    /// canonical request, signing-key derivation and signature, all per request.
    fn signed_request(&self) -> Result<Request<Full<Bytes>>, String> {
        let amz_date = sigv4::format_amz_date(time::OffsetDateTime::now_utc());
        let headers = [
            ("content-type", CONTENT_TYPE),
            ("host", self.host.as_str()),
            ("x-amz-date", amz_date.as_str()),
            ("x-amz-target", self.x_amz_target),
        ];
        let request = sigv4::Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: &self.body,
        };
        let payload_hash = sigv4::sha256_hex(&self.body);
        let authorization = sigv4::sign(
            &self.creds.secret,
            &self.creds.access_key_id,
            &self.creds.region,
            "kms",
            &amz_date,
            &request,
            &self.signed_headers,
            &payload_hash,
        )
        .map_err(|e| format!("signing failed: {e}"))?;
        Request::builder()
            .method(Method::POST)
            .uri("/")
            .header(hyper::header::HOST, self.host.as_str())
            .header(hyper::header::CONTENT_TYPE, CONTENT_TYPE)
            .header("x-amz-date", amz_date)
            .header("x-amz-target", self.x_amz_target)
            .header(hyper::header::AUTHORIZATION, authorization)
            .body(Full::new(self.body.clone()))
            .map_err(|e| format!("cannot build the request: {e}"))
    }
}

/// When a run's warm-up ends and when it stops issuing requests.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    measure_start: Instant,
    end: Instant,
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

/// The figures of one (target, concurrency) run.
pub struct RunResult {
    pub kind: TargetKind,
    pub label: String,
    pub concurrency: usize,
    pub rps: f64,
    pub p50_us: u32,
    pub p99_us: u32,
    pub errors: u64,
    pub first_error: Option<String>,
    pub client_cpu_pct: f64,
    pub server_cpu_pct: f64,
    pub other_cpu_pct: f64,
    pub client_cpu_us_per_req: f64,
    pub server_cpu_us_per_req: f64,
}

#[derive(Default)]
struct WorkerResult {
    /// Round-trip times in µs of the 200 answers to requests started in the measured window.
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

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {addr} failed: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one request and reads the whole answer.
async fn exchange(
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

fn describe(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text: String = text.chars().take(300).collect();
    format!("HTTP {status}: {text}")
}

/// One worker: one connection, one request in flight, until the schedule ends.
async fn worker(target: Arc<Target>, schedule: Schedule) -> WorkerResult {
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
            None => match connect(target.addr).await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    out.error(e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let req = match target.signed_request() {
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
fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Runs `concurrency` workers against `target` for `schedule`, measuring the client's and
/// the server process's CPU over the measured window.
pub async fn run(
    kind: TargetKind,
    label: String,
    target: Arc<Target>,
    concurrency: usize,
    schedule: Schedule,
    server_pid: u32,
) -> RunResult {
    let client_pid = std::process::id();
    let handles: Vec<_> = (0..concurrency)
        .map(|_| tokio::spawn(worker(Arc::clone(&target), schedule)))
        .collect();

    tokio::time::sleep_until(schedule.measure_start.into()).await;
    let t0 = Instant::now();
    let client0 = procstat::cpu_seconds(client_pid);
    let server0 = procstat::cpu_seconds(server_pid);
    let machine0 = procstat::machine_busy_seconds();
    tokio::time::sleep_until(schedule.end.into()).await;
    let t1 = Instant::now();
    let client1 = procstat::cpu_seconds(client_pid);
    let server1 = procstat::cpu_seconds(server_pid);
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
    // Whatever else ran on the machine meanwhile (other processes compete for the cores).
    let other_cpu_pct = (pct(machine0, machine1) - server_cpu_pct - client_cpu_pct).max(0.0);
    let per_req = |pct: f64| {
        if rps > 0.0 {
            pct / 100.0 / rps * 1e6
        } else {
            f64::NAN
        }
    };
    RunResult {
        kind,
        label,
        concurrency,
        rps,
        p50_us: percentile(&latencies, 50.0),
        p99_us: percentile(&latencies, 99.0),
        errors,
        first_error,
        client_cpu_pct,
        server_cpu_pct,
        other_cpu_pct,
        client_cpu_us_per_req: per_req(client_cpu_pct),
        server_cpu_us_per_req: per_req(server_cpu_pct),
    }
}

/// One signed call on a fresh connection; the answer must be 200 with a JSON body.
pub async fn call_ok(
    addr: SocketAddr,
    creds: &Arc<Creds>,
    x_amz_target: &'static str,
    body: &str,
) -> Result<serde_json::Value, String> {
    let target = Target::new(
        addr,
        Arc::clone(creds),
        x_amz_target,
        Bytes::from(body.to_string()),
    );
    let mut sender = connect(addr).await?;
    let (status, answer) = exchange(&mut sender, target.signed_request()?).await?;
    if status != StatusCode::OK {
        return Err(format!(
            "{x_amz_target} on {addr}: {}",
            describe(status, &answer)
        ));
    }
    serde_json::from_slice(&answer)
        .map_err(|e| format!("{x_amz_target} on {addr}: the answer is not JSON: {e}"))
}

/// Creates the symmetric key the benchmark uses and returns its id.
pub async fn create_key(addr: SocketAddr, creds: &Arc<Creds>) -> Result<String, String> {
    let out = call_ok(
        addr,
        creds,
        "TrentService.CreateKey",
        r#"{"Description":"strongroom-bench"}"#,
    )
    .await?;
    out["KeyMetadata"]["KeyId"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| "CreateKey answered without KeyMetadata.KeyId".to_string())
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
