//! The client's actions on a connection: sending a message (through the
//! single writer), marking read, and typing notices. Each is authorised by
//! the subscription's access where there is one (`Connection::authorize`).

use serde_json::{Value, json};

use super::throttle;
use super::{Connection, store_error};
use crate::domain::channels::check_message;
use crate::realtime::hub::Outbound;
use crate::realtime::protocol::{self, FrameError};
use crate::store::messages::Post;
use crate::store::people;
use crate::store::receipts;

impl Connection {
    pub(super) async fn send_message(
        &mut self,
        id: Option<String>,
        channel: String,
        client_id: String,
        body: String,
        restricted_to: Option<protocol::Restriction>,
    ) -> Result<Value, FrameError> {
        throttle::admit_send(&self.state, &id, &self.viewer.person_id)?;
        let restriction = restricted_to
            .as_ref()
            .map(|r| (r.audience(), r.reason.clone()));
        check_message(
            &client_id,
            &body,
            restriction.as_ref().map(|(a, r)| (a, r.as_str())),
        )
        .map_err(|e| FrameError::new(id.clone(), e.code(), e.message()))?;
        let access = self.authorize(&id, &channel).await?;
        if let Some((audience, _)) = &restriction
            && !people::all_exist(&self.state.db, &audience.agencies, &audience.people)
                .await
                .map_err(|e| store_error(&id, e))?
        {
            return Err(FrameError::new(
                id,
                "bad_restriction",
                "restricted_to names an unknown agency or person.",
            ));
        }
        let posted = self
            .state
            .writer
            .post(Post {
                channel_id: access.channel_id().to_string(),
                author_id: self.viewer.person_id.clone(),
                client_id: client_id.clone(),
                body,
                restricted: restriction,
            })
            .await
            .map_err(|e| store_error(&id, e))?;
        Ok(json!({
            "type": "ack",
            "id": id,
            "channel": channel,
            "client_id": client_id,
            "seq": posted.message.seq,
            "message_id": posted.message.id,
            "duplicate": posted.duplicate,
        }))
    }

    pub(super) async fn read(
        &mut self,
        id: Option<String>,
        channel: String,
        seq: i64,
    ) -> Result<Value, FrameError> {
        let access = self.authorize(&id, &channel).await?;
        let now = self.state.now();
        let advanced = receipts::mark_read(&self.state.db, &access, seq, now)
            .await
            .map_err(|e| store_error(&id, e))?;
        if let Some(at) = advanced {
            self.state.hub.publish(
                &channel,
                Outbound::Receipt {
                    channel: channel.clone(),
                    who: self.someone.clone(),
                    seq,
                    at,
                },
                None,
            );
        }
        Ok(json!({ "type": "ok", "id": id }))
    }

    pub(super) fn typing(
        &mut self,
        id: Option<String>,
        channel: String,
    ) -> Result<Value, FrameError> {
        if !self.subs.contains_key(&channel) {
            return Err(FrameError::new(
                id,
                "not_subscribed",
                "Subscribe to the channel first.",
            ));
        }
        if !self.throttle.typing_due(&channel) {
            return Ok(Value::Null);
        }
        self.state.hub.publish(
            &channel,
            Outbound::Typing {
                channel: channel.clone(),
                who: self.someone.clone(),
            },
            Some(self.id),
        );
        Ok(Value::Null)
    }
}
