//! The writer: one thread owns the current file; requests hand it serialized records.
//!
//! - **Group commit.** The thread takes every record queued since its last write, appends them
//!   in one `write`, and (in `sync` mode) makes them durable with one `fdatasync` before it
//!   answers all their senders: many concurrent requests share one disk flush.
//! - **Durability.** `sync`: [`AuditLog::append`] returns once its record is on disk, so a
//!   response sent after it has its record. `buffered`: it returns once the record is queued;
//!   the thread syncs at least every `max_delay` and whenever `max_records` records are
//!   unsynced, which bounds what a crash can lose.
//! - **Priority.** In `buffered` mode no response waits for the thread, so it runs at the
//!   lowest priority (nice 19): it gets the CPU the request handlers leave rather than
//!   preempting them mid-request, and still its share of a fully loaded machine. `sync` mode
//!   keeps the normal priority, since every response waits for it.
//! - **Back-pressure.** At most `queue_capacity` records wait for the thread; more wait in
//!   `append` (asynchronously) rather than grow memory without bound.
//! - **Page cache.** Once synced, a file's bytes are dropped from the page cache: records are
//!   written once and rarely read, and a busy server would otherwise fill memory with them
//!   (on a virtual machine, every new page-cache page can also cost a fault in the host).
//! - **Rotation** by size and age; each file closes with a final signed digest, and the next
//!   one's header names it. **Digests** are written at most `digest_interval` after a record.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead as _, IoSlice, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Semaphore};

use crate::chain::{self, Chain, Digest, Header, Line, Previous, SigningKey};
use crate::record::event_time;

/// When a record counts as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// On disk (fdatasync) before `append` returns.
    Sync,
    /// Queued; synced within `max_delay`, or once `max_records` are unsynced.
    Buffered {
        max_records: usize,
        max_delay: Duration,
    },
}

/// How the audit log is written.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// The directory of the files (created 0700; files are 0600).
    pub dir: PathBuf,
    pub durability: Durability,
    /// Start a new file before one would grow past this many bytes.
    pub rotate_bytes: u64,
    /// Start a new file once one is this old (and has records).
    pub rotate_age: Duration,
    /// Sign the chain at most this long after a record (zero: with every write).
    pub digest_interval: Duration,
    /// Records that may wait for the writer thread.
    pub queue_capacity: usize,
}

impl WriterConfig {
    /// Defaults for `dir`: sync, 64 MiB or a day per file, a digest per second.
    pub fn new(dir: PathBuf) -> WriterConfig {
        WriterConfig {
            dir,
            durability: Durability::Sync,
            rotate_bytes: 64 << 20,
            rotate_age: Duration::from_secs(24 * 3600),
            digest_interval: Duration::from_secs(1),
            queue_capacity: 65536,
        }
    }
}

/// Why a record was not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditError(pub String);

impl std::fmt::Display for AuditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AuditError {}

/// The name of the public key file written into the audit directory.
pub const PUBLIC_KEY_FILE: &str = "audit-signing-key.pub";

/// One serialized record, ending with its newline (JSON text has no other).
#[derive(Debug)]
pub struct EncodedRecord(Vec<u8>);

impl EncodedRecord {
    /// The record without its newline: what the chain hashes.
    pub fn text(&self) -> &[u8] {
        self.0.strip_suffix(b"\n").unwrap_or(&self.0)
    }
}

struct Entry {
    line: EncodedRecord,
    done: Option<oneshot::Sender<Result<(), AuditError>>>,
}

#[derive(Default)]
struct Queue {
    entries: VecDeque<Entry>,
    closing: Option<oneshot::Sender<()>>,
    closed: bool,
    /// The writer sleeps on the condition variable: only then does an append wake it (waking a
    /// thread costs more than writing a record, so a busy writer is left to find the queue).
    writer_waiting: bool,
}

/// Buffered mode: the writer, woken by the first record after a pause, waits a tenth of
/// `max_delay` (within these bounds) for more before writing them in one go. Every wake-up
/// costs a busy server a context switch; a longer gather means fewer of them.
const BUFFERED_GATHER_MIN: Duration = Duration::from_millis(1);
const BUFFERED_GATHER_MAX: Duration = Duration::from_millis(10);
/// Buffered mode: so many queued records wake the writer at once.
const BUFFERED_HIGH_WATER: usize = 512;

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    current: Mutex<PathBuf>,
    /// Room in the queue: an append takes a permit and forgets it; the writer gives back a
    /// whole batch's at once (each release takes the semaphore's lock).
    room: Semaphore,
}

