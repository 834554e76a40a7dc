//! Messages: stored before they are acknowledged, numbered by a gap-free
//! per-channel sequence, idempotent on the sender's `client_id`; edits and
//! redactions keep every earlier text; read receipts and the delivery log.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::channels::ChannelAccess;
use super::{Conn, Db, StoreError, StoreResult};
use crate::domain::channels::{Audience, Sight, Viewer, may_edit, sight};
use crate::domain::clock::Millis;

mod batch;
mod insert;

pub use insert::{insert_batch, insert_batch_carrying, insert_sealed_batch_carrying, seal};

/// A message as stored, with what is needed to show it to anyone.
#[derive(Clone, Debug)]
pub struct StoredMessage {
    pub id: String,
    pub channel_id: String,
    pub seq: i64,
    pub author_id: String,
    pub author_name: String,
    pub author_agency_id: String,
    pub author_agency_name: String,
    pub client_id: String,
    pub body: String,
    pub created_at: Millis,
    pub edited_at: Option<Millis>,
    pub redacted_at: Option<Millis>,
    pub redacted_by_name: Option<String>,
    /// `Some` when restricted: who may see it besides the author.
    pub restricted_to: Option<Audience>,
    pub restriction_reason: Option<String>,
    /// The `message` frame as every member but the author sees an
    /// unrestricted message, rendered once and shared by all of them.
    pub frame_for_others: std::sync::OnceLock<Utf8Bytes>,
}

impl StoredMessage {
    /// The websocket `message` frame for this viewer. An unrestricted
    /// message looks the same to everyone but its author (who also sees
    /// their `client_id`), so it is rendered once for all of them, and
    /// every recipient's socket shares that one buffer (a reference count,
    /// not a copy).
    pub fn frame(&self, viewer: &Viewer) -> Utf8Bytes {
        let render = || {
            let frame = Frame {
                kind: "message",
                channel: &self.channel_id,
                seq: self.seq,
                message: self.view_of(viewer),
            };
            // Strings, numbers and optional ones only: serialising cannot fail.
            Utf8Bytes::from(serde_json::to_string(&frame).unwrap_or_default())
        };
        if self.restricted_to.is_none() && viewer.person_id != self.author_id {
            self.frame_for_others.get_or_init(render).clone()
        } else {
            render()
        }
    }

    pub fn sight_for(&self, viewer: &Viewer) -> Sight {
        sight(viewer, &self.author_id, self.restricted_to.as_ref())
    }

    /// The message as one viewer may see it, as JSON (the protocol's `message` object).
    pub fn view(&self, viewer: &Viewer) -> serde_json::Value {
        serde_json::to_value(self.view_of(viewer)).unwrap_or_default()
    }

    /// The protocol's `message` object for one viewer, serialised straight
    /// from the message's fields (session 9: building a `serde_json::Value`
    /// first, then its text, was 4–5% of the server's CPU under load).
    fn view_of<'a>(&'a self, viewer: &Viewer) -> View<'a> {
        if self.sight_for(viewer) == Sight::Placeholder {
            return View::Placeholder {
                id: &self.id,
                channel: &self.channel_id,
                seq: self.seq,
                created_at: self.created_at,
                restricted: true,
                visible: false,
            };
        }
        View::Full {
            id: &self.id,
            channel: &self.channel_id,
            seq: self.seq,
            author: Author {
                id: &self.author_id,
                name: &self.author_name,
                agency_id: &self.author_agency_id,
                agency: &self.author_agency_name,
            },
            client_id: (viewer.person_id == self.author_id).then_some(self.client_id.as_str()),
            body: if self.redacted_at.is_some() {
                ""
            } else {
                &self.body
            },
            created_at: self.created_at,
            edited_at: self.edited_at,
            redacted_at: self.redacted_at,
            redacted_by: self.redacted_by_name.as_deref(),
            restricted: self.restricted_to.is_some(),
            restricted_to: self.restricted_to.as_ref(),
            restriction_reason: self.restriction_reason.as_deref(),
            visible: true,
        }
    }
}

/// A `message` frame.
#[derive(serde::Serialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    channel: &'a str,
    seq: i64,
    message: View<'a>,
}

