//! The proxy's source of "now" for the decisions that depend on how much time passed: cache
//! lifetimes (key attributes, the software keystore's file check, health results), the
//! PKCS#11 re-initialization interval and the tenants' request quotas.
//!
//! Invariants: a [`Clock`] is monotonic (`now` never goes back) and cheap to clone (clones
//! share one time line). A running proxy's clock is the system's monotonic clock; the only
//! other kind, a `ManualClock` that moves when told, exists only with the `test-clock`
//! feature, which nothing but this crate's own tests enables: no configuration, command or
//! request can move a proxy's time. Waiting (timeouts, session waits, background periods) is
//! not on this clock: it is real waiting for something to happen.

use std::time::{Duration, Instant};

/// Where time-dependent logic reads the current instant. The default is the system clock.
#[derive(Clone, Default)]
pub struct Clock {
    #[cfg(feature = "test-clock")]
    manual: Option<std::sync::Arc<manual::Shared>>,
}

impl Clock {
    /// The system's monotonic clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// The current instant on this clock.
    pub fn now(&self) -> Instant {
        #[cfg(feature = "test-clock")]
        if let Some(m) = &self.manual {
            return m.now();
        }
        Instant::now()
    }

    /// How long ago `earlier` (an instant of this clock) was; zero if it is not in the past.
    pub fn since(&self, earlier: Instant) -> Duration {
        self.now().saturating_duration_since(earlier)
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[cfg(feature = "test-clock")]
        if self.manual.is_some() {
            return f.write_str("Clock(manual)");
        }
        f.write_str("Clock(system)")
    }
}

/// The rate limiters of tenant quotas read this clock too.
impl governor::clock::Clock for Clock {
    type Instant = Instant;

    fn now(&self) -> Instant {
        Clock::now(self)
    }
}

#[cfg(feature = "test-clock")]
pub use manual::ManualClock;

#[cfg(feature = "test-clock")]
mod manual {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::Clock;

    pub(super) struct Shared {
        origin: Instant,
        /// Nanoseconds the clock was moved past `origin`.
        offset_ns: AtomicU64,
    }

    impl Shared {
        pub(super) fn now(&self) -> Instant {
            self.origin + Duration::from_nanos(self.offset_ns.load(Ordering::SeqCst))
        }
    }

    /// Test support: a clock that stands still until [`ManualClock::advance`] moves it, so a
    /// test makes time pass instead of sleeping.
    #[derive(Clone)]
    pub struct ManualClock(Arc<Shared>);

    impl Default for ManualClock {
        fn default() -> ManualClock {
            ManualClock::new()
        }
    }

    impl ManualClock {
        /// A clock standing at the current system instant.
        pub fn new() -> ManualClock {
            ManualClock(Arc::new(Shared {
                origin: Instant::now(),
                offset_ns: AtomicU64::new(0),
            }))
        }

        /// The [`Clock`] to hand to the code under test; it follows this one.
        pub fn clock(&self) -> Clock {
            Clock {
                manual: Some(self.0.clone()),
            }
        }

        /// Moves the clock forward by `by`.
        pub fn advance(&self, by: Duration) {
            let ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
            self.0.offset_ns.fetch_add(ns, Ordering::SeqCst);
        }
    }

    impl std::fmt::Debug for ManualClock {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "ManualClock(+{:?})", self.0.now() - self.0.origin)
        }
    }
}

#[cfg(all(test, feature = "test-clock"))]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let manual = ManualClock::new();
        let clock = manual.clock();
        let start = clock.now();
        std::thread::sleep(Duration::from_millis(5)); // real time passing must not show
        assert_eq!(clock.now(), start);
        manual.advance(Duration::from_secs(3));
        assert_eq!(clock.since(start), Duration::from_secs(3));
        assert_eq!(
            manual.clock().now(),
            clock.now(),
            "clones share one time line"
        );
        assert_eq!(
            clock.since(clock.now() + Duration::from_secs(1)),
            Duration::ZERO
        );
    }
}

#[cfg(test)]
mod system_tests {
    use super::*;

    #[test]
    fn the_system_clock_is_monotonic() {
        let clock = Clock::system();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
        assert_eq!(format!("{clock:?}"), "Clock(system)");
    }
}
