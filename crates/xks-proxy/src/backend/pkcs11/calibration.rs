//! How many calls the PKCS#11 backend makes into the module at once: the `concurrency`
//! setting, and the measurement its default (`measure`) runs at start.
//!
//! What is measured: 1 KiB AES-GCM encryptions with the health-check key, from one thread and
//! then from two, [`CALIBRATION_PHASE`] each (and at least `CALIBRATION_MIN_CALLS` calls per
//! thread, within ten phases). A module that gets less than [`CALIBRATION_GAIN`] times as many
//! done from two threads, or whose two threads spend a clearly larger share of their time
//! blocked (Linux `/proc/thread-self/schedstat`: neither running nor waiting for a CPU; see
//! [`CALIBRATION_BLOCKED_RISE`]), serializes its work and is called one call at a time; any
//! other keeps `pool_size` calls at once. `serial` and `pool` choose without measuring.
//!
//! Invariants: the decision is a pure function of the two measurements (`calls_at_once`,
//! tested by a table); the choice is made once, before the proxy takes requests, and what was
//! chosen and why is returned as one line for the log (`Pkcs11Backend::calibration_summary`).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::config::Concurrency;
use super::ops::{self, encrypt_on};
use super::{Pkcs11Backend, HEALTH_AAD};
use crate::backend::BackendError;

/// How long each phase of [`Pkcs11Backend::calibrate_concurrency`] encrypts.
pub const CALIBRATION_PHASE: Duration = Duration::from_millis(150);
/// Calls each calibration thread makes at least (a slow HSM gets up to ten phases for them).
const CALIBRATION_MIN_CALLS: u64 = 20;
/// How much more two threads must get done than one for calls to run concurrently.
pub const CALIBRATION_GAIN: f64 = 1.2;
/// How much the calibrating threads' blocked share of time may grow from one thread to two
/// before calls are taken to contend inside the module (SoftHSMv2: from 0.02 to 0.29–0.36 on
/// an idle machine, to 0.07–0.17 with two busy loops beside it).
pub const CALIBRATION_BLOCKED_RISE: f64 = 0.03;

/// What [`Pkcs11Backend::calibrate_concurrency`] measured and decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// 1 KiB encryptions per second from one thread.
    pub one_thread_per_second: f64,
    /// The same from two threads at once, in all.
    pub two_threads_per_second: f64,
    /// Calls the proxy now runs at once (1 or `pool_size`).
    pub concurrency: usize,
    /// Share of the time the one calibrating thread was blocked (neither running nor waiting
    /// for a CPU), where Linux tells.
    pub one_thread_blocked: Option<f64>,
    /// The same for the two threads.
    pub two_threads_blocked: Option<f64>,
}

#[derive(Debug)]
struct Rate {
    per_second: f64,
    enough_calls: bool,
    /// Of the calibrating threads' time, the share spent neither running nor waiting for a
    /// CPU (`None` where Linux's per-thread schedstat is not available).
    blocked_fraction: Option<f64>,
}

/// Where a thread's time went over a stretch: elapsed, on a CPU, and waiting for one (Linux
/// `/proc/thread-self/schedstat`, nanoseconds; `None` elsewhere). Waiting for a CPU is what other
/// load on the machine adds; the rest, blocked, is what the module's own locks (or its network
/// round trips) add.
#[derive(Debug, Clone, Copy)]
struct ThreadTimes {
    wall: Duration,
    on_cpu_ns: Option<u64>,
    runqueue_ns: Option<u64>,
}

/// The calling thread's schedstat counters at one instant.
struct SchedSnapshot {
    at: Instant,
    on_cpu_ns: Option<u64>,
    runqueue_ns: Option<u64>,
}

impl SchedSnapshot {
    fn now() -> SchedSnapshot {
        let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
        let mut fields = stat.split_whitespace().map(|f| f.parse::<u64>().ok());
        SchedSnapshot {
            at: Instant::now(),
            on_cpu_ns: fields.next().flatten(),
            runqueue_ns: fields.next().flatten(),
        }
    }

    /// The same thread's times since this snapshot.
    fn elapsed(&self) -> ThreadTimes {
        let now = SchedSnapshot::now();
        let diff = |a: Option<u64>, b: Option<u64>| Some(a?.saturating_sub(b?));
        ThreadTimes {
            wall: now.at.saturating_duration_since(self.at),
            on_cpu_ns: diff(now.on_cpu_ns, self.on_cpu_ns),
            runqueue_ns: diff(now.runqueue_ns, self.runqueue_ns),
        }
    }
}

impl ThreadTimes {
    const ZERO: ThreadTimes = ThreadTimes {
        wall: Duration::ZERO,
        on_cpu_ns: Some(0),
        runqueue_ns: Some(0),
    };