/// The protocol's `message` object: in full, or the placeholder of a
/// restricted message the viewer may not see.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum View<'a> {
    Placeholder {
        id: &'a str,
        channel: &'a str,
        seq: i64,
        created_at: Millis,
        restricted: bool,
        visible: bool,
    },
    Full {
        id: &'a str,
        channel: &'a str,
        seq: i64,
        author: Author<'a>,
        client_id: Option<&'a str>,
        body: &'a str,
        created_at: Millis,
        edited_at: Option<Millis>,
        redacted_at: Option<Millis>,
        redacted_by: Option<&'a str>,
        restricted: bool,
        restricted_to: Option<&'a Audience>,
        restriction_reason: Option<&'a str>,
        visible: bool,
    },
}

#[derive(serde::Serialize)]
struct Author<'a> {
    id: &'a str,
    name: &'a str,
    agency_id: &'a str,
    agency: &'a str,
}

/// A message to post.
#[derive(Clone, Debug)]
pub struct Post {
    pub channel_id: String,
    pub author_id: String,
    pub client_id: String,
    pub body: String,
    pub restricted: Option<(Audience, String)>,
}

/// The outcome of one post.
#[derive(Clone, Debug)]
pub struct Posted {
    pub message: Arc<StoredMessage>,
    /// True when `client_id` had been used before: this is the first result again.
    pub duplicate: bool,
}

const SELECT: &str = "SELECT m.id, m.channel_id, m.seq, m.author_id, p.name AS author_name, p.agency_id AS author_agency_id, \
     a.name AS author_agency_name, m.client_id, m.body, m.created_at, m.edited_at, m.redacted_at, \
     rb.name AS redacted_by_name, m.restricted, m.restriction_reason \
     FROM messages m JOIN people p ON p.id = m.author_id JOIN agencies a ON a.id = p.agency_id \
     LEFT JOIN people rb ON rb.id = m.redacted_by";

fn from_row(db: &Db, row: &AnyRow) -> StoreResult<StoredMessage> {
    let restricted: i64 = row.try_get("restricted")?;
    Ok(StoredMessage {
        id: row.try_get("id")?,
        channel_id: row.try_get("channel_id")?,
        seq: row.try_get("seq")?,
        author_id: row.try_get("author_id")?,
        author_name: row.try_get("author_name")?,
        author_agency_id: row.try_get("author_agency_id")?,
        author_agency_name: row.try_get("author_agency_name")?,
        client_id: row.try_get("client_id")?,
        body: db.open_sealed("messages.body", row.try_get("body")?)?,
        created_at: row.try_get("created_at")?,
        edited_at: row.try_get("edited_at")?,
        redacted_at: row.try_get("redacted_at")?,
        redacted_by_name: row.try_get("redacted_by_name")?,
        restricted_to: (restricted == 1).then(Audience::default),
        restriction_reason: row.try_get("restriction_reason")?,
        frame_for_others: std::sync::OnceLock::new(),
    })
}

/// Fill in the audiences of restricted messages among `messages`.
async fn load_restrictions(
    conn: &mut Conn,
    channel_id: &str,
    messages: &mut [StoredMessage],
) -> StoreResult<()> {
    let (Some(first), Some(last)) = (messages.first(), messages.last()) else {
        return Ok(());
    };
    if messages.iter().all(|m| m.restricted_to.is_none()) {
        return Ok(());
    }
    let rows = sqlx::query(
        "SELECT r.message_id, r.agency_id, r.person_id FROM message_restrictions r JOIN messages m ON m.id = r.message_id \
         WHERE m.channel_id = $1 AND m.seq >= $2 AND m.seq <= $3",
    )
    .bind(channel_id)
    .bind(first.seq)
    .bind(last.seq)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_id: HashMap<String, Audience> = HashMap::new();
    for r in rows {
        let entry = by_id.entry(r.try_get("message_id")?).or_default();
        if let Some(a) = r.try_get::<Option<String>, _>("agency_id")? {
            entry.agencies.push(a);
        }
        if let Some(p) = r.try_get::<Option<String>, _>("person_id")? {
            entry.people.push(p);
        }
    }
    for m in messages.iter_mut() {
        if m.restricted_to.is_some() {
            m.restricted_to = Some(by_id.remove(&m.id).unwrap_or_default());
        }
    }
    Ok(())
}

async fn fetch_range(
    db: &Db,
    conn: &mut Conn,
    channel_id: &str,
    after_seq: i64,
    limit: i64,
) -> StoreResult<Vec<StoredMessage>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE m.channel_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3"
    )))
    .bind(channel_id)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = rows
        .iter()
        .map(|r| from_row(db, r))
        .collect::<StoreResult<Vec<_>>>()?;
    load_restrictions(conn, channel_id, &mut out).await?;
    Ok(out)
}

