//! Wall clocks and the hybrid logical clock that stamps every LogGroup (design §4).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A source of wall-clock time, injectable so tests never sleep.
pub trait Clock: Send + Sync + 'static {
    /// Unix time in milliseconds.
    fn now_millis(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock {
    millis: AtomicU64,
}

impl ManualClock {
    /// A clock reading `start_millis`.
    pub fn new(start_millis: u64) -> Self {
        Self {
            millis: AtomicU64::new(start_millis),
        }
    }

    /// Sets the time.
    pub fn set(&self, millis: u64) {
        self.millis.store(millis, Ordering::SeqCst);
    }

    /// Moves the time forward.
    pub fn advance(&self, millis: u64) {
        self.millis.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.millis.load(Ordering::SeqCst)
    }
}

/// A cluster timestamp: `seconds << 32 | increment`, ordered as an integer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Hlc(pub u64);

impl Hlc {
    /// A timestamp from its parts.
    pub fn from_parts(secs: u32, increment: u32) -> Self {
        Hlc((u64::from(secs) << 32) | u64::from(increment))
    }

    /// Unix seconds.
    pub fn secs(&self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// Ordinal within the second.
    pub fn increment(&self) -> u32 {
        self.0 as u32
    }
}

/// One hybrid logical clock per process: strictly increasing stamps across all shards.
pub struct HybridClock {
    wall: Arc<dyn Clock>,
    last: AtomicU64,
}

impl HybridClock {
    /// A clock over `wall`.
    pub fn new(wall: Arc<dyn Clock>) -> Self {
        Self {
            wall,
            last: AtomicU64::new(0),
        }
    }

    /// Wall-clock milliseconds.
    pub fn wall_millis(&self) -> u64 {
        self.wall.now_millis()
    }

    /// A new stamp, greater than every stamp issued or observed before. Its seconds are the wall
    /// clock's unless an earlier stamp is ahead; the increment restarts at 1 in a new second.
    pub fn tick(&self) -> Hlc {
        let wall_secs = (self.wall.now_millis() / 1000).min(u64::from(u32::MAX));
        let mut last = self.last.load(Ordering::Acquire);
        loop {
            let prev = Hlc(last);
            let next = if wall_secs > u64::from(prev.secs()) {
                Hlc::from_parts(wall_secs as u32, 1)
            } else if prev.increment() == u32::MAX {
                Hlc::from_parts(prev.secs() + 1, 1)
            } else {
                Hlc(prev.0 + 1)
            };
            match self
                .last
                .compare_exchange_weak(last, next.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return next,
                Err(actual) => last = actual,
            }
        }
    }

    /// Makes sure later stamps are greater than `seen`.
    pub fn observe(&self, seen: Hlc) {
        self.last.fetch_max(seen.0, Ordering::AcqRel);
    }

    /// The last stamp issued or observed.
    pub fn peek(&self) -> Hlc {
        Hlc(self.last.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_increase_within_and_across_seconds() {
        let wall = Arc::new(ManualClock::new(5_000));
        let hlc = HybridClock::new(wall.clone());
        assert_eq!(hlc.tick(), Hlc::from_parts(5, 1));
        assert_eq!(hlc.tick(), Hlc::from_parts(5, 2));
        wall.set(7_500);
        assert_eq!(hlc.tick(), Hlc::from_parts(7, 1));
        wall.set(1_000); // the wall clock goes back
        assert_eq!(hlc.tick(), Hlc::from_parts(7, 2));
        hlc.observe(Hlc::from_parts(9, 4));
        assert_eq!(hlc.tick(), Hlc::from_parts(9, 5));
        assert_eq!(hlc.peek(), Hlc::from_parts(9, 5));
    }

    #[test]
    fn observe_never_moves_the_clock_back() {
        let wall = Arc::new(ManualClock::new(10_000));
        let hlc = HybridClock::new(wall.clone());
        assert_eq!(hlc.peek(), Hlc(0), "nothing issued yet");
        hlc.observe(Hlc::from_parts(20, 7));
        hlc.observe(Hlc::from_parts(15, 1));
        assert_eq!(hlc.peek(), Hlc::from_parts(20, 7));
        assert_eq!(hlc.tick(), Hlc::from_parts(20, 8));
        // A full second carries into the next one.
        hlc.observe(Hlc::from_parts(20, u32::MAX));
        assert_eq!(hlc.tick(), Hlc::from_parts(21, 1));
        wall.advance(60_000);
        assert_eq!(hlc.tick(), Hlc::from_parts(70, 1));
        assert_eq!(hlc.wall_millis(), 70_000);
    }

    #[test]
    fn concurrent_ticks_are_unique() {
        let hlc = Arc::new(HybridClock::new(Arc::new(ManualClock::new(1_000))));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let h = hlc.clone();
                std::thread::spawn(move || (0..10_000).map(|_| h.tick().0).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }
}
