//! The `[limits]` settings at run time: how many messages one person may
//! send a minute (websocket and API together) and how many websockets one
//! person may hold open. Refusals store nothing and say how long to wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::config::LimitsSettings;
use crate::domain::clock::Millis;
use crate::domain::limits::{Window, retry_after_seconds};

const MINUTE_MS: Millis = 60_000;

pub struct Limits {
    sends: Mutex<Window>,
    max_connections: u32,
    connections: Arc<Mutex<HashMap<String, u32>>>,
}

/// A refused send: wait this many whole seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlowDown {
    pub retry_after_seconds: u64,
}

impl SlowDown {
    pub fn message(self) -> String {
        format!(
            "You are sending messages too quickly; wait {} seconds and send again.",
            self.retry_after_seconds
        )
    }
}

impl Limits {
    pub fn new(settings: &LimitsSettings) -> Self {
        Self {
            sends: Mutex::new(Window::new(settings.messages_per_minute, MINUTE_MS)),
            max_connections: settings.websocket_connections_per_person,
            connections: Arc::default(),
        }
    }

    /// Count one message send by this person, or refuse it.
    pub fn admit_send(&self, person_id: &str, now: Millis) -> Result<(), SlowDown> {
        let mut sends = self.sends.lock().unwrap_or_else(|p| p.into_inner());
        sends.admit(person_id, now).map_err(|wait| SlowDown {
            retry_after_seconds: retry_after_seconds(wait),
        })
    }

    /// Hold one of this person's websocket places while the slot lives;
    /// `None` when they already hold all of them.
    pub fn open_connection(&self, person_id: &str) -> Option<ConnectionSlot> {
        let mut open = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(person_id.to_string()).or_default();
        if self.max_connections != 0 && *n >= self.max_connections {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            person_id: person_id.to_string(),
            connections: self.connections.clone(),
        })
    }

    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }
}

/// Gives the place back when the connection ends, however it ends.
pub struct ConnectionSlot {
    person_id: String,
    connections: Arc<Mutex<HashMap<String, u32>>>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.person_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.person_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_is_given_back_when_its_connection_ends() {
        let limits = Limits::new(&LimitsSettings {
            messages_per_minute: 0,
            websocket_connections_per_person: 2,
        });
        let a = limits.open_connection("sam");
        let b = limits.open_connection("sam");
        assert!(a.is_some() && b.is_some());
        assert!(limits.open_connection("sam").is_none());
        assert!(limits.open_connection("tom").is_some());
        drop(a);
        assert!(limits.open_connection("sam").is_some());
    }
}