/// Messages after a sequence number, in order, at most `limit`.
pub async fn after(
    db: &Db,
    access: &ChannelAccess,
    after_seq: i64,
    limit: i64,
) -> StoreResult<Vec<StoredMessage>> {
    let mut conn = db.pool().acquire().await?;
    fetch_range(db, &mut conn, access.channel_id(), after_seq, limit).await
}

/// The same, for a channel already authorised by the caller (the hub, which
/// checked access when the subscription was made).
pub(crate) async fn after_unchecked(
    db: &Db,
    channel_id: &str,
    after_seq: i64,
    limit: i64,
) -> StoreResult<Vec<StoredMessage>> {
    let mut conn = db.pool().acquire().await?;
    fetch_range(db, &mut conn, channel_id, after_seq, limit).await
}

/// One message by sequence number.
pub async fn get(db: &Db, access: &ChannelAccess, seq: i64) -> StoreResult<StoredMessage> {
    let mut found = after(db, access, seq - 1, 1).await?;
    match found.pop() {
        Some(m) if m.seq == seq => Ok(m),
        _ => Err(StoreError::NotFound),
    }
}

/// A message the viewer can see in full; a placeholder is as good as absent.
async fn visible(db: &Db, access: &ChannelAccess, seq: i64) -> StoreResult<StoredMessage> {
    let m = get(db, access, seq).await?;
    if m.sight_for(access.viewer()) == Sight::Placeholder {
        return Err(StoreError::NotFound);
    }
    Ok(m)
}

/// Replace a message's text, keeping the old one. Only the author may.
pub async fn edit(
    db: &Db,
    access: &ChannelAccess,
    seq: i64,
    body: &str,
    now: Millis,
) -> StoreResult<StoredMessage> {
    let current = visible(db, access, seq).await?;
    if !may_edit(access.viewer(), &current.author_id, current.redacted_at) {
        return Err(StoreError::Forbidden(
            "only the author can edit a message".into(),
        ));
    }
    replace(db, access, &current, Some(body), now).await
}

/// Remove a message's text for everyone but auditors. The author or a
/// manager in the case team may.
pub async fn redact(
    db: &Db,
    access: &ChannelAccess,
    seq: i64,
    by_manager: bool,
    now: Millis,
) -> StoreResult<StoredMessage> {
    let current = visible(db, access, seq).await?;
    if current.redacted_at.is_some() {
        return Ok(current);
    }
    if current.author_id != access.viewer().person_id && !by_manager {
        return Err(StoreError::Forbidden(
            "only the author or a manager can remove a message".into(),
        ));
    }
    replace(db, access, &current, None, now).await
}