/// An open audit log.
pub struct AuditLog {
    shared: Arc<Shared>,
    durability: Durability,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("current", &self.current_file())
            .field("durability", &self.durability)
            .finish()
    }
}

impl AuditLog {
    /// Opens the log in `config.dir`: a new file whose header names the newest file already
    /// there (left by an earlier run), and the writer thread.
    pub fn open(config: WriterConfig, key: SigningKey) -> Result<AuditLog, String> {
        secret_files::create_private_dir(&config.dir)
            .map_err(|e| format!("cannot create {}: {e}", config.dir.display()))?;
        write_public_key(&config.dir, &key)?;
        let previous = last_file(&config.dir)?;
        let mut state = WriterState {
            config: config.clone(),
            key,
            file: None,
            next_sequence: previous.as_ref().map_or(0, |p| p.sequence + 1),
            previous,
            last_sync: Instant::now(),
            unsynced: 0,
        };
        state.open_file().map_err(|e| e.0)?;
        let current = state
            .file
            .as_ref()
            .map(|f| f.path.clone())
            .unwrap_or_default();
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            current: Mutex::new(current),
            room: Semaphore::new(config.queue_capacity.max(1)),
        });
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("audit-writer".to_string())
            .spawn(move || state.run(&thread_shared))
            .map_err(|e| format!("cannot start the audit writer: {e}"))?;
        Ok(AuditLog {
            shared,
            durability: config.durability,
        })
    }

    /// The file being written now.
    pub fn current_file(&self) -> PathBuf {
        self.shared
            .current
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default()
    }

    /// Writes one record: in `sync` mode, returns once it is on disk.
    pub async fn append<R: serde::Serialize>(&self, record: &R) -> Result<(), AuditError> {
        self.append_line(encode(record)?).await
    }

    /// Writes one record made by [`encode`].
    pub async fn append_line(&self, line: EncodedRecord) -> Result<(), AuditError> {
        self.shared
            .room
            .acquire()
            .await
            .map_err(|_| AuditError("the audit log is closed".to_string()))?
            .forget();
        let (tx, rx) = match self.durability {
            Durability::Sync => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
            Durability::Buffered { .. } => (None, None),
        };
        let wake = {
            let mut q = self.lock_queue();
            if q.closed || q.closing.is_some() {
                self.shared.room.add_permits(1);
                return Err(AuditError("the audit log is closed".to_string()));
            }
            q.entries.push_back(Entry { line, done: tx });
            let wake = q.writer_waiting
                && match self.durability {
                    Durability::Sync => true,
                    Durability::Buffered { .. } => {
                        q.entries.len() == 1 || q.entries.len() >= BUFFERED_HIGH_WATER
                    }
                };
            if wake {
                // One wake-up is enough; the writer drains the whole queue.
                q.writer_waiting = false;
            }
            wake
        };
        if wake {
            self.shared.wake.notify_one();
        }
        self.await_sync(rx).await
    }

    /// In `sync` mode, waits for the writer to have the record on disk.
    async fn await_sync(
        &self,
        rx: Option<oneshot::Receiver<Result<(), AuditError>>>,
    ) -> Result<(), AuditError> {
        match rx {
            Some(rx) => rx
                .await
                .unwrap_or_else(|_| Err(AuditError("the audit writer stopped".to_string()))),
            None => Ok(()),
        }
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes what is queued, closes the current file with a final digest and stops the
    /// writer. Later appends fail.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        {
            let mut q = self.lock_queue();
            if q.closed || q.closing.is_some() {
                return;
            }
            q.closing = Some(tx);
        }
        self.shared.wake.notify_one();
        let _ = rx.await;
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        // The thread closes the file and ends (if the process lives long enough).
        let (tx, _rx) = oneshot::channel();
        let mut q = self.lock_queue();
        if !q.closed && q.closing.is_none() {
            q.closing = Some(tx);
            drop(q);
            self.shared.wake.notify_one();
        }
    }
}

/// One record as the line [`AuditLog::append_line`] writes.
pub fn encode<R: serde::Serialize>(record: &R) -> Result<EncodedRecord, AuditError> {
    // A KMS record is about a kilobyte: start there rather than grow through four copies.
    let mut line = Vec::with_capacity(1536);
    serde_json::to_writer(&mut line, record)
        .map_err(|e| AuditError(format!("cannot encode an audit record: {e}")))?;
    line.push(b'\n');
    Ok(EncodedRecord(line))
}

