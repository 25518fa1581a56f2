//! Starting (and stopping) the two servers as child processes.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a server may take to print its address.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A child process killed (and reaped) on drop.
struct Guard {
    child: Child,
    // Held so the floor sees end of file on stdin only when we are gone.
    _stdin: Option<ChildStdin>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The running floor server.
pub struct Floor {
    guard: Guard,
    pub addr: SocketAddr,
}

impl Floor {
    pub fn pid(&self) -> u32 {
        self.guard.child.id()
    }
}

/// The running `strongroom dev`.
pub struct Strongroom {
    guard: Guard,
    pub addr: SocketAddr,
    pub access_key_id: String,
    pub secret: String,
    pub region: String,
    pub log_path: PathBuf,
}

impl Strongroom {
    pub fn pid(&self) -> u32 {
        self.guard.child.id()
    }
}

/// Reads the child's stdout on a thread (which keeps draining it) and hands lines over
/// until `done` says it has what it needs or the timeout passes.
fn read_until(
    child: &mut Child,
    what: &str,
    mut done: impl FnMut(&str) -> bool,
) -> Result<(), String> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| format!("{what}: no stdout"))?;
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // After readiness nobody listens; keep draining anyway.
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if done(&line) {
                    return Ok(());
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "{what} did not become ready within {READY_TIMEOUT:?}"
                ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child
                    .try_wait()
                    .ok()
                    .flatten()
                    .map_or_else(|| "still running".to_string(), |s| s.to_string());
                return Err(format!(
                    "{what} closed its stdout before it was ready ({status})"
                ));
            }
        }
    }
}

fn parse_addr(url_or_addr: &str) -> Result<SocketAddr, String> {
    let a = url_or_addr
        .trim()
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let addr: SocketAddr = a
        .parse()
        .map_err(|e| format!("cannot parse the address {url_or_addr:?}: {e}"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("refusing to send load to non-loopback {addr}"));
    }
    Ok(addr)
}

/// Starts `exe floor-server` and waits for its `LISTEN` line.
pub fn spawn_floor(exe: &Path) -> Result<Floor, String> {
    let child = Command::new(exe)
        .arg("floor-server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {} floor-server: {e}", exe.display()))?;
    let mut guard = Guard {
        child,
        _stdin: None,
    };
    guard._stdin = guard.child.stdin.take();
    let mut addr = None;
    let mut parse_err = None;
    read_until(&mut guard.child, "the floor server", |line| {
        if let Some(a) = line.strip_prefix("LISTEN ") {
            match parse_addr(a) {
                Ok(a) => addr = Some(a),
                Err(e) => parse_err = Some(e),
            }
            return true;
        }
        false
    })?;
    if let Some(e) = parse_err {
        return Err(e);
    }
    let addr = addr.ok_or("the floor server printed no address")?;
    Ok(Floor { guard, addr })
}

/// Starts `strongroom dev --port 0 --data-dir DIR` and reads its `export` lines.
pub fn spawn_strongroom(bin: &Path, data_dir: &Path) -> Result<Strongroom, String> {
    spawn_strongroom_with(bin, data_dir, &[])
}

/// [`spawn_strongroom`] with more arguments for `dev` (`--postgres URL`).
pub fn spawn_strongroom_with(
    bin: &Path,
    data_dir: &Path,
    extra: &[&str],
) -> Result<Strongroom, String> {
    let log_path = data_dir.join("strongroom.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let child = Command::new(bin)
        .args(["dev", "--port", "0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start {} (build it with `cargo build --release -p strongroom`, \
                 or pass --strongroom-bin): {e}",
                bin.display()
            )
        })?;
    let mut guard = Guard {
        child,
        _stdin: None,
    };
    let (mut endpoint, mut akid, mut secret, mut region) = (None, None, None, None);
    read_until(&mut guard.child, "strongroom dev", |line| {
        if let Some((name, value)) = line
            .strip_prefix("export ")
            .and_then(|kv| kv.split_once('='))
        {
            let value = Some(value.trim().to_string());
            match name {
                "AWS_ENDPOINT_URL" => endpoint = value,
                "AWS_ACCESS_KEY_ID" => akid = value,
                "AWS_SECRET_ACCESS_KEY" => secret = value,
                "AWS_REGION" => region = value,
                _ => {}
            }
        }
        endpoint.is_some() && akid.is_some() && secret.is_some() && region.is_some()
    })
    .map_err(|e| format!("{e}; its log ends with:\n{}", log_tail(&log_path)))?;
    let (Some(endpoint), Some(access_key_id), Some(secret), Some(region)) =
        (endpoint, akid, secret, region)
    else {
        return Err("strongroom dev printed incomplete exports".to_string());
    };
    Ok(Strongroom {
        addr: parse_addr(&endpoint)?,
        guard,
        access_key_id,
        secret,
        region,
        log_path,
    })
}

/// The last lines of a log file (the temporary directory is gone once we exit).
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
