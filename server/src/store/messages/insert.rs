//! The group commit: a batch of posts stored in one transaction, each
//! numbered, deduplicated on its `client_id`, gated by consent, and written
//! with the deliveries the batch carries (the statements are in
//! [`super::batch`]).
//!
//! One procedure ([`group_commit`]) runs in either of two places ([`On`]):
//! a sqlx transaction, or, on a SQLite file, the writer's own connection
//! ([`crate::store::direct`]), where the whole batch is one call on one
//! thread. There nothing may wait, so the few cases that would need a read
//! of their own (a consent gate not yet cached, a resend of a message
//! stored by an earlier batch) stop the direct attempt, which rolls back,
//! and the batch runs again through sqlx.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::FutureExt;
use rusqlite::{Transaction, TransactionBehavior};

use super::batch;
use super::{Post, Posted, StoredMessage, fetch_range};
use crate::config::Engine;
use crate::domain::channels::Audience;
use crate::domain::clock::Millis;
use crate::domain::withholding::HeldBack;
use crate::store::direct::{self, Columns};
use crate::store::script::{Script, Value};
use crate::store::search_index;
use crate::store::sharing::Carried;
use crate::store::wal_sync::Pending;
use crate::store::withholding::Gates;
use crate::store::{Db, StoreError, StoreResult, Tx, new_ordered_id};

/// Store a batch of posts in one transaction (group commit). Each post gets
/// the next sequence number of its channel, or, when its `client_id` was
/// used before by the same author in the same channel (in an earlier batch
/// or earlier in this one), the first result. In a case where consent holds
/// an agency back, the post is restricted away from it here, in the same
/// transaction (see [`super::withholding`]). Callers must have authorised
/// every post's author on its channel. Each statement runs once per batch,
/// not per post ([`batch`]).
pub async fn insert_batch(
    db: &Db,
    gates: &Gates,
    posts: &[Post],
    now: Millis,
) -> StoreResult<Vec<Posted>> {
    let (posted, pending) = insert_batch_carrying(db, gates, posts, now, &[]).await?;
    pending.durable().await?;
    Ok(posted)
}

/// [`insert_batch`], also writing `carried` deliveries (and their sharing
/// records) in the same transaction: on SQLite, where every write waits for
/// one write turn, the delivery log then costs no commit of its own. Returns
/// once committed, with the write lock released: nothing may be told of
/// the posts until the returned [`Pending`] is durable (on SQLite its fsync
/// overlaps the next batch).
pub async fn insert_batch_carrying(
    db: &Db,
    gates: &Gates,
    posts: &[Post],
    now: Millis,
    carried: &[Carried],
) -> StoreResult<(Vec<Posted>, Pending)> {
    let sealed = posts
        .iter()
        .map(|post| seal(db, post))
        .collect::<StoreResult<Vec<_>>>()?;
    insert_sealed_batch_carrying(db, gates, posts, &sealed, now, carried, true).await
}

/// A post's text as stored, sealed at rest, and its blind index
/// (crate::sealing). The writer's callers compute it before queueing a post
/// ([`crate::realtime::writer::Writer::post`]), each in its own task, so
/// the single writer does not (a rare repeat is sealed for nothing).
pub fn seal(db: &Db, post: &Post) -> StoreResult<(String, String)> {
    Ok((
        db.seal_text("messages.body", &post.body)?,
        db.blind_index(&[&post.body])?,
    ))
}

/// [`insert_batch_carrying`] with each post's [`seal`] already computed
/// (`sealed[i]` for `posts[i]`). With `index`, SQLite's search index is
/// brought up to date in the same transaction ([`search_index`]); without,
/// the posts wait for a later batch, or a search, to index them.
pub async fn insert_sealed_batch_carrying(
    db: &Db,
    gates: &Gates,
    posts: &[Post],
    sealed: &[(String, String)],
    now: Millis,
    carried: &[Carried],
    index: bool,
) -> StoreResult<(Vec<Posted>, Pending)> {
    if sealed.len() != posts.len() {
        return Err(StoreError::Invalid(
            "a batch's sealed texts do not match its posts".into(),
        ));
    }
    let batch = Batch {
        engine: db.engine(),
        posts,
        sealed,
        now,
        carried,
        index: index && db.engine() == Engine::Sqlite,
    };
    if let Some(direct) = db.direct() {
        let turn = db.turn().await;
        let done = direct.run(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(direct::error)?;
            let mut on = OnDirect { tx: &tx, gates };
            // Nothing in the direct place waits, so the procedure finishes
            // on its first poll.
            match group_commit(&mut on, &batch).now_or_never() {
                Some(Ok(out)) => {
                    tx.commit().map_err(direct::error)?;
                    Ok(Some(out))
                }
                // Dropping the transaction rolls it back.
                Some(Err(Stop::Failed(e))) => Err(e),
                Some(Err(Stop::Elsewhere)) | None => Ok(None),
            }
        });
        if let Some(out) = done? {
            return Ok((out, turn.committed()));
        }
    }
    let mut tx = db.write().await?;
    let out = match group_commit(
        &mut OnSqlx {
            tx: &mut tx,
            db,
            gates,
        },
        &batch,
    )
    .await
    {
        Ok(out) => out,
        Err(Stop::Failed(e)) => return Err(e),
        Err(Stop::Elsewhere) => {
            return Err(StoreError::Invalid(
                "the group commit stopped in a transaction that can wait".into(),
            ));
        }
    };
    // Issue 8 (cluster): NOTIFY the other nodes, delivered only on commit.
    crate::store::cluster::messages_committed(&mut tx, db, &out).await?;
    let pending = tx.commit_pending().await?;
    Ok((out, pending))
}

