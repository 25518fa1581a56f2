//! `wrk` as a second load client, for every suite: one request, SigV4-signed once just before
//! a run, written into a Lua script and replayed by `wrk -t1 -cN` for the whole run (a server
//! accepts the same signature again and again within its 5-minute clock skew). This is how the
//! issues' figures were measured; wrk spends about half our own client's CPU per request, so
//! the server gets more of the machine.
//!
//! A [`WrkTarget`] is what to replay where and whose CPU to count; [`run_rounds`] measures a
//! list of them at each concurrency, rounds interleaved, and [`summarise`] reduces the rounds
//! to medians for [`print_table`].

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, StatusCode};

use crate::procstat;
use crate::suite::{describe, exchange, Endpoint, Post, Signer};
use crate::Cli;

/// The longest wrk run we start: a signature made at its start must still be inside the
/// servers' 5-minute clock skew when the run ends, with a margin.
const MAX_RUN_SECONDS: u64 = 240;
/// wrk's per-request timeout (a slower answer counts as a socket error).
const REQUEST_TIMEOUT: &str = "5s";

/// One request to replay, where, and the server process that answers it.
#[derive(Clone)]
pub struct WrkTarget {
    /// Stable identifier (the floor row is found by it).
    pub id: String,
    pub label: String,
    pub endpoint: Endpoint,
    pub path: String,
    pub content_type: &'static str,
    /// `X-Amz-Target` (AWS JSON services); `None` for the XKS Proxy API.
    pub x_amz_target: Option<String>,
    pub body: Bytes,
    pub signer: Signer,
    /// Its CPU over the run is the row's server CPU.
    pub server_pid: u32,
}

impl WrkTarget {
    /// The `Host` wrk sends and the signature covers: the address in the URL.
    fn host(&self) -> String {
        self.endpoint.addr.to_string()
    }

    fn url(&self) -> String {
        let scheme = if self.endpoint.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}{}", self.host(), self.path)
    }

    /// The request's headers, signed now.
    fn sign(&self) -> Result<Vec<(&'static str, String)>, String> {
        self.signer.headers(&Post {
            host: &self.host(),
            path: &self.path,
            content_type: self.content_type,
            x_amz_target: self.x_amz_target.as_deref(),
            body: &self.body,
        })
    }

    /// Signs one request and sends it twice on one connection, as wrk will replay it: both
    /// answers must be 200 (a setup error is clearer than a table of non-2xx).
    pub async fn check_replay(&self) -> Result<(), String> {
        let headers = self.sign()?;
        let mut sender = self.endpoint.connect().await?;
        for attempt in ["first", "replayed"] {
            let mut b = Request::builder().method(Method::POST).uri(&self.path);
            for (name, value) in &headers {
                b = b.header(*name, value);
            }
            let req = b
                .body(Full::new(self.body.clone()))
                .map_err(|e| format!("cannot build the request: {e}"))?;
            let (status, answer) = exchange(&mut sender, req).await?;
            if status != StatusCode::OK {
                return Err(format!(
                    "{}: the {attempt} pre-signed request: {}",
                    self.label,
                    describe(status, &answer)
                ));
            }
        }
        Ok(())
    }
}

