//! Child processes of the `strongroom` binary under test, each behind a guard that kills it on
//! drop: `serve` (ready at `strongroom: KMS listening on URL`), `dev` (ready when it printed
//! its `export` lines) and `xks-proxy serve` (ready at its `XKS proxy listening` log line).
//!
//! The binary is the caller's: `env!("CARGO_BIN_EXE_strongroom")` exists only in the tests of
//! the crate that builds it. Every stream of a child is read to its end on a thread of its own,
//! so no child ever blocks writing into a full pipe.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long a child may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// Lines of a stream

#[derive(Default)]
struct Lines {
    lines: Vec<String>,
    /// Every stream followed so far has ended.
    ended: bool,
    following: usize,
}

/// The lines of one or more streams (a process's stderr across restarts), ANSI colours removed.
#[derive(Clone, Default)]
pub struct LogLines {
    inner: Arc<(Mutex<Lines>, Condvar)>,
}

fn strip_ansi(line: &str) -> String {
    // `ESC [ digits/semicolons m`: the colour codes a logger writes.
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find("\x1b[") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(after.len());
        if after[end..].starts_with('m') {
            rest = &after[end + 1..];
        } else {
            out.push_str("\x1b[");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

impl LogLines {
    fn lock(&self) -> MutexGuard<'_, Lines> {
        self.inner.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads `stream` line by line on a thread of its own; echoes each line to the test's
    /// output tagged `tag`, if given (never give one for a stream that prints secrets).
    pub fn follow(&self, stream: impl std::io::Read + Send + 'static, tag: Option<String>) {
        {
            let mut l = self.lock();
            l.following += 1;
            l.ended = false;
        }
        let me = self.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                let line = strip_ansi(&line);
                if let Some(tag) = &tag {
                    eprintln!("[{tag}] {line}");
                }
                me.lock().lines.push(line);
                me.inner.1.notify_all();
            }
            let mut l = me.lock();
            l.following -= 1;
            l.ended = l.following == 0;
            drop(l);
            me.inner.1.notify_all();
        });
    }

    /// How many lines were read so far.
    pub fn len(&self) -> usize {
        self.lock().lines.len()
    }

    /// Whether no line was read yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All lines read so far.
    pub fn lines(&self) -> Vec<String> {
        self.lock().lines.clone()
    }

    /// The first line from index `from` on satisfying `pred`, and its index; waits for it at
    /// most `timeout`, then panics naming `what`. Also panics when the streams end without one.
    #[track_caller]
    pub fn wait_for_at(
        &self,
        from: usize,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> (usize, String) {
        let deadline = Instant::now() + timeout;
        let mut guard = self.lock();
        loop {
            if let Some((i, l)) = guard
                .lines
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, l)| pred(l))
            {
                return (i, l.clone());
            }
            let tail = &guard.lines[from.min(guard.lines.len())..];
            assert!(
                !guard.ended,
                "no line {what}: the output ended; lines: {tail:#?}"
            );
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no line {what} within {timeout:?}; lines: {tail:#?}"
            );
            guard = self
                .inner
                .1
                .wait_timeout(guard, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// [`LogLines::wait_for_at`], the line only.
    #[track_caller]
    pub fn wait_for(
        &self,
        from: usize,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        self.wait_for_at(from, timeout, what, pred).1
    }
}

/// The value of `name=...` in a log line (quoted or bare).
pub fn log_field(line: &str, name: &str) -> Option<String> {
    let key = format!("{name}=");
    let mut from = 0;
    while let Some(i) = line[from..].find(&key) {
        let at = from + i;
        from = at + key.len();
        // A whole field name: at the start or after whitespace.
        if at > 0 && !line[..at].ends_with(char::is_whitespace) {
            continue;
        }
        let rest = &line[from..];
        return Some(match rest.strip_prefix('"') {
            Some(quoted) => quoted.split('"').next().unwrap_or("").to_string(),
            None => rest.split_whitespace().next().unwrap_or("").to_string(),
        });
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Guards

/// A signal a test sends a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Reload.
    Hup,
    /// Stop gracefully.
    Term,
    /// Freeze, as a hung process.
    Stop,
    /// Thaw.
    Cont,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Hup => "HUP",
            Signal::Term => "TERM",
            Signal::Stop => "STOP",
            Signal::Cont => "CONT",
        }
    }
}

/// A child process, SIGKILLed and reaped on drop.
pub struct ChildGuard {
    child: Child,
}

