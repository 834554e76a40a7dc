//! Limits on how fast one person may act, so one runaway client (or a
//! stolen session) cannot flood a case's channels or the server: a sliding
//! window of recent events per key. Pure: the caller passes the time
//! (STYLE.md habit 6), so a test chooses the instants.

use std::collections::{HashMap, VecDeque};

use super::clock::Millis;

/// At most `max` events per `window_ms` for each key (a person's id); 0
/// means no limit.
#[derive(Debug)]
pub struct Window {
    max: usize,
    window_ms: Millis,
    seen: HashMap<String, VecDeque<Millis>>,
}

impl Window {
    pub fn new(max: u32, window_ms: Millis) -> Self {
        Self {
            max: max as usize,
            window_ms,
            seen: HashMap::new(),
        }
    }

    /// Count an event for `key` at `now` if the window has room; otherwise
    /// count nothing and return how long until it has, in milliseconds.
    pub fn admit(&mut self, key: &str, now: Millis) -> Result<(), Millis> {
        if self.max == 0 {
            return Ok(());
        }
        let events = self.seen.entry(key.to_string()).or_default();
        while events.front().is_some_and(|t| *t <= now - self.window_ms) {
            events.pop_front();
        }
        if events.len() >= self.max {
            let oldest = events.front().copied().unwrap_or(now);
            return Err((oldest + self.window_ms - now).max(1));
        }
        events.push_back(now);
        // Forget people who have been quiet for a whole window.
        if self.seen.len() > 4096 {
            let cutoff = now - self.window_ms;
            self.seen
                .retain(|_, e| e.back().is_some_and(|last| *last > cutoff));
        }
        Ok(())
    }
}

/// Whole seconds to wait, rounded up, for a `Retry-After` header.
pub fn retry_after_seconds(ms: Millis) -> u64 {
    (ms.max(1) as u64).div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Millis = 60_000;

    #[test]
    fn a_person_at_the_limit_waits_until_the_oldest_event_leaves_the_window() {
        let mut w = Window::new(3, MINUTE);
        for t in [0, 10_000, 20_000] {
            assert_eq!(w.admit("sam", t), Ok(()));
        }
        assert_eq!(w.admit("sam", 30_000), Err(30_000));
        // A refused event is not counted: the wait does not grow.
        assert_eq!(w.admit("sam", 59_999), Err(1));
        assert_eq!(w.admit("sam", 60_000), Ok(()));
        assert_eq!(w.admit("sam", 60_001), Err(9_999));
    }

    #[test]
    fn one_person_at_the_limit_does_not_limit_another() {
        let mut w = Window::new(1, MINUTE);
        assert_eq!(w.admit("sam", 0), Ok(()));
        assert!(w.admit("sam", 1).is_err());
        assert_eq!(w.admit("tom", 1), Ok(()));
    }

    #[test]
    fn zero_means_no_limit() {
        let mut w = Window::new(0, MINUTE);
        for t in 0..1000 {
            assert_eq!(w.admit("sam", t), Ok(()));
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(1), 1);
        assert_eq!(retry_after_seconds(1000), 1);
        assert_eq!(retry_after_seconds(1001), 2);
        assert_eq!(retry_after_seconds(0), 1);
    }
}