/// What one group commit stores.
struct Batch<'a> {
    engine: Engine,
    posts: &'a [Post],
    /// Each post's sealed text and blind index.
    sealed: &'a [(String, String)],
    now: Millis,
    carried: &'a [Carried],
    /// Bring SQLite's search index up to date too.
    index: bool,
}

/// Why [`group_commit`] stopped.
enum Stop {
    Failed(StoreError),
    /// It needs a read the direct connection does not make: run it through sqlx.
    Elsewhere,
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Stop {
        Stop::Failed(e)
    }
}

/// Where [`group_commit`]'s statements run.
trait On {
    type Row: Columns;
    fn script<'a>(&self) -> Script<'a>;
    async fn fetch(&mut self, script: Script<'_>) -> Result<Vec<Self::Row>, Stop>;
    async fn execute(&mut self, script: Script<'_>) -> Result<(), Stop>;
    /// What consent makes of a post in a case whose channel row carried
    /// `version` (see `Gates::hold_back_in`).
    async fn hold_back(
        &mut self,
        case_id: &str,
        version: i64,
        author_agency_id: &str,
        chosen: Option<&(Audience, String)>,
        now: Millis,
    ) -> Result<Option<HeldBack>, Stop>;
    async fn record_withheld(
        &mut self,
        message_id: &str,
        case_id: &str,
        withheld: &[(String, String)],
        now: Millis,
    ) -> Result<(), Stop>;
    /// A message an earlier batch stored.
    async fn stored(&mut self, channel_id: &str, seq: i64) -> Result<StoredMessage, Stop>;
}

/// A sqlx write transaction ([`Db::write`]).
struct OnSqlx<'t> {
    tx: &'t mut Tx,
    db: &'t Db,
    gates: &'t Gates,
}

impl On for OnSqlx<'_> {
    type Row = sqlx::any::AnyRow;
    fn script<'a>(&self) -> Script<'a> {
        Script::new(self.tx)
    }
    async fn fetch(&mut self, script: Script<'_>) -> Result<Vec<Self::Row>, Stop> {
        Ok(script.fetch_all(self.tx).await?)
    }
    async fn execute(&mut self, script: Script<'_>) -> Result<(), Stop> {
        script.execute(self.tx).await?;
        Ok(())
    }
    async fn hold_back(
        &mut self,
        case_id: &str,
        version: i64,
        author_agency_id: &str,
        chosen: Option<&(Audience, String)>,
        now: Millis,
    ) -> Result<Option<HeldBack>, Stop> {
        Ok(self
            .gates
            .hold_back_in(self.tx, case_id, version, author_agency_id, chosen, now)
            .await?)
    }
    async fn record_withheld(
        &mut self,
        message_id: &str,
        case_id: &str,
        withheld: &[(String, String)],
        now: Millis,
    ) -> Result<(), Stop> {
        crate::store::withholding::record_withheld(self.tx, message_id, case_id, withheld, now)
            .await?;
        Ok(())
    }
    async fn stored(&mut self, channel_id: &str, seq: i64) -> Result<StoredMessage, Stop> {
        Ok(fetch_range(self.db, self.tx, channel_id, seq - 1, 1)
            .await?
            .pop()
            .ok_or(StoreError::NotFound)?)
    }
}

/// The writer's own SQLite connection, in its transaction.
struct OnDirect<'t> {
    tx: &'t Transaction<'t>,
    gates: &'t Gates,
}