impl ChildGuard {
    pub fn new(child: Child) -> ChildGuard {
        ChildGuard { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (with kill(1): the workspace forbids unsafe code).
    #[track_caller]
    pub fn signal(&self, signal: Signal) {
        let pid = self.pid();
        let status = Command::new("kill")
            .args([format!("-{}", signal.name()), pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{} {pid}: {status}", signal.name());
    }

    /// SIGKILL, then waits; the exit status.
    pub fn kill(mut self) -> ExitStatus {
        let _ = self.child.kill();
        self.child.wait().expect("wait for the child")
    }

    /// SIGTERM, then waits at most `timeout` for the exit; its status.
    #[track_caller]
    pub fn terminate(mut self, timeout: Duration) -> ExitStatus {
        self.signal(Signal::Term);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "pid {} still running {timeout:?} after SIGTERM",
                self.pid()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The exit status, if it exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `bin ARGS` with `env`, `RUST_LOG=log_filter` and no colours; stdin closed, stdout and
/// stderr piped.
fn command(bin: &Path, log_filter: &str, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("RUST_LOG", log_filter)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Spawns `cmd`; its stderr goes to `log` (echoed, tagged `name PID`), its stdout to a
/// [`LogLines`] of its own (echoed only if `echo_stdout`).
fn spawn(
    mut cmd: Command,
    name: &str,
    log: &LogLines,
    echo_stdout: bool,
) -> (ChildGuard, LogLines) {
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
    let pid = child.id();
    let stdout = LogLines::default();
    if let Some(err) = child.stderr.take() {
        log.follow(err, Some(format!("{name} {pid}")));
    }
    if let Some(out) = child.stdout.take() {
        stdout.follow(out, echo_stdout.then(|| format!("{name} {pid} stdout")));
    }
    (ChildGuard::new(child), stdout)
}

// ---------------------------------------------------------------------------------------------
// strongroom serve

/// A running `strongroom serve --config FILE`.
pub struct Serve {
    pub process: ChildGuard,
    /// `http://127.0.0.1:PORT` or `https://...`.
    pub endpoint: String,
    /// `http://ADDR/metrics` of the admin listener, when it has one.
    pub metrics_url: Option<String>,
    /// Its stdout.
    pub stdout: LogLines,
}

impl Serve {
    /// Starts `bin serve --config config` (stderr into `log`) and waits until it listens.
    #[track_caller]
    pub fn start(
        bin: &Path,
        config: &Path,
        log_filter: &str,
        env: &[(String, String)],
        log: &LogLines,
    ) -> Serve {
        let mut cmd = command(bin, log_filter, env);
        cmd.arg("serve").arg("--config").arg(config);
        let (process, stdout) = spawn(cmd, "strongroom", log, true);
        const LISTENING: &str = "strongroom: KMS listening on ";
        let (i, line) = stdout.wait_for_at(0, READY_TIMEOUT, "of the KMS listening", |l| {
            l.starts_with(LISTENING)
        });
        let endpoint = line[LISTENING.len()..].trim().to_string();
        // The admin listener is announced before the KMS's.
        let metrics_url = stdout.lines()[..i]
            .iter()
            .find_map(|l| l.strip_prefix("strongroom: metrics on "))
            .map(|u| u.trim().to_string());
        Serve {
            process,
            endpoint,
            metrics_url,
            stdout,
        }
    }

    /// `HOST:PORT` of the endpoint.
    pub fn addr(&self) -> String {
        strip_scheme(&self.endpoint).to_string()
    }
}

/// `HOST:PORT` of `http://HOST:PORT` or `https://HOST:PORT`.
pub fn strip_scheme(endpoint: &str) -> &str {
    endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .unwrap_or(endpoint)
}

// ---------------------------------------------------------------------------------------------
// strongroom dev

/// How to run `strongroom dev`.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// `--data-dir`; `None`: a temporary directory of dev's own.
    pub data_dir: Option<PathBuf>,
    /// The demo external key store (and so its proxy's `STRONGROOM_XKS_*` exports); without
    /// it, `--no-demo-store`.
    pub demo_store: bool,
    pub log_filter: String,
    /// Further arguments (`--postgres URL`, `--seed FILE`, ...).
    pub args: Vec<OsString>,
    pub env: Vec<(String, String)>,
}

impl DevOptions {
    /// Dev on `data_dir`, with the demo store, logging warnings.
    pub fn new(data_dir: &Path) -> DevOptions {
        DevOptions {
            data_dir: Some(data_dir.to_path_buf()),
            ..DevOptions::temporary()
        }
    }

    /// Dev on a temporary directory of its own, with the demo store, logging warnings.
    pub fn temporary() -> DevOptions {
        DevOptions {
            data_dir: None,
            demo_store: true,
            log_filter: "warn".to_string(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Adds arguments.
    pub fn arg(mut self, a: impl Into<OsString>) -> DevOptions {
        self.args.push(a.into());
        self
    }
}

/// A running `strongroom dev --port 0`, with the `export NAME=VALUE` lines it printed.
pub struct Dev {
    pub process: ChildGuard,
    /// Its stdout (the exports: secrets, never echoed).
    pub stdout: LogLines,
    /// The exports up to `AWS_REGION`, the last of the KMS's, values as printed.
    pub exports: BTreeMap<String, String>,
}

/// `NAME=VALUE` of an `export` line.
fn export(line: &str) -> Option<(&str, &str)> {
    line.trim().strip_prefix("export ")?.split_once('=')
}

/// A shell word as `strongroom dev` prints it: bare, or single-quoted.
pub fn unquote_shell(v: &str) -> String {
    match v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.replace(r"'\''", "'"),
        None => v.to_string(),
    }
}

impl Dev {
    /// Starts `bin dev` (stderr into `log`) and waits for its `export AWS_REGION=` line.
    #[track_caller]
    pub fn start(bin: &Path, options: &DevOptions, log: &LogLines) -> Dev {
        let mut cmd = command(bin, &options.log_filter, &options.env);
        cmd.args(["dev", "--port", "0"]);
        if let Some(dir) = &options.data_dir {
            cmd.arg("--data-dir").arg(dir);
        }
        if !options.demo_store {
            cmd.arg("--no-demo-store");
        }
        cmd.args(&options.args);
        let (process, stdout) = spawn(cmd, "strongroom", log, false);
        let (last, _) = stdout.wait_for_at(0, READY_TIMEOUT, "export AWS_REGION", |l| {
            export(l).is_some_and(|(k, _)| k == "AWS_REGION")
        });
        let exports = stdout.lines()[..=last]
            .iter()
            .filter_map(|l| export(l))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Dev {
            process,
            stdout,
            exports,
        }
    }

    /// The printed value of `name`.
    #[track_caller]
    pub fn export(&self, name: &str) -> &str {
        self.exports
            .get(name)
            .unwrap_or_else(|| panic!("strongroom dev did not print {name}"))
    }

    /// Waits (at most `timeout`) until every name of `names` was exported, and returns every
    /// export starting with `prefix` up to then, unquoted.
    #[track_caller]
    pub fn wait_for_exports(
        &self,
        prefix: &str,
        names: &[&str],
        timeout: Duration,
    ) -> BTreeMap<String, String> {
        let mut found = BTreeMap::new();
        let mut from = 0;
        while !names.iter().all(|n| found.contains_key(*n)) {
            let (i, line) = self
                .stdout
                .wait_for_at(from, timeout, "of the exports", |l| {
                    export(l).is_some_and(|(k, _)| k.starts_with(prefix))
                });
            if let Some((k, v)) = export(&line) {
                found.insert(k.to_string(), unquote_shell(v));
            }
            from = i + 1;
        }
        found
    }
}

// ---------------------------------------------------------------------------------------------
// strongroom xks-proxy serve

/// A running `strongroom xks-proxy serve --config FILE`.
pub struct XksProxy {
    pub process: ChildGuard,
    /// `ADDR:PORT` it listens on.
    pub addr: String,
    pub port: u16,
    /// The line that said it listens (it names `connection_threads`).
    pub listening: String,
}

impl XksProxy {
    /// Starts `bin xks-proxy serve --config config` (stderr into `log`, `env` set, e.g.
    /// `SOFTHSM2_CONF`) and waits for its `XKS proxy listening` line.
    #[track_caller]
    pub fn start(
        bin: &Path,
        config: &Path,
        log_filter: &str,
        env: &[(String, String)],
        log: &LogLines,
    ) -> XksProxy {
        let from = log.len();
        let mut cmd = command(bin, log_filter, env);
        cmd.args(["xks-proxy", "serve", "--config"]).arg(config);
        let (mut process, _stdout) = spawn(cmd, "xks-proxy", log, true);
        let deadline = Instant::now() + Duration::from_secs(20);
        // Polled, not waited for: the log is shared across restarts and never ends.
        let listening = loop {
            if let Some(l) = log.lines()[from..]
                .iter()
                .find(|l| l.contains("XKS proxy listening"))
            {
                break l.clone();
            }
            if let Some(status) = process.try_wait() {
                panic!(
                    "the proxy exited before listening ({status}): {:#?}",
                    &log.lines()[from..]
                );
            }
            assert!(Instant::now() < deadline, "the proxy did not start in 20 s");
            std::thread::sleep(Duration::from_millis(10));
        };
        let addr =
            log_field(&listening, "addr").unwrap_or_else(|| panic!("no addr in {listening:?}"));
        let port = addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {addr:?}"));
        XksProxy {
            process,
            addr,
            port,
            listening,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_colours() {
        let line = "\x1b[2m2026\x1b[0m INFO xks request kms_operation=Encrypt msg=\"a b\" addr=1:2";
        let plain = strip_ansi(line);
        assert_eq!(
            plain,
            "2026 INFO xks request kms_operation=Encrypt msg=\"a b\" addr=1:2"
        );
        assert_eq!(log_field(&plain, "msg").as_deref(), Some("a b"));
        assert_eq!(log_field(&plain, "addr").as_deref(), Some("1:2"));
        assert_eq!(
            log_field(&plain, "operation"),
            None,
            "kms_operation is another field"
        );
        assert_eq!(unquote_shell(r"'it'\''s'"), "it's");
    }

    #[test]
    fn waiting_ends_with_the_stream() {
        let log = LogLines::default();
        log.follow(&b"one\ntwo\n"[..], None);
        assert_eq!(
            log.wait_for(0, Duration::from_secs(5), "two", |l| l == "two"),
            "two"
        );
        let r = std::panic::catch_unwind(|| {
            log.wait_for(0, Duration::from_secs(5), "three", |l| l == "three")
        });
        assert!(r.is_err());
    }
}