/// The Lua script replaying `target`'s request with `headers` (signed once).
fn script(target: &WrkTarget, headers: &[(&'static str, String)]) -> String {
    let mut s = String::from("wrk.method = \"POST\"\n");
    s.push_str(&format!(
        "wrk.body = {}\n",
        lua_long_string(&String::from_utf8_lossy(&target.body))
    ));
    for (name, value) in headers {
        // wrk adds its own `Host` unless the script sets exactly that key.
        let name: String = name
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("-");
        s.push_str(&format!(
            "wrk.headers[ {} ] = {}\n",
            lua_long_string(&name),
            lua_long_string(value)
        ));
    }
    s
}

/// A Lua long string that does not occur in `s`.
fn lua_long_string(s: &str) -> String {
    let mut eq = String::new();
    while s.contains(&format!("]{eq}]")) {
        eq.push('=');
    }
    format!("[{eq}[{s}]{eq}]")
}

/// Whether wrk runs: `Err` says why not (the report prints it; it is never silent).
pub fn availability(cli: &Cli) -> Result<(), String> {
    if cli.no_wrk {
        return Err("skipped (--no-wrk)".to_string());
    }
    if Command::new("wrk").arg("--version").output().is_err() {
        return Err("not installed (`apt-get install -y wrk`); skipped".to_string());
    }
    if run_seconds(cli) > MAX_RUN_SECONDS {
        return Err(format!(
            "skipped: --seconds above {MAX_RUN_SECONDS} would outlive the replayed signature"
        ));
    }
    Ok(())
}

/// wrk's `-d` (whole seconds) for `--seconds`.
pub fn run_seconds(cli: &Cli) -> u64 {
    cli.seconds.ceil().max(1.0) as u64
}

/// The figures of one wrk run.
#[derive(Debug, Clone)]
pub struct WrkRun {
    pub id: String,
    pub label: String,
    pub connections: usize,
    pub round: usize,
    pub figures: WrkOutput,
    /// Wall time from starting wrk until it exited.
    pub wall_s: f64,
    pub wrk_cpu_s: f64,
    pub server_cpu_s: f64,
    /// CPU time the whole machine was busy (`/proc/stat`), all processes.
    pub machine_busy_s: f64,
}

impl WrkRun {
    /// wrk's and the server's CPU per request: what one request costs the machine.
    fn pair_us_per_req(&self) -> f64 {
        self.per_request_us(self.wrk_cpu_s + self.server_cpu_s)
    }

    fn per_request_us(&self, cpu_s: f64) -> f64 {
        if self.figures.requests > 0 {
            cpu_s * 1e6 / self.figures.requests as f64
        } else {
            f64::NAN
        }
    }
}

/// Runs `wrk -t1 -c<connections> -d<seconds>s --latency` replaying `target`'s request, signed
/// now, measuring wrk's and the server's CPU over the run.
pub fn run_once(
    target: &WrkTarget,
    connections: usize,
    seconds: u64,
    round: usize,
    dir: &Path,
) -> Result<WrkRun, String> {
    let script_file = dir.join(format!("wrk-{}.lua", target.id));
    std::fs::write(&script_file, script(target, &target.sign()?))
        .map_err(|e| format!("cannot write {}: {e}", script_file.display()))?;
    let wrk0 = procstat::waited_children_cpu_seconds();
    let server0 = procstat::cpu_seconds(target.server_pid);
    let machine0 = procstat::machine_busy_seconds();
    let t0 = Instant::now();
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "--timeout",
            REQUEST_TIMEOUT,
            "-s",
        ])
        .arg(&script_file)
        .arg(target.url())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let wall_s = t0.elapsed().as_secs_f64().max(1e-9);
    let wrk1 = procstat::waited_children_cpu_seconds();
    let server1 = procstat::cpu_seconds(target.server_pid);
    let machine1 = procstat::machine_busy_seconds();
    let text = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !stderr.trim().is_empty() {
        return Err(format!("wrk failed ({}): {stderr}{text}", out.status));
    }
    let parsed = parse_wrk(&text).ok_or_else(|| format!("cannot read wrk's output: {text}"))?;
    let delta = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    };
    Ok(WrkRun {
        id: target.id.clone(),
        label: target.label.clone(),
        connections,
        round,
        figures: parsed,
        wall_s,
        wrk_cpu_s: delta(wrk0, wrk1),
        server_cpu_s: delta(server0, server1),
        machine_busy_s: delta(machine0, machine1),
    })
}