    fn plus(self, o: &ThreadTimes) -> ThreadTimes {
        let sum = |a: Option<u64>, b: Option<u64>| Some(a?.saturating_add(b?));
        ThreadTimes {
            wall: self.wall + o.wall,
            on_cpu_ns: sum(self.on_cpu_ns, o.on_cpu_ns),
            runqueue_ns: sum(self.runqueue_ns, o.runqueue_ns),
        }
    }

    /// The share of the elapsed time spent neither on a CPU nor waiting for one.
    fn blocked_fraction(&self) -> Option<f64> {
        let wall = u64::try_from(self.wall.as_nanos()).ok()?;
        if wall == 0 {
            return None;
        }
        let busy = self.on_cpu_ns?.saturating_add(self.runqueue_ns?);
        Some(wall.saturating_sub(busy) as f64 / wall as f64)
    }
}

fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "?".to_string(), |s| format!("{:.0}%", s * 100.0))
}

/// The calibration's decision: one call at a time if a second thread does not add
/// [`CALIBRATION_GAIN`], or if it makes the threads block on each other (their blocked share
/// of time at least doubles and grows by [`CALIBRATION_BLOCKED_RISE`]) — both phases having
/// made enough calls to tell; else `pool_size`. The second test is what tells a serializing
/// module while other work loads the machine: then two threads get a bigger share of the CPUs
/// than one and do more calls, but they still wait for each other, which waiting for a CPU
/// (not counted as blocked) does not hide.
fn calls_at_once(pool_size: usize, one: &Rate, two: &Rate) -> usize {
    let no_gain = two.per_second < one.per_second * CALIBRATION_GAIN;
    let contended = match (one.blocked_fraction, two.blocked_fraction) {
        (Some(a), Some(b)) => b - a > CALIBRATION_BLOCKED_RISE && b >= 2.0 * a,
        _ => false,
    };
    let serializes =
        pool_size > 1 && one.enough_calls && two.enough_calls && (no_gain || contended);
    if serializes {
        1
    } else {
        pool_size
    }
}

impl Pkcs11Backend {
    /// Measures whether calls into the module overlap: 1 KiB encryptions with the health-check
    /// key, from one thread and then from two, [`CALIBRATION_PHASE`] each. A module that does
    /// not get [`CALIBRATION_GAIN`] times as many done from two threads (SoftHSMv2, which
    /// serializes on its own locks, does about half as many) is then called one call at a
    /// time; any other keeps `pool_size` concurrent calls. Measures whatever `concurrency`
    /// says; `serve` calls it (through [`KeyBackend::calibrate`]) only for `measure`, once,
    /// before the proxy takes requests.
    ///
    /// [`KeyBackend::calibrate`]: crate::backend::KeyBackend::calibrate
    pub fn calibrate_concurrency(&self) -> Result<Calibration, BackendError> {
        let one = self.calibration_rate(1)?;
        let two = self.calibration_rate(2)?;
        let concurrency = calls_at_once(self.cfg.pool_size, &one, &two);
        self.concurrency.store(concurrency, Ordering::Relaxed);
        Ok(Calibration {
            one_thread_per_second: one.per_second,
            two_threads_per_second: two.per_second,
            concurrency,
            one_thread_blocked: one.blocked_fraction,
            two_threads_blocked: two.blocked_fraction,
        })
    }

