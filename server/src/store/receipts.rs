//! Read receipts (who has read which message, from which agency, when) and
//! the delivery log (which person was sent which message), for "who has
//! seen this" and, later, the information-sharing log.

use sqlx::Row;

use super::channels::ChannelAccess;
use super::messages::{StoredMessage, get};
use super::script::{Script, Value};
use super::{Conn, Db, StoreError, StoreResult};
use crate::domain::channels::{Sight, Viewer};
use crate::domain::clock::Millis;

/// Advance a person's read marker; `Some(at)` if it moved forward.
pub async fn mark_read(
    db: &Db,
    access: &ChannelAccess,
    seq: i64,
    now: Millis,
) -> StoreResult<Option<Millis>> {
    let mut tx = db.write().await?;
    let last: i64 = sqlx::query("SELECT last_seq FROM channels WHERE id = $1")
        .bind(access.channel_id())
        .fetch_one(&mut *tx)
        .await?
        .try_get("last_seq")?;
    if seq < 1 || seq > last {
        return Err(StoreError::Invalid(format!(
            "seq must be between 1 and {last}"
        )));
    }
    let current: Option<i64> = sqlx::query(
        "SELECT MAX(upto_seq) AS s FROM read_receipts WHERE channel_id = $1 AND person_id = $2",
    )
    .bind(access.channel_id())
    .bind(&access.viewer().person_id)
    .fetch_one(&mut *tx)
    .await?
    .try_get("s")?;
    if current.is_some_and(|c| c >= seq) {
        return Ok(None);
    }
    // Two tabs marking the same message at once: the second insert is a no-op.
    let inserted = sqlx::query(
        "INSERT INTO read_receipts (channel_id, person_id, upto_seq, read_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(access.channel_id())
    .bind(&access.viewer().person_id)
    .bind(seq)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if inserted.rows_affected() == 0 {
        return Ok(None);
    }
    Ok(Some(now))
}

/// Someone who has read a message.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Reader {
    pub person_id: String,
    pub name: String,
    pub agency_id: String,
    pub agency: String,
    pub read_at: Millis,
}

/// Who has read message `seq`, and when they first did, by agency.
pub async fn readers(db: &Db, access: &ChannelAccess, seq: i64) -> StoreResult<Vec<Reader>> {
    let message = get(db, access, seq).await?;
    if message.sight_for(access.viewer()) == Sight::Placeholder {
        return Err(StoreError::NotFound);
    }
    let rows = sqlx::query(
        "SELECT r.person_id, p.name, p.agency_id, a.name AS agency, MIN(r.read_at) AS read_at \
         FROM read_receipts r JOIN people p ON p.id = r.person_id JOIN agencies a ON a.id = p.agency_id \
         WHERE r.channel_id = $1 AND r.upto_seq >= $2 \
         GROUP BY r.person_id, p.name, p.agency_id, a.name ORDER BY a.name, p.name",
    )
    .bind(access.channel_id())
    .bind(seq)
    .fetch_all(db.pool())
    .await?;
    let readers = rows
        .iter()
        .map(|r| {
            Ok(Reader {
                person_id: r.try_get("person_id")?,
                name: r.try_get("name")?,
                agency_id: r.try_get("agency_id")?,
                agency: r.try_get("agency")?,
                read_at: r.try_get("read_at")?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    // Reading past a restricted message is not reading it: only people who
    // could see it in full count as its readers.
    Ok(readers
        .into_iter()
        .filter(|r| {
            let viewer = Viewer {
                person_id: r.person_id.clone(),
                agency_id: r.agency_id.clone(),
            };
            message.sight_for(&viewer) == Sight::Full
        })
        .collect())
}

/// One delivery of a message to a person, with what the sharing records
/// need to know about both, taken from the message and the recipient's
/// session as it was delivered (so the delivery log reads nothing back).
#[derive(Clone, Debug)]
pub struct Delivery {
    pub message_id: String,
    pub person_id: String,
    /// The recipient's agency.
    pub agency_id: String,
    pub at: Millis,
    pub channel_id: String,
    pub seq: i64,
    pub author_id: String,
    pub author_agency_id: String,
}

impl Delivery {
    /// `message` delivered to `viewer` at `at`.
    pub fn of(message: &StoredMessage, viewer: &Viewer, at: Millis) -> Delivery {
        Delivery {
            message_id: message.id.clone(),
            person_id: viewer.person_id.clone(),
            agency_id: viewer.agency_id.clone(),
            at,
            channel_id: message.channel_id.clone(),
            seq: message.seq,
            author_id: message.author_id.clone(),
            author_agency_id: message.author_agency_id.clone(),
        }
    }
}

/// Record deliveries in one transaction; the first delivery of a message to
/// a person is kept, repeats are ignored. (The delivery log writes through
/// [`super::sharing::record_deliveries`], which adds the sharing records.)
pub async fn record_deliveries(db: &Db, deliveries: &[Delivery]) -> StoreResult<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let mut tx = db.write().await?;
    insert_deliveries_in(&mut tx, deliveries).await?;
    tx.commit().await?;
    Ok(())
}

/// Insert deliveries inside the caller's transaction.
pub(crate) async fn insert_deliveries_in(
    conn: &mut Conn,
    deliveries: &[Delivery],
) -> StoreResult<()> {
    let mut script = Script::new(conn);
    push_deliveries(&mut script, deliveries)?;
    script.execute(conn).await?;
    Ok(())
}

/// Add the statements inserting `deliveries` to `script`.
pub(crate) fn push_deliveries<'a>(
    script: &mut Script<'a>,
    deliveries: &'a [Delivery],
) -> StoreResult<()> {
    let p = script.placeholders();
    for chunk in script.chunks(deliveries, 200) {
        let mut sql =
            String::from("INSERT INTO deliveries (message_id, person_id, delivered_at) VALUES ");
        let mut values = Vec::with_capacity(chunk.len() * 3);
        for (i, d) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&p.list(i * 3 + 1, 3));
            values.push(Value::Text(&d.message_id));
            values.push(Value::Text(&d.person_id));
            values.push(Value::Int(d.at));
        }
        sql.push_str(" ON CONFLICT DO NOTHING");
        script.push(sql, values)?;
    }
    Ok(())
}

/// Who has been sent a message, and when (for "who has seen this").
pub async fn delivered_to(db: &Db, message_id: &str) -> StoreResult<Vec<(String, Millis)>> {
    let rows = sqlx::query("SELECT person_id, delivered_at FROM deliveries WHERE message_id = $1 ORDER BY delivered_at")
        .bind(message_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("person_id")?, r.try_get("delivered_at")?)))
        .collect()
}