/// Every target at every concurrency, `--rounds` times. Within a round each concurrency level
/// runs all targets back to back (so the floor is measured next to the rows compared with it),
/// in reverse order on even rounds so that drift of the machine over a round does not always
/// favour the same target. A `--warmup` run (not recorded) precedes each run.
pub fn run_rounds(cli: &Cli, targets: &[WrkTarget], dir: &Path) -> Result<Vec<WrkRun>, String> {
    let secs = run_seconds(cli);
    let warmup = cli.warmup.ceil() as u64;
    let mut runs = Vec::new();
    for round in 1..=cli.rounds {
        for &c in &cli.concurrency {
            let mut order: Vec<&WrkTarget> = targets.iter().collect();
            if round % 2 == 0 {
                order.reverse();
            }
            for t in order {
                if warmup > 0 {
                    run_once(t, c, warmup, round, dir)?;
                }
                eprint!(
                    "wrk round {round}/{}: wrk -t1 -c{c} -d{secs}s: {} ... ",
                    cli.rounds, t.label
                );
                let r = run_once(t, c, secs, round, dir)?;
                eprintln!(
                    "{:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, non-2xx {}, socket errors {}",
                    r.figures.rps,
                    r.figures.p50_ms,
                    r.figures.p99_ms,
                    r.figures.non_2xx,
                    r.figures.socket_errors
                );
                runs.push(r);
                // Let this run's connections close before the next.
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    Ok(runs)
}

/// What wrk printed that we use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WrkOutput {
    pub rps: f64,
    pub requests: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub non_2xx: u64,
    pub socket_errors: u64,
}

/// `wrk`'s duration text (`412.00us`, `1.20ms`, `1.00s`) in milliseconds.
pub fn wrk_ms(text: &str) -> Option<f64> {
    let t = text.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    num.trim().parse::<f64>().ok().map(|v| v * scale)
}

/// Parses `wrk --latency` output.
pub fn parse_wrk(out: &str) -> Option<WrkOutput> {
    let (mut rps, mut requests) = (None, None);
    let (mut p50, mut p99) = (None, None);
    let (mut non_2xx, mut socket_errors) = (0, 0);
    for line in out.lines() {
        let l = line.trim();
        if let Some(v) = l.strip_prefix("Requests/sec:") {
            rps = v.trim().parse::<f64>().ok();
        } else if let Some(v) = l.strip_prefix("50%") {
            p50 = wrk_ms(v);
        } else if let Some(v) = l.strip_prefix("99%") {
            p99 = wrk_ms(v);
        } else if let Some((n, _)) = l.split_once(" requests in ") {
            requests = n.trim().parse::<u64>().ok();
        } else if let Some(v) = l.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx = v.trim().parse().unwrap_or(u64::MAX);
        } else if let Some(v) = l.strip_prefix("Socket errors:") {
            socket_errors = v
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
        }
    }
    Some(WrkOutput {
        rps: rps?,
        requests: requests?,
        p50_ms: p50?,
        p99_ms: p99?,
        non_2xx,
        socket_errors,
    })
}

// ---------------------------------------------------------------------------------------------
// Rounds to rows

/// The rounds of one (target, connections), reduced.
#[derive(Debug, Clone)]
pub struct WrkRow {
    pub id: String,
    pub label: String,
    pub connections: usize,
    pub rounds: usize,
    /// Medians over the rounds, each figure on its own.
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub server_cpu_pct: f64,
    pub server_us_per_req: f64,
    pub wrk_cpu_pct: f64,
    pub wrk_us_per_req: f64,
    /// Busy CPU of everything but wrk and the server, as a share of one core.
    pub other_cpu_pct: f64,
    pub rps_min: f64,
    pub rps_max: f64,
    /// Summed over the rounds.
    pub non_2xx: u64,
    pub socket_errors: u64,
    /// req/s / the floor's req/s in the same round: median, min, max over the rounds.
    pub floor_ratio: Option<(f64, f64, f64)>,
    /// (wrk + server CPU µs/req of the floor) / (the same of this row), median over the
    /// rounds: the req/s ratio if wrk and the server had the cores to themselves.
    pub cpu_bound_ratio: Option<f64>,
}

impl WrkRow {
    pub fn has_errors(&self) -> bool {
        self.non_2xx > 0 || self.socket_errors > 0
    }
}

/// The median of `values` (the mean of the middle two for an even count); NaN when empty.
fn median(mut values: Vec<f64>) -> f64 {
    values.retain(|v| !v.is_nan());
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Groups runs by (target, connections) in first-seen order. The ratio to the floor pairs each
/// run with the floor's run of the same round and connections, so it compares runs made
/// seconds apart.
pub fn summarise(runs: &[WrkRun], floor_id: Option<&str>) -> Vec<WrkRow> {
    let mut keys: Vec<(&str, usize)> = Vec::new();
    for r in runs {
        if !keys.contains(&(r.id.as_str(), r.connections)) {
            keys.push((&r.id, r.connections));
        }
    }
    keys.into_iter()
        .map(|(id, c)| {
            let group: Vec<&WrkRun> = runs
                .iter()
                .filter(|r| r.id == id && r.connections == c)
                .collect();
            let col = |f: &dyn Fn(&WrkRun) -> f64| median(group.iter().map(|r| f(r)).collect());
            // Each run beside the floor's run of the same round.
            let pairs: Vec<(&WrkRun, &WrkRun)> = group
                .iter()
                .filter_map(|r| {
                    let floor = runs.iter().find(|f| {
                        Some(f.id.as_str()) == floor_id && f.connections == c && f.round == r.round
                    })?;
                    Some((*r, floor))
                })
                .collect();
            let ratios: Vec<f64> = pairs
                .iter()
                .filter(|(_, f)| f.figures.rps > 0.0)
                .map(|(r, f)| r.figures.rps / f.figures.rps)
                .collect();
            let floor_ratio = (!ratios.is_empty()).then(|| {
                let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                (median(ratios), lo, hi)
            });
            let cpu_bound_ratio = Some(median(
                pairs
                    .iter()
                    .map(|(r, f)| f.pair_us_per_req() / r.pair_us_per_req())
                    .collect(),
            ))
            .filter(|v| v.is_finite());
            WrkRow {
                id: id.to_string(),
                label: group[0].label.clone(),
                connections: c,
                rounds: group.len(),
                rps: col(&|r| r.figures.rps),
                p50_ms: col(&|r| r.figures.p50_ms),
                p99_ms: col(&|r| r.figures.p99_ms),
                server_cpu_pct: col(&|r| 100.0 * r.server_cpu_s / r.wall_s),
                server_us_per_req: col(&|r| r.per_request_us(r.server_cpu_s)),
                wrk_cpu_pct: col(&|r| 100.0 * r.wrk_cpu_s / r.wall_s),
                wrk_us_per_req: col(&|r| r.per_request_us(r.wrk_cpu_s)),
                other_cpu_pct: col(&|r| {
                    (100.0 * (r.machine_busy_s - r.server_cpu_s - r.wrk_cpu_s) / r.wall_s).max(0.0)
                }),
                rps_min: group
                    .iter()
                    .map(|r| r.figures.rps)
                    .fold(f64::INFINITY, f64::min),
                rps_max: group
                    .iter()
                    .map(|r| r.figures.rps)
                    .fold(f64::NEG_INFINITY, f64::max),
                non_2xx: group.iter().map(|r| r.figures.non_2xx).sum(),
                socket_errors: group.iter().map(|r| r.figures.socket_errors).sum(),
                floor_ratio,
                cpu_bound_ratio,
            }
        })
        .collect()
}

/// Prints the rows as a markdown table; `floor_header` names the ratio column.
pub fn print_table(rows: &[WrkRow], floor_header: &str) {
    let spread = rows.iter().any(|r| r.rounds > 1);
    println!(
        "| target (wrk -t1, one pre-signed request) | connections | req/s | p50 ms | p99 ms | \
         {floor_header} | non-2xx | socket errors | server CPU | wrk CPU | other CPU | \
         server CPU µs/req | wrk CPU µs/req | CPU-bound estimate |{}",
        if spread {
            " req/s min–max | ratio min–max |"
        } else {
            ""
        }
    );
    println!(
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|{}",
        if spread { "---:|---:|" } else { "" }
    );
    let two = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.2}"));
    let flag = |n: u64| {
        if n == 0 {
            "0".to_string()
        } else {
            format!("**{n} ⚠**")
        }
    };
    for r in rows {
        let mut line = format!(
            "| {} | {} | {:.0} | {:.3} | {:.3} | {} | {} | {} | {:.0}% | {:.0}% | {:.0}% | {:.1} \
             | {:.1} | {} |",
            r.label,
            r.connections,
            r.rps,
            r.p50_ms,
            r.p99_ms,
            two(r.floor_ratio.map(|(m, _, _)| m)),
            flag(r.non_2xx),
            flag(r.socket_errors),
            r.server_cpu_pct,
            r.wrk_cpu_pct,
            r.other_cpu_pct,
            r.server_us_per_req,
            r.wrk_us_per_req,
            two(r.cpu_bound_ratio),
        );
        if spread {
            let ratio_spread = r
                .floor_ratio
                .map_or_else(|| "–".to_string(), |(_, lo, hi)| format!("{lo:.2}–{hi:.2}"));
            line.push_str(&format!(
                " {:.0}–{:.0} | {ratio_spread} |",
                r.rps_min, r.rps_max
            ));
        }
        println!("{line}");
    }
    println!();
}

/// The note under a wrk table.
pub fn print_note(cli: &Cli, server: &str) {
    let rounds = if cli.rounds > 1 {
        format!(
            "; {} rounds, targets back to back per connection count (reverse order on even \
             rounds); each figure is the median of its rounds on its own, errors are summed, \
             the ratio pairs each run with the floor's run of the same round",
            cli.rounds
        )
    } else {
        String::new()
    };
    let warmup = if cli.warmup > 0.0 {
        format!(
            ", after an unrecorded {} s run of the same",
            cli.warmup.ceil()
        )
    } else {
        String::new()
    };
    println!(
        "wrk: `wrk -t1 -cN -d{}s --latency --timeout {REQUEST_TIMEOUT} -s <script>` replaying one \
         request signed just before each run (re-signed every run){warmup}{rounds}. Server CPU = \
         {server}, user + system time from /proc/PID/stat over wrk's run, as a share of one core \
         and per request answered; wrk CPU likewise, from this process's waited-for children; \
         other CPU = the rest of the machine's busy time (/proc/stat). CPU-bound estimate = \
         (wrk + server CPU µs/req of the floor) / (the same of the row): the ratio to the floor \
         if the two had the cores to themselves, which other load does not change much.",
        run_seconds(cli),
    );
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_durations() {
        let near = |text: &str, want: f64| {
            let got = wrk_ms(text).unwrap();
            assert!((got - want).abs() < 1e-9, "{text}: {got} != {want}");
        };
        near("412.00us", 0.412);
        near(" 1.20ms", 1.2);
        near("1.00s", 1000.0);
        near("2.00m", 120_000.0);
        assert_eq!(wrk_ms("x"), None);
    }

    #[test]
    fn wrk_output() {
        let out = "Running 3s test @ https://127.0.0.1:1/x\n  1 threads and 8 connections\n  \
                   Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   500.00us  \
                   100.00us   3.00ms   90.00%\n  Latency Distribution\n     50%  412.00us\n     \
                   75%  500.00us\n     90%  600.00us\n     99%    1.20ms\n  12345 requests in \
                   3.00s, 4.50MB read\n  Socket errors: connect 0, read 1, write 0, timeout 2\n  \
                   Non-2xx or 3xx responses: 3\nRequests/sec:   4115.00\nTransfer/sec:      1.50MB\n";
        let o = parse_wrk(out).unwrap();
        assert_eq!((o.rps, o.requests), (4115.0, 12345));
        assert!((o.p50_ms - 0.412).abs() < 1e-9 && (o.p99_ms - 1.2).abs() < 1e-9);
        assert_eq!((o.non_2xx, o.socket_errors), (3, 3));
        assert_eq!(parse_wrk("Requests/sec: 1\n"), None);
    }

    #[test]
    fn lua_strings_are_closed_safely() {
        assert_eq!(lua_long_string("a"), "[[a]]");
        assert_eq!(lua_long_string("x]]y"), "[=[x]]y]=]");
    }

    fn run(id: &str, round: usize, rps: f64, server_cpu_s: f64) -> WrkRun {
        WrkRun {
            id: id.into(),
            label: id.into(),
            connections: 8,
            round,
            figures: WrkOutput {
                rps,
                requests: (rps * 2.0) as u64,
                p50_ms: 1.0,
                p99_ms: 2.0,
                non_2xx: u64::from(round == 2),
                socket_errors: 0,
            },
            wall_s: 2.0,
            wrk_cpu_s: 1.0,
            server_cpu_s,
            machine_busy_s: 2.0,
        }
    }

    #[test]
    fn rounds_reduce_to_medians_and_paired_ratios() {
        // The floor drifts down over the rounds; the target's ratio to it stays near 0.5.
        let runs = vec![
            run("floor", 1, 1000.0, 0.2),
            run("enc", 1, 500.0, 0.5),
            run("enc", 2, 420.0, 0.5),
            run("floor", 2, 800.0, 0.2),
            run("floor", 3, 600.0, 0.2),
            run("enc", 3, 330.0, 0.5),
        ];
        let rows = summarise(&runs, Some("floor"));
        assert_eq!(rows.len(), 2);
        let (floor, enc) = (&rows[0], &rows[1]);
        assert_eq!((floor.id.as_str(), enc.id.as_str()), ("floor", "enc"));
        assert_eq!(floor.rps, 800.0);
        assert_eq!(enc.rps, 420.0);
        assert_eq!((enc.rps_min, enc.rps_max), (330.0, 500.0));
        let (m, lo, hi) = enc.floor_ratio.unwrap();
        assert!((m - 0.525).abs() < 1e-9 && (lo - 0.5).abs() < 1e-9 && (hi - 0.55).abs() < 1e-9);
        // 0.5 s of server CPU over 2 × 420 requests.
        assert!((enc.server_us_per_req - 0.5e6 / 840.0).abs() < 1e-6);
        // Per round (wrk 1 s + server s) / requests: floor 1.2 s / 2 × rps, enc 1.5 s / 2 × rps;
        // round 2: (1.2 / 1600) / (1.5 / 840) = 0.42.
        assert!((enc.cpu_bound_ratio.unwrap() - 0.42).abs() < 1e-9);
        // 2 s busy − 0.5 − 1 over a 2 s wall: 25% of a core.
        assert!((enc.other_cpu_pct - 25.0).abs() < 1e-9);
        assert_eq!(enc.non_2xx, 1);
        assert!(enc.has_errors());
        assert_eq!(summarise(&runs, None)[1].floor_ratio, None);
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
    }
}