fn write_public_key(dir: &Path, key: &SigningKey) -> Result<(), String> {
    let path = dir.join(PUBLIC_KEY_FILE);
    let pem = key.public_key().to_pem();
    if std::fs::read_to_string(&path).ok().as_deref() == Some(pem.as_str()) {
        return Ok(());
    }
    // The public key is not secret; a key from an earlier signing key is replaced (verify
    // takes several --public-key files for logs signed by several keys).
    std::fs::write(&path, pem).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The newest file of a directory, as the next file's header will name it.
fn last_file(dir: &Path) -> Result<Option<Previous>, String> {
    let Some((sequence, path)) = list_files(dir)?.into_iter().next_back() else {
        return Ok(None);
    };
    let file = File::open(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut last = None;
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line = line.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if let Line::Digest(d) = chain::parse_line(&line) {
            last = Some(d);
        }
    }
    Ok(Some(Previous {
        sequence,
        closed: last.as_ref().is_some_and(|d| d.is_final),
        last_digest: last.map(|d| d.as_ref()),
    }))
}

/// The audit files of a directory, by sequence number.
pub fn list_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(seq) = sequence_of(name) {
            out.push((seq, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// `audit-0000000042-20250520T204616Z.jsonl` → 42.
fn sequence_of(name: &str) -> Option<u64> {
    let rest = name.strip_prefix("audit-")?.strip_suffix(".jsonl")?;
    rest.split('-').next()?.parse().ok()
}

fn file_name(sequence: u64, now: time::OffsetDateTime) -> String {
    let t = event_time(now).replace(['-', ':'], "");
    format!("audit-{sequence:010}-{t}.jsonl")
}

struct OpenFile {
    file: File,
    path: PathBuf,
    sequence: u64,
    chain: Chain,
    bytes: u64,
    /// Where the bytes still in the page cache start (whole pages before are dropped).
    cached_from: u64,
    records: u64,
    opened: Instant,
    /// Records since the last digest, and when that digest was written.
    unsigned: u64,
    last_digest_at: Instant,
    /// The last digest written to the file, and one in the buffer not written yet.
    last_digest: Option<Digest>,
    pending_digest: Option<Digest>,
}

/// Page-cache pages are dropped whole; the last, partly written one stays.
const PAGE: u64 = 4096;

impl OpenFile {
    /// Drops the synced whole pages from the page cache. Only advice: a kernel that ignores
    /// it costs memory, not correctness, so a failure is not an error.
    fn drop_cached(&mut self) {
        let end = self.bytes / PAGE * PAGE;
        if let Some(len) = std::num::NonZeroU64::new(end.saturating_sub(self.cached_from)) {
            let advice = rustix::fs::Advice::DontNeed;
            if rustix::fs::fadvise(&self.file, self.cached_from, Some(len), advice).is_ok() {
                self.cached_from = end;
            }
        }
    }
}

struct WriterState {
    config: WriterConfig,
    key: SigningKey,
    file: Option<OpenFile>,
    next_sequence: u64,
    /// What the next file's header names.
    previous: Option<Previous>,
    last_sync: Instant,
    unsynced: usize,
}

/// The niceness of a buffered writer thread (the lowest priority that still gets a share).
const BUFFERED_NICE: i32 = 19;

/// Lowers the calling thread's priority (on Linux, `setpriority` of a thread id affects only
/// that thread). Only a preference: a failure leaves the normal priority.
fn lower_priority() {
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), BUFFERED_NICE) {
        tracing::debug!("audit writer keeps its priority: {e}");
    }
}

/// `write_all` for several slices: `writev` until all are written (std caps each call at the
/// system's limit of slices).
fn write_all_vectored(file: &mut File, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> AuditError {
    AuditError(format!("cannot {what} {}: {e}", path.display()))
}

impl WriterState {
    fn run(mut self, shared: &Shared) {
        if let Durability::Buffered { .. } = self.config.durability {
            lower_priority();
        }
        loop {
            let (batch, closing) = {
                let mut q = shared
                    .queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if q.entries.is_empty() && q.closing.is_none() {
                    q.writer_waiting = true;
                    q = match self.next_deadline() {
                        Some(wait) => {
                            shared
                                .wake
                                .wait_timeout(q, wait)
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .0
                        }
                        None => shared
                            .wake
                            .wait(q)
                            .unwrap_or_else(std::sync::PoisonError::into_inner),
                    };
                    q.writer_waiting = false;
                    // Buffered: gather what arrives in the next moments into one write.
                    if let Durability::Buffered { max_delay, .. } = self.config.durability {
                        if q.closing.is_none()
                            && !q.entries.is_empty()
                            && q.entries.len() < BUFFERED_HIGH_WATER
                        {
                            drop(q);
                            std::thread::sleep(
                                (max_delay / 10).clamp(BUFFERED_GATHER_MIN, BUFFERED_GATHER_MAX),
                            );
                            q = shared
                                .queue
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                        }
                    }
                }
                let batch: Vec<Entry> = q.entries.drain(..).collect();
                (batch, q.closing.take())
            };
            shared.room.add_permits(batch.len());
            if !batch.is_empty() {
                self.write_batch(batch);
                if let Some(f) = &self.file {
                    if let Ok(mut p) = shared.current.lock() {
                        p.clone_from(&f.path);
                    }
                }
            }
            self.timers();
            if let Some(done) = closing {
                if let Err(e) = self.close_file() {
                    tracing::error!("audit log: {e}");
                }
                let mut q = shared
                    .queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                q.closed = true;
                shared.room.close();
                for e in q.entries.drain(..) {
                    if let Some(tx) = e.done {
                        let _ = tx.send(Err(AuditError("the audit log is closed".to_string())));
                    }
                }
                let _ = done.send(());
                return;
            }
        }
    }

    /// How long the thread may sleep before a timer is due.
    fn next_deadline(&self) -> Option<Duration> {
        let now = Instant::now();
        let mut due: Option<Instant> = None;
        let mut at = |t: Instant| due = Some(due.map_or(t, |d| d.min(t)));
        if let Some(f) = &self.file {
            if f.unsigned > 0 {
                at(f.last_digest_at + self.config.digest_interval);
            }
            if f.records > 0 {
                at(f.opened + self.config.rotate_age);
            }
        }
        if let Durability::Buffered { max_delay, .. } = self.config.durability {
            if self.unsynced > 0 {
                at(self.last_sync + max_delay);
            }
        }
        due.map(|d| d.saturating_duration_since(now))
    }

    fn write_batch(&mut self, batch: Vec<Entry>) {
        let n = batch.len();
        let mut waiters = Vec::with_capacity(n);
        let mut lines = Vec::with_capacity(n);
        for e in batch {
            waiters.extend(e.done);
            lines.push(e.line);
        }
        let result = self.write_lines(&lines);
        if let Err(e) = &result {
            tracing::error!(records = n, "audit log: {e}");
            // The file may hold part of the batch; the next write starts a new one, whose
            // header names this one's last digest as unclosed.
            self.abandon_file();
        }
        for w in waiters {
            let _ = w.send(result.clone());
        }
    }

    fn write_lines(&mut self, lines: &[EncodedRecord]) -> Result<(), AuditError> {
        // Lines [start..] are in the current file's chain but not written yet.
        let (mut start, mut pending) = (0, 0u64);
        // A batch takes moments: its age is read once, not for every line.
        let mut aged = self
            .file
            .as_ref()
            .is_some_and(|f| f.opened.elapsed() >= self.config.rotate_age);
        for (i, line) in lines.iter().enumerate() {
            let size = line.0.len() as u64;
            let rotate = self.file.as_ref().is_some_and(|f| {
                f.records > 0 && (aged || f.bytes + pending + size > self.config.rotate_bytes)
            });
            if rotate {
                self.write_out(&lines[start..i], &[])?;
                (start, pending, aged) = (i, 0, false);
                self.close_file()?;
            }
            if self.file.is_none() {
                self.open_file()?;
            }
            let f = self
                .file
                .as_mut()
                .ok_or_else(|| AuditError("no file".into()))?;
            f.chain.push(line.text());
            f.records += 1;
            f.unsigned += 1;
            pending += size;
        }
        let digest_due = self.file.as_ref().is_some_and(|f| {
            f.unsigned > 0 && f.last_digest_at.elapsed() >= self.config.digest_interval
        });
        let mut digest = Vec::new();
        if digest_due {
            self.push_digest(&mut digest, false)?;
        }
        self.write_out(&lines[start..], &digest)?;
        self.unsynced += lines.len();
        match self.config.durability {
            Durability::Sync => self.sync(),
            Durability::Buffered { max_records, .. } if self.unsynced >= max_records => self.sync(),
            Durability::Buffered { .. } => Ok(()),
        }
    }

    /// Appends `lines`, then `tail`, to the current file straight from where they are (no copy
    /// into one buffer: a batch can be megabytes).
    fn write_out(&mut self, lines: &[EncodedRecord], tail: &[u8]) -> Result<(), AuditError> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| AuditError("no file".into()))?;
        let mut slices: Vec<IoSlice<'_>> = lines.iter().map(|l| IoSlice::new(&l.0)).collect();
        if !tail.is_empty() {
            slices.push(IoSlice::new(tail));
        }
        let len: usize = slices.iter().map(|s| s.len()).sum();
        write_all_vectored(&mut f.file, &mut slices).map_err(|e| io_error("write", &f.path, e))?;
        f.bytes += len as u64;
        if let Some(d) = f.pending_digest.take() {
            f.last_digest = Some(d);
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), AuditError> {
        if let Some(f) = &mut self.file {
            f.file
                .sync_data()
                .map_err(|e| io_error("sync", &f.path, e))?;
            f.drop_cached();
        }
        self.unsynced = 0;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Appends a signed digest of the chain so far to `buf` and to the chain.
    fn push_digest(&mut self, buf: &mut Vec<u8>, is_final: bool) -> Result<(), AuditError> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| AuditError("no file".into()))?;
        let mut d = Digest {
            sequence: f.sequence,
            records: f.records,
            chain_hash: f.chain.hex(),
            time: event_time(time::OffsetDateTime::now_utc()),
            is_final,
            key_fingerprint: String::new(),
            signature: String::new(),
        };
        self.key.sign_digest(&mut d);
        let line = chain::digest_line(&d);
        f.chain.push(&line);
        buf.extend_from_slice(&line);
        buf.push(b'\n');
        f.unsigned = 0;
        f.last_digest_at = Instant::now();
        f.pending_digest = Some(d);
        Ok(())
    }

    /// Due digests, syncs and rotations when no record comes to trigger them.
    fn timers(&mut self) {
        let result = (|| {
            let Some(f) = &self.file else { return Ok(()) };
            if f.records > 0 && f.opened.elapsed() >= self.config.rotate_age {
                return self.close_file();
            }
            if f.unsigned > 0 && f.last_digest_at.elapsed() >= self.config.digest_interval {
                let mut digest = Vec::new();
                self.push_digest(&mut digest, false)?;
                self.write_out(&[], &digest)?;
                if self.config.durability == Durability::Sync {
                    self.sync()?;
                }
            }
            if let Durability::Buffered { max_delay, .. } = self.config.durability {
                if self.unsynced > 0 && self.last_sync.elapsed() >= max_delay {
                    self.sync()?;
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            tracing::error!("audit log: {e}");
            self.abandon_file();
        }
    }

    fn open_file(&mut self) -> Result<(), AuditError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let now = time::OffsetDateTime::now_utc();
        let sequence = self.next_sequence;
        let path = self.config.dir.join(file_name(sequence, now));
        let header = Header {
            format_version: chain::FORMAT_VERSION,
            sequence,
            created: event_time(now),
            key_fingerprint: self.key.public_key().fingerprint.clone(),
            previous: self.previous.clone(),
        };
        let line = chain::header_line(&header);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io_error("create", &path, e))?;
        file.write_all(&line)
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error("write", &path, e))?;
        // The new name is durable too.
        File::open(&self.config.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error("sync", &self.config.dir, e))?;
        self.next_sequence = sequence + 1;
        self.file = Some(OpenFile {
            file,
            path,
            sequence,
            chain: Chain::start(&line),
            bytes: line.len() as u64 + 1,
            cached_from: 0,
            records: 0,
            opened: Instant::now(),
            unsigned: 0,
            last_digest_at: Instant::now(),
            last_digest: None,
            pending_digest: None,
        });
        Ok(())
    }

    /// Ends the current file with its final digest, synced.
    fn close_file(&mut self) -> Result<(), AuditError> {
        if self.file.is_none() {
            return Ok(());
        }
        let mut digest = Vec::new();
        self.push_digest(&mut digest, true)?;
        self.write_out(&[], &digest)?;
        self.sync()?;
        if let Some(f) = self.file.take() {
            self.previous = Some(Previous {
                sequence: f.sequence,
                closed: true,
                last_digest: f.last_digest.map(|d| d.as_ref()),
            });
        }
        Ok(())
    }

    /// Drops the current file after a write error, unclosed.
    fn abandon_file(&mut self) {
        if let Some(f) = self.file.take() {
            self.previous = Some(Previous {
                sequence: f.sequence,
                closed: false,
                last_digest: f.last_digest.map(|d| d.as_ref()),
            });
        }
    }
}
