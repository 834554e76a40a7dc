//! Channels inside a case. Reaching a channel takes a [`ChannelAccess`],
//! built only by [`authorize`]: case membership first, then the channel's
//! own narrowing, if any.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, Db, StoreError, StoreResult, cases, new_id};
use crate::domain::access::{Actor, CaseAccess};
use crate::domain::channels::{Audience, Viewer, may_see_channel};
use crate::domain::clock::Millis;

#[derive(Clone, Debug, serde::Serialize)]
pub struct Channel {
    pub id: String,
    pub case_id: String,
    pub kind: String,
    pub name: String,
    pub last_seq: i64,
}

/// Proof that a person may use one channel.
#[derive(Clone, Debug)]
pub struct ChannelAccess {
    case: CaseAccess,
    channel_id: String,
    viewer: Viewer,
}

impl ChannelAccess {
    pub fn channel_id(&self) -> &str {
        &self.channel_id
    }
    pub fn case(&self) -> &CaseAccess {
        &self.case
    }
    pub fn viewer(&self) -> &Viewer {
        &self.viewer
    }
}

fn from_row(row: &AnyRow) -> StoreResult<Channel> {
    Ok(Channel {
        id: row.try_get("id")?,
        case_id: row.try_get("case_id")?,
        kind: row.try_get("kind")?,
        name: row.try_get("name")?,
        last_seq: row.try_get("last_seq")?,
    })
}

/// Create a channel inside the caller's transaction.
pub async fn create_in(
    conn: &mut Conn,
    case_id: &str,
    kind: &str,
    name: &str,
    now: Millis,
) -> StoreResult<String> {
    let id = new_id();
    // A new channel starts at its case's sharing version, so what consent
    // holds back in the case is held back in it too (see `withholding`).
    // The no-op update takes the case row's lock, which a change of the
    // version holds until it commits.
    let sharing_version: i64 = sqlx::query(
        "UPDATE cases SET sharing_version = sharing_version WHERE id = $1 RETURNING sharing_version",
    )
    .bind(case_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_get("sharing_version")?;
    sqlx::query("INSERT INTO channels (id, case_id, kind, name, last_seq, created_at, sharing_version) VALUES ($1, $2, $3, $4, 0, $5, $6)")
        .bind(&id)
        .bind(case_id)
        .bind(kind)
        .bind(name)
        .bind(now)
        .bind(sharing_version)
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

async fn restriction(db: &Db, channel_id: &str) -> StoreResult<Audience> {
    let rows =
        sqlx::query("SELECT agency_id, person_id FROM channel_restrictions WHERE channel_id = $1")
            .bind(channel_id)
            .fetch_all(db.pool())
            .await?;
    let mut audience = Audience::default();
    for r in rows {
        if let Some(a) = r.try_get::<Option<String>, _>("agency_id")? {
            audience.agencies.push(a);
        }
        if let Some(p) = r.try_get::<Option<String>, _>("person_id")? {
            audience.people.push(p);
        }
    }
    Ok(audience)
}

/// Check need-to-know on a channel. Every refusal, and an unknown channel,
/// is [`StoreError::NotFound`].
pub async fn authorize(
    db: &Db,
    actor: &Actor,
    channel_id: &str,
    now: Millis,
) -> StoreResult<ChannelAccess> {
    let row = sqlx::query("SELECT case_id FROM channels WHERE id = $1")
        .bind(channel_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
    let case_id: String = row.try_get("case_id")?;
    let case = cases::authorize(db, actor, &case_id, now).await?;
    let viewer = Viewer {
        person_id: actor.person_id.clone(),
        agency_id: actor.agency_id.clone(),
    };
    if !may_see_channel(&viewer, &restriction(db, channel_id).await?) {
        return Err(StoreError::NotFound);
    }
    Ok(ChannelAccess {
        case,
        channel_id: channel_id.to_string(),
        viewer,
    })
}

pub async fn get(db: &Db, access: &ChannelAccess) -> StoreResult<Channel> {
    let row = sqlx::query("SELECT id, case_id, kind, name, last_seq FROM channels WHERE id = $1")
        .bind(access.channel_id())
        .fetch_one(db.pool())
        .await?;
    from_row(&row)
}

/// The channels of a case that this person may see.
pub async fn list(db: &Db, access: &CaseAccess, viewer: &Viewer) -> StoreResult<Vec<Channel>> {
    let rows = sqlx::query(
        "SELECT id, case_id, kind, name, last_seq FROM channels WHERE case_id = $1 ORDER BY created_at, id",
    )
    .bind(access.case_id())
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::new();
    for row in &rows {
        let channel = from_row(row)?;
        if may_see_channel(viewer, &restriction(db, &channel.id).await?) {
            out.push(channel);
        }
    }
    Ok(out)
}

/// The case channel of a case.
pub async fn case_channel(db: &Db, access: &CaseAccess) -> StoreResult<Channel> {
    let row = sqlx::query("SELECT id, case_id, kind, name, last_seq FROM channels WHERE case_id = $1 AND kind = 'case'")
        .bind(access.case_id())
        .fetch_optional(db.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
    from_row(&row)
}