impl On for OnDirect<'_> {
    type Row = direct::Row;
    fn script<'a>(&self) -> Script<'a> {
        Script::direct()
    }
    async fn fetch(&mut self, script: Script<'_>) -> Result<Vec<Self::Row>, Stop> {
        Ok(script.fetch_direct(self.tx)?)
    }
    async fn execute(&mut self, script: Script<'_>) -> Result<(), Stop> {
        script.execute_direct(self.tx)?;
        Ok(())
    }
    async fn hold_back(
        &mut self,
        case_id: &str,
        version: i64,
        _author_agency_id: &str,
        _chosen: Option<&(Audience, String)>,
        _now: Millis,
    ) -> Result<Option<HeldBack>, Stop> {
        // Nothing held back, known without a read; anything else is
        // decided through sqlx.
        if self.gates.known_open(case_id, version) {
            Ok(None)
        } else {
            Err(Stop::Elsewhere)
        }
    }
    async fn record_withheld(
        &mut self,
        _message_id: &str,
        _case_id: &str,
        _withheld: &[(String, String)],
        _now: Millis,
    ) -> Result<(), Stop> {
        Err(Stop::Elsewhere)
    }
    async fn stored(&mut self, _channel_id: &str, _seq: i64) -> Result<StoredMessage, Stop> {
        Err(Stop::Elsewhere)
    }
}

/// A post's number, author, and what consent made of it.
struct Decided {
    /// Its index in the batch.
    index: usize,
    id: String,
    seq: i64,
    case_id: String,
    author: batch::Author,
    restricted: Option<(Audience, String)>,
    withheld: Vec<(String, String)>,
}

