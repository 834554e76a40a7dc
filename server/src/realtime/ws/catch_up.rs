//! Catching a connection up from the database: what its channels hold
//! beyond what it was sent, after messages were dropped from its full queue
//! or a gap could not be filled while the database was away.

use super::{CATCH_UP_FIRST, CATCH_UP_LONGEST, Connection, Flow, REPLAY_PAGE, Sink, guarded};
use futures_util::SinkExt;

use crate::store::messages;
use tokio::time::Instant;

impl Connection {
    /// Send, in order, whatever the channels in `behind` hold beyond what
    /// this client was sent. A channel the database cannot be read for
    /// just now stays behind and is tried again after a pause (doubling up
    /// to `CATCH_UP_LONGEST`): the socket stays open meanwhile.
    pub(super) async fn catch_up(&mut self, sink: &mut Sink) -> Flow {
        let flags = self.flags.clone();
        let channels: Vec<String> = self.behind.iter().cloned().collect();
        let now = self.state.now();
        for channel in channels {
            loop {
                // Unsubscribed, or membership run out (the next live event
                // says so to the client): nothing more to send.
                let Some(from) = self
                    .subs
                    .get(&channel)
                    .filter(|s| s.expires_at.is_none_or(|e| now < e))
                    .map(|s| s.last_sent)
                else {
                    self.behind.remove(&channel);
                    break;
                };
                let waiting = flags.waiting();
                let page =
                    messages::after_unchecked(&self.state.db, &channel, from, REPLAY_PAGE).await;
                drop(waiting);
                let page = match page {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot catch a connection up yet");
                        break;
                    }
                };
                for m in &page {
                    if self.feed_message(m, sink).await.is_err() {
                        return Flow::Close(1000, "");
                    }
                }
                if (page.len() as i64) < REPLAY_PAGE {
                    self.behind.remove(&channel);
                    break;
                }
            }
        }
        if self.behind.is_empty() {
            self.catch_up_at = None;
            self.catch_up_pause = CATCH_UP_FIRST;
        } else {
            self.catch_up_at = Some(Instant::now() + self.catch_up_pause);
            self.catch_up_pause = (self.catch_up_pause * 2).min(CATCH_UP_LONGEST);
        }
        match guarded(&self.kicked, sink.flush()).await {
            Ok(()) => Flow::Continue,
            Err(()) => Flow::Close(1000, ""),
        }
    }
}