    fn calibration_rate(&self, threads: usize) -> Result<Rate, BackendError> {
        let plaintext = [0x5au8; 1024];
        let label = &self.cfg.health_key_label;
        let started = Instant::now();
        let per_thread = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| -> Result<(u64, ThreadTimes), BackendError> {
                        let before = SchedSnapshot::now();
                        let mut n = 0u64;
                        while started.elapsed() < CALIBRATION_PHASE
                            || (n < CALIBRATION_MIN_CALLS
                                && started.elapsed() < CALIBRATION_PHASE * 10)
                        {
                            match self.run(|session, _| {
                                encrypt_on(&self.handles, session, label, &plaintext, HEALTH_AAD)
                            }) {
                                Ok(_) => n += 1,
                                // Every session is held by the other calibrating thread (a
                                // pool smaller than the threads): contention, which is what
                                // this measures, not a failure.
                                Err(BackendError::Busy) => {}
                                Err(e) => return Err(e),
                            }
                        }
                        Ok((n, before.elapsed()))
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|_| Err(ops::internal("calibration thread panicked")))
                })
                .collect::<Result<Vec<(u64, ThreadTimes)>, BackendError>>()
        })?;
        let total: u64 = per_thread.iter().map(|(n, _)| n).sum();
        let times = per_thread
            .iter()
            .fold(ThreadTimes::ZERO, |a, (_, t)| a.plus(t));
        Ok(Rate {
            per_second: total as f64 / started.elapsed().as_secs_f64().max(1e-9),
            enough_calls: per_thread.iter().all(|(n, _)| *n >= CALIBRATION_MIN_CALLS),
            blocked_fraction: times.blocked_fraction(),
        })
    }

    /// Applies the `concurrency` setting: measures when it is `measure`, and says in one line
    /// what was chosen and why (the proxy logs it at start).
    pub(super) fn calibration_summary(&self) -> String {
        let token = &self.cfg.token_label;
        let setting = self.cfg.concurrency.as_str();
        match self.cfg.concurrency {
            Concurrency::Measure => match self.calibrate_concurrency() {
                Ok(c) => format!(
                    "PKCS#11 token {token:?}: {:.0} encryptions/s from one thread, {:.0}/s from two \
                     (blocked {} / {} of the time): {} call(s) at a time{} \
                     (concurrency = \"{setting}\")",
                    c.one_thread_per_second,
                    c.two_threads_per_second,
                    percent(c.one_thread_blocked),
                    percent(c.two_threads_blocked),
                    c.concurrency,
                    if c.concurrency == 1 && self.cfg.pool_size > 1 {
                        " (the module serializes its work)"
                    } else {
                        ""
                    }
                ),
                Err(e) => format!(
                    "PKCS#11 token {token:?}: calibration failed ({e}); {} calls at a time \
                     (concurrency = \"{setting}\")",
                    self.cfg.pool_size
                ),
            },
            Concurrency::Serial | Concurrency::Pool => format!(
                "PKCS#11 token {token:?}: {} call(s) at a time, as configured \
                 (concurrency = \"{setting}\"; not measured)",
                self.concurrency.load(Ordering::Relaxed)
            ),
        }
    }
}

/// Calls at once before any measurement: what `concurrency` says, `pool_size` until measured.
pub(super) fn initial_calls_at_once(concurrency: Concurrency, pool_size: usize) -> usize {
    match concurrency {
        Concurrency::Serial => 1,
        Concurrency::Measure | Concurrency::Pool => pool_size,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn calibration_decision() {
        use super::{calls_at_once, Rate};
        let r = |per_second: f64| Rate {
            per_second,
            enough_calls: true,
            blocked_fraction: None,
        };
        // (pool, one thread, two threads, calls at once)
        for (pool, one, two, want) in [
            (8, 54_000.0, 30_000.0, 1), // SoftHSMv2: slower from two threads
            (8, 54_000.0, 60_000.0, 1), // barely faster: not worth the context switches
            (8, 500.0, 990.0, 8),       // network HSM: calls overlap
            (8, 20_000.0, 30_000.0, 8), // CPU work that runs in parallel
            (1, 54_000.0, 30_000.0, 1),
            (4, 54_000.0, 30_000.0, 1),
        ] {
            assert_eq!(calls_at_once(pool, &r(one), &r(two)), want, "{one} / {two}");
        }
        // Blocked share of time, one thread then two: contention shows even when the machine's
        // other load lets two threads do more calls than one.
        let b = |per_second: f64, blocked: f64| Rate {
            per_second,
            enough_calls: true,
            blocked_fraction: Some(blocked),
        };
        for (one, two, want) in [
            (b(11_600.0, 0.017), b(21_600.0, 0.175), 1), // SoftHSM beside two busy loops
            (b(8_800.0, 0.002), b(25_000.0, 0.073), 1),
            (b(500.0, 0.99), b(990.0, 0.99), 8), // network HSM: always waiting
            (b(20_000.0, 0.004), b(39_000.0, 0.009), 8), // parallel CPU work: noise only
            (b(2_000.0, 0.80), b(3_900.0, 0.82), 8), // local HSM that overlaps calls
        ] {
            assert_eq!(calls_at_once(8, &one, &two), want, "{one:?} / {two:?}");
        }
        // Too few calls to tell (a very slow HSM): keep the pool.
        let few = Rate {
            per_second: 10.0,
            enough_calls: false,
            blocked_fraction: None,
        };
        assert_eq!(calls_at_once(8, &few, &r(5.0)), 8);
    }

    #[test]
    fn explicit_settings_need_no_measurement() {
        use super::{initial_calls_at_once, Concurrency};
        assert_eq!(initial_calls_at_once(Concurrency::Serial, 8), 1);
        assert_eq!(initial_calls_at_once(Concurrency::Pool, 8), 8);
        assert_eq!(initial_calls_at_once(Concurrency::Measure, 8), 8);
        assert_eq!(initial_calls_at_once(Concurrency::Serial, 1), 1);
    }
}