/// Store `batch` through `on`: each statement once per batch (three
/// round trips with sqlx on SQLite, one call on the direct connection).
async fn group_commit<C: On>(on: &mut C, batch: &Batch<'_>) -> Result<Vec<Posted>, Stop> {
    let posts = batch.posts;
    // Each key's first post in this batch, and how many numbers each
    // channel needs were every such post new.
    let mut first_in_batch: HashMap<batch::Key, usize> = HashMap::new();
    let mut counts: Vec<(String, i64)> = Vec::new();
    for (i, post) in posts.iter().enumerate() {
        let key = batch::key(post);
        if first_in_batch.contains_key(&key) {
            continue;
        }
        first_in_batch.insert(key, i);
        match counts.iter_mut().find(|(c, _)| *c == post.channel_id) {
            Some((_, n)) => *n += 1,
            None => counts.push((post.channel_id.clone(), 1)),
        }
    }
    let mut author_ids: Vec<&str> = posts.iter().map(|p| p.author_id.as_str()).collect();
    author_ids.sort_unstable();
    author_ids.dedup();
    let mut script = on.script();
    batch::push_lookups(&mut script, batch.engine, posts, &counts, &author_ids)?;
    let rows = on.fetch(script).await?;
    let batch::Lookups {
        earlier,
        mut channels,
        authors,
    } = batch::read_lookups(&rows, &counts)?;
    // New: the first of its key in this batch, and not stored before.
    first_in_batch.retain(|key, _| !earlier.contains_key(key));
    let mut fresh = vec![false; posts.len()];
    for i in first_in_batch.values() {
        fresh[*i] = true;
    }
    // A repeat of a message an earlier batch stored is read back now,
    // before anything is written.
    let mut repeats: HashMap<usize, Arc<StoredMessage>> = HashMap::new();
    for (i, post) in posts.iter().enumerate() {
        let key = batch::key(post);
        if let Some(seq) = earlier.get(&key)
            && !first_in_batch.contains_key(&key)
        {
            repeats.insert(i, Arc::new(on.stored(&post.channel_id, *seq).await?));
        }
    }
    // Numbers allocated to repeats go back in the same transaction.
    let unused: Vec<(String, i64)> = channels
        .iter()
        .map(|(id, row)| {
            let used = posts
                .iter()
                .zip(&fresh)
                .filter(|(p, f)| **f && p.channel_id == *id)
                .count() as i64;
            (id.clone(), row.allocated - used)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    let mut decided = Vec::new();
    for (i, post) in posts.iter().enumerate() {
        if !fresh[i] {
            continue;
        }
        // The channel row also carries its case and the case's sharing
        // version: the gate needs no query of its own when nothing is held back.
        let channel = channels
            .get_mut(&post.channel_id)
            .ok_or(StoreError::NotFound)?;
        let seq = channel.next_seq;
        channel.next_seq += 1;
        let author = authors
            .get(&post.author_id)
            .cloned()
            .ok_or(StoreError::NotFound)?;
        let held = on
            .hold_back(
                &channel.case_id,
                channel.sharing_version,
                &author.1,
                post.restricted.as_ref(),
                batch.now,
            )
            .await?;
        let (restricted, withheld) = match held {
            Some(h) => (Some(h.restriction), h.withheld),
            None => (post.restricted.clone(), Vec::new()),
        };
        decided.push(Decided {
            index: i,
            id: new_ordered_id(),
            seq,
            case_id: channel.case_id.clone(),
            author,
            restricted,
            withheld,
        });
    }
    let rows: Vec<batch::NewRow> = decided
        .iter()
        .map(|d| {
            let (body, search_terms) = &batch.sealed[d.index];
            batch::NewRow {
                id: &d.id,
                post: &posts[d.index],
                body,
                search_terms,
                seq: d.seq,
                created_at: batch.now,
                restriction_reason: d.restricted.as_ref().map(|(_, r)| r.as_str()),
            }
        })
        .collect();
    // Every write of the batch in one script: the numbers given back, the
    // messages and their audiences, then the deliveries carried, then their
    // sharing records (numbered values come last, see store::script).
    let mut script = on.script();
    batch::push_give_back(&mut script, &unused)?;
    batch::push_rows(&mut script, &rows)?;
    push_restrictions(&mut script, &decided)?;
    if batch.index {
        for sql in search_index::CATCH_UP {
            script.push(sql.to_string(), Vec::new())?;
        }
    }
    for carried in batch.carried {
        carried.push_deliveries(&mut script)?;
    }
    for carried in batch.carried {
        carried.push_records(&mut script)?;
    }
    on.execute(script).await?;
    drop(rows);
    let mut out: Vec<Option<Posted>> = vec![None; posts.len()];
    for d in decided {
        if !d.withheld.is_empty() {
            on.record_withheld(&d.id, &d.case_id, &d.withheld, batch.now)
                .await?;
        }
        let post = &posts[d.index];
        let (author_name, author_agency_id, author_agency_name) = d.author;
        out[d.index] = Some(Posted {
            message: Arc::new(StoredMessage {
                id: d.id,
                channel_id: post.channel_id.clone(),
                seq: d.seq,
                author_id: post.author_id.clone(),
                author_name,
                author_agency_id,
                author_agency_name,
                client_id: post.client_id.clone(),
                body: post.body.clone(),
                created_at: batch.now,
                edited_at: None,
                redacted_at: None,
                redacted_by_name: None,
                restriction_reason: d.restricted.as_ref().map(|(_, r)| r.clone()),
                restricted_to: d.restricted.map(|(a, _)| a),
                frame_for_others: std::sync::OnceLock::new(),
            }),
            duplicate: false,
        });
    }
    // Repeats: the first result again, from this batch or from the database.
    for (i, post) in posts.iter().enumerate() {
        if fresh[i] {
            continue;
        }
        let message = match repeats.remove(&i) {
            Some(stored) => stored,
            None => first_in_batch
                .get(&batch::key(post))
                .and_then(|j| out[*j].as_ref())
                .map(|first| first.message.clone())
                .ok_or(StoreError::NotFound)?,
        };
        out[i] = Some(Posted {
            message,
            duplicate: true,
        });
    }
    let out: Vec<Posted> = out.into_iter().flatten().collect();
    if out.len() != posts.len() {
        return Err(StoreError::NotFound.into());
    }
    Ok(out)
}

/// Add the audiences of the batch's restricted messages to `script`.
fn push_restrictions<'a>(script: &mut Script<'a>, decided: &'a [Decided]) -> StoreResult<()> {
    let p = script.placeholders();
    let mut rows: Vec<[Value<'a>; 3]> = Vec::new();
    for d in decided {
        if let Some((audience, _)) = &d.restricted {
            for agency in &audience.agencies {
                rows.push([
                    Value::Text(&d.id),
                    Value::MaybeText(Some(agency)),
                    Value::MaybeText(None),
                ]);
            }
            for person in &audience.people {
                rows.push([
                    Value::Text(&d.id),
                    Value::MaybeText(None),
                    Value::MaybeText(Some(person)),
                ]);
            }
        }
    }
    for chunk in script.chunks(&rows, 100) {
        let values: Vec<String> = (0..chunk.len()).map(|i| p.list(i * 3 + 1, 3)).collect();
        script.push(
            format!(
                "INSERT INTO message_restrictions (message_id, agency_id, person_id) VALUES {}",
                values.join(", ")
            ),
            chunk.iter().flatten().cloned().collect(),
        )?;
    }
    Ok(())
}
