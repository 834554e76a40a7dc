//! How often one connection may do things: send messages (the per-person
//! `[limits] messages_per_minute` window, shared with the JSON API and the
//! pages), announce typing (once a channel every two seconds), and record
//! activity on its session (the store only moves `last_seen_at` once a
//! minute, so asking it on every send is a wasted statement; on SQLite, a
//! write lock taken outside the writer's turn).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::clock::Millis;
use crate::http::AppState;
use crate::realtime::protocol::FrameError;

const TYPING_EVERY: Duration = Duration::from_secs(2);

#[derive(Default)]
pub(super) struct Throttle {
    last_typing: HashMap<String, Instant>,
    touched_at: Option<Millis>,
}

impl Throttle {
    /// Whether a typing notice on `channel` goes out now (and note it if so).
    pub(super) fn typing_due(&mut self, channel: &str) -> bool {
        let now = Instant::now();
        if self
            .last_typing
            .get(channel)
            .is_some_and(|t| now.duration_since(*t) < TYPING_EVERY)
        {
            return false;
        }
        self.last_typing.insert(channel.to_string(), now);
        true
    }

    /// Whether to record session activity now (and note it if so).
    pub(super) fn touch_due(&mut self, now: Millis) -> bool {
        if self
            .touched_at
            .is_some_and(|t| now - t < crate::store::sessions::TOUCH_EVERY_MS / 2)
        {
            return false;
        }
        self.touched_at = Some(now);
        true
    }
}

/// The person's send window: a refusal is a `rate_limited` error frame, and
/// nothing is stored.
pub(super) fn admit_send(
    state: &AppState,
    id: &Option<String>,
    person_id: &str,
) -> Result<(), FrameError> {
    state
        .limits
        .admit_send(person_id, state.clock.now_ms())
        .map_err(|s| FrameError::new(id.clone(), "rate_limited", s.message()))
}
