//! The group commit: a batch of posts stored in one transaction, each
//! numbered, deduplicated on its `client_id`, gated by consent, and written
//! with the deliveries the batch carries (the statements are in
//! [`super::batch`]).

use std::collections::HashMap;
use std::sync::Arc;

use super::batch;
use super::{Post, Posted, StoredMessage, fetch_range};
use crate::domain::clock::Millis;
use crate::store::script::Script;
use crate::store::sharing::Carried;
use crate::store::wal_sync::Pending;
use crate::store::withholding::Gates;
use crate::store::{Db, StoreError, StoreResult, new_ordered_id};

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
    // Sealed at rest, with its blind index (crate::sealing): computed for
    // every post before the write lock is taken, not while it is held (a
    // rare repeat is sealed for nothing).
    let mut sealed = posts
        .iter()
        .map(|post| {
            Ok(Some((
                db.seal_text("messages.body", &post.body)?,
                db.blind_index(&[&post.body])?,
            )))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let mut tx = db.write().await?;
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
    let batch::Lookups {
        earlier,
        mut channels,
        authors,
    } = batch::lookups(&mut tx, db.engine(), posts, &counts, &author_ids).await?;
    // New: the first of its key in this batch, and not stored before.
    first_in_batch.retain(|key, _| !earlier.contains_key(key));
    let mut fresh = vec![false; posts.len()];
    for i in first_in_batch.values() {
        fresh[*i] = true;
    }
    // Numbers allocated to repeats of earlier posts go back at once.
    let unused: Vec<(&str, i64)> = channels
        .iter()
        .map(|(id, row)| {
            let used = posts
                .iter()
                .zip(&fresh)
                .filter(|(p, f)| **f && p.channel_id == *id)
                .count() as i64;
            (id.as_str(), row.allocated - used)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    batch::give_back(&mut tx, &unused).await?;
    let mut out: Vec<Option<Posted>> = vec![None; posts.len()];
    let mut ids = Vec::new();
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
        let held = gates
            .hold_back_in(
                &mut tx,
                &channel.case_id,
                channel.sharing_version,
                &author.1,
                post.restricted.as_ref(),
                now,
            )
            .await?;
        let (restricted, withheld) = match held {
            Some(h) => (Some(h.restriction), h.withheld),
            None => (post.restricted.clone(), Vec::new()),
        };
        ids.push((i, new_ordered_id()));
        decided.push((seq, channel.case_id.clone(), author, restricted, withheld));
    }
    let rows: Vec<batch::NewRow> = ids
        .iter()
        .zip(&decided)
        .map(|((i, id), (seq, _, _, restricted, _))| {
            let (body, search_terms) = sealed[*i].take().ok_or(StoreError::NotFound)?;
            Ok(batch::NewRow {
                id,
                post: &posts[*i],
                body,
                search_terms,
                seq: *seq,
                created_at: now,
                restriction_reason: restricted.as_ref().map(|(_, r)| r.as_str()),
            })
        })
        .collect::<StoreResult<_>>()?;
    // The messages, and the deliveries and sharing records carried with
    // them, in one round trip on SQLite (store::script): every carried
    // batch's deliveries, then every batch's records.
    let mut script = Script::new(&tx);
    batch::push_rows(&mut script, &rows)?;
    for batch in carried {
        batch.push_deliveries(&mut script)?;
    }
    for batch in carried {
        batch.push_records(&mut script)?;
    }
    script.execute(&mut tx).await?;
    drop(rows);
    for ((i, id), (seq, case_id, author, restricted, withheld)) in ids.into_iter().zip(decided) {
        let post = &posts[i];
        if let Some((audience, _)) = &restricted {
            for agency in &audience.agencies {
                sqlx::query(
                    "INSERT INTO message_restrictions (message_id, agency_id) VALUES ($1, $2)",
                )
                .bind(&id)
                .bind(agency)
                .execute(&mut *tx)
                .await?;
            }
            for person in &audience.people {
                sqlx::query(
                    "INSERT INTO message_restrictions (message_id, person_id) VALUES ($1, $2)",
                )
                .bind(&id)
                .bind(person)
                .execute(&mut *tx)
                .await?;
            }
        }
        crate::store::withholding::record_withheld(&mut tx, &id, &case_id, &withheld, now).await?;
        out[i] = Some(Posted {
            message: Arc::new(StoredMessage {
                id,
                channel_id: post.channel_id.clone(),
                seq,
                author_id: post.author_id.clone(),
                author_name: author.0,
                author_agency_id: author.1,
                author_agency_name: author.2,
                client_id: post.client_id.clone(),
                body: post.body.clone(),
                created_at: now,
                edited_at: None,
                redacted_at: None,
                redacted_by_name: None,
                restriction_reason: restricted.as_ref().map(|(_, r)| r.clone()),
                restricted_to: restricted.map(|(a, _)| a),
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
        let key = batch::key(post);
        let message = match first_in_batch.get(&key).and_then(|j| out[*j].as_ref()) {
            Some(first) => first.message.clone(),
            None => {
                let seq = earlier.get(&key).copied().ok_or(StoreError::NotFound)?;
                let found = fetch_range(db, &mut tx, &post.channel_id, seq - 1, 1)
                    .await?
                    .pop()
                    .ok_or(StoreError::NotFound)?;
                Arc::new(found)
            }
        };
        out[i] = Some(Posted {
            message,
            duplicate: true,
        });
    }
    let out: Vec<Posted> = out.into_iter().flatten().collect();
    if out.len() != posts.len() {
        return Err(StoreError::NotFound);
    }
    // Issue 8 (cluster): NOTIFY the other nodes, delivered only on commit.
    crate::store::cluster::messages_committed(&mut tx, db, &out).await?;
    let pending = tx.commit_pending().await?;
    Ok((out, pending))
}
