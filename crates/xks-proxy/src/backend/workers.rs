//! Long-lived threads that run the calls of a blocking backend, fed by a bounded queue: one
//! channel send and one wake-up per call instead of a hand-off to tokio's blocking pool.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use super::{BackendError, KeyBackend};

type Job = Box<dyn FnOnce(&dyn KeyBackend) + Send>;

/// The answer to a submitted call: `Err` if the call panicked.
pub type Reply<T> = oneshot::Receiver<std::thread::Result<Result<T, BackendError>>>;

/// A fixed set of threads running calls on one backend. The threads exit once this is dropped
/// and the queue is drained.
pub struct Workers {
    tx: SyncSender<Job>,
}

impl Workers {
    /// Starts `threads` threads (at least one) with room for `queue` waiting calls.
    pub fn start(
        backend: Arc<dyn KeyBackend>,
        threads: usize,
        queue: usize,
        name: &str,
    ) -> std::io::Result<Workers> {
        let (tx, rx) = sync_channel::<Job>(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let backend = backend.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || work(&rx, backend.as_ref()))?;
        }
        Ok(Workers { tx })
    }

    /// Queues a call; [`BackendError::Busy`] if the queue is full.
    pub fn submit<T, F>(&self, f: F) -> Result<Reply<T>, BackendError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn KeyBackend) -> Result<T, BackendError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: Job = Box::new(move |b| {
            // The caller gave up (timed out) while the call waited: skip it.
            if reply.is_closed() {
                return;
            }
            let _ = reply.send(catch_unwind(AssertUnwindSafe(|| f(b))));
        });
        match self.tx.try_send(job) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(BackendError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(BackendError::Unavailable(
                "the backend worker threads have stopped".into(),
            )),
        }
    }
}

fn work(rx: &Mutex<Receiver<Job>>, backend: &dyn KeyBackend) {
    loop {
        let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(backend),
            Err(_) => return,
        }
    }
}