async fn replace(
    db: &Db,
    access: &ChannelAccess,
    current: &StoredMessage,
    body: Option<&str>,
    now: Millis,
) -> StoreResult<StoredMessage> {
    let by = &access.viewer().person_id;
    let mut tx = db.write().await?;
    // Take the row's lock first (PostgreSQL; SQLite's write lock is already
    // held), then read the text as it is now: a concurrent edit must be kept.
    sqlx::query("UPDATE messages SET edited_at = edited_at WHERE id = $1")
        .bind(&current.id)
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query("SELECT body, redacted_at FROM messages WHERE id = $1")
        .bind(&current.id)
        .fetch_one(&mut *tx)
        .await?;
    let live_body = db.open_sealed("messages.body", row.try_get("body")?)?;
    let redacted_at: Option<Millis> = row.try_get("redacted_at")?;
    if redacted_at.is_some() {
        drop(tx);
        return match body {
            // Removing twice is the same as removing once.
            None => get(db, access, current.seq).await,
            Some(_) => Err(StoreError::Conflict(
                "the message was removed, so it cannot be edited".into(),
            )),
        };
    }
    let version: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM message_versions WHERE message_id = $1")
            .bind(&current.id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
    sqlx::query(
        "INSERT INTO message_versions (message_id, version, body, replaced_at, replaced_by, change) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&current.id)
    .bind(version + 1)
    .bind(db.seal_text("message_versions.body", &live_body)?)
    .bind(now)
    .bind(by)
    .bind(if body.is_some() { "edited" } else { "redacted" })
    .execute(&mut *tx)
    .await?;
    match body {
        Some(text) => {
            sqlx::query(
                "UPDATE messages SET body = $1, search_terms = $2, edited_at = $3 WHERE id = $4",
            )
            .bind(db.seal_text("messages.body", text)?)
            .bind(db.blind_index(&[text])?)
            .bind(now)
            .bind(&current.id)
            .execute(&mut *tx)
            .await?
        }
        None => {
            // The text stays in message_versions for auditors; the live row keeps none.
            sqlx::query(
                "UPDATE messages SET body = '', search_terms = '', redacted_at = $1, redacted_by = $2 WHERE id = $3",
            )
            .bind(now)
            .bind(by)
            .bind(&current.id)
            .execute(&mut *tx)
            .await?
        }
    };
    super::audit::append(
        &mut tx,
        now,
        super::audit::NewEvent {
            actor_id: Some(by),
            actor_label: "person",
            action: if body.is_some() {
                "message.edited"
            } else {
                "message.redacted"
            },
            case_id: Some(access.case().case_id()),
            subject: Some(&current.id),
            detail: serde_json::json!({ "channel_id": current.channel_id, "seq": current.seq }),
        },
    )
    .await?;
    tx.commit().await?;
    get(db, access, current.seq).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn message(restricted_to: Option<Audience>, redacted: bool) -> StoredMessage {
        StoredMessage {
            id: "m1".into(),
            channel_id: "c1".into(),
            seq: 7,
            author_id: "ann".into(),
            author_name: "Ann Social Worker".into(),
            author_agency_id: "csc".into(),
            author_agency_name: "Children's Social Care".into(),
            client_id: "k1".into(),
            body: "Strategy discussion at 2pm".into(),
            created_at: 1_000,
            edited_at: Some(2_000),
            redacted_at: redacted.then_some(3_000),
            redacted_by_name: redacted.then(|| "Manager".to_string()),
            restriction_reason: restricted_to.as_ref().map(|_| "police only".to_string()),
            restricted_to,
            frame_for_others: std::sync::OnceLock::new(),
        }
    }

    fn viewer(person: &str, agency: &str) -> Viewer {
        Viewer {
            person_id: person.into(),
            agency_id: agency.into(),
        }
    }

    fn frame(m: &StoredMessage, v: &Viewer) -> Value {
        serde_json::from_str(&m.frame(v)).expect("a frame is JSON")
    }

    #[test]
    fn the_frame_shows_each_viewer_what_they_may_see() {
        let open = message(None, false);
        let full = |client_id: Value| {
            json!({
                "type": "message", "channel": "c1", "seq": 7,
                "message": {
                    "id": "m1", "channel": "c1", "seq": 7,
                    "author": { "id": "ann", "name": "Ann Social Worker", "agency_id": "csc", "agency": "Children's Social Care" },
                    "client_id": client_id, "body": "Strategy discussion at 2pm",
                    "created_at": 1000, "edited_at": 2000, "redacted_at": null, "redacted_by": null,
                    "restricted": false, "restricted_to": null, "restriction_reason": null, "visible": true,
                }
            })
        };
        // Only the author sees their client_id; the others share one rendering.
        assert_eq!(frame(&open, &viewer("ann", "csc")), full(json!("k1")));
        assert_eq!(frame(&open, &viewer("bob", "police")), full(Value::Null));
        assert_eq!(frame(&open, &viewer("cat", "health")), full(Value::Null));
        assert_eq!(
            open.view(&viewer("bob", "police")),
            full(Value::Null)["message"]
        );

        // Restricted to police: health sees a placeholder only.
        let police_only = message(
            Some(Audience {
                agencies: vec!["police".into()],
                people: vec![],
            }),
            false,
        );
        assert_eq!(
            frame(&police_only, &viewer("cat", "health")),
            json!({
                "type": "message", "channel": "c1", "seq": 7,
                "message": { "id": "m1", "channel": "c1", "seq": 7, "created_at": 1000, "restricted": true, "visible": false }
            })
        );
        let seen = frame(&police_only, &viewer("bob", "police"));
        assert_eq!(seen["message"]["body"], "Strategy discussion at 2pm");
        assert_eq!(
            seen["message"]["restricted_to"],
            json!({ "agencies": ["police"], "people": [] })
        );
        assert_eq!(seen["message"]["restriction_reason"], "police only");

        // A redacted message keeps no text.
        let redacted = frame(&message(None, true), &viewer("bob", "police"));
        assert_eq!(redacted["message"]["body"], "");
        assert_eq!(redacted["message"]["redacted_by"], "Manager");
        assert_eq!(redacted["message"]["redacted_at"], 3000);
    }
}
