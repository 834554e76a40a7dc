//! Convening a meeting, and changing or cancelling it: invitations, reasons for leaving out a required agency, the meeting's channel.

use super::*;

/// Words of the child's identity that must not go into a calendar invitation.
fn mentions_child(text: &str, child_name: &str, la_reference: &str) -> bool {
    let text = text.to_lowercase();
    let full = child_name.trim().to_lowercase();
    if !full.is_empty() && text.contains(&full) {
        return true;
    }
    // The family name on its own (the last word), if it is long enough to mean something.
    if let Some(surname) = full.split_whitespace().last()
        && surname.chars().count() >= 3
        && full.split_whitespace().count() > 1
        && text
            .split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-')
            .any(|w| w == surname)
    {
        return true;
    }
    let la = la_reference.trim().to_lowercase();
    !la.is_empty() && text.contains(&la)
}

/// Schedule a meeting. Returns its id; the caller sends the invitations.
pub async fn convene(
    db: &Db,
    by: &Actor,
    access: &CaseAccess,
    now: Millis,
    c: Convene,
) -> StoreResult<String> {
    let invalid = |m: &str| Err(StoreError::Invalid(m.to_string()));
    if c.starts_at <= now {
        return invalid("The meeting must start in the future.");
    }
    if c.ends_at <= c.starts_at || c.ends_at - c.starts_at > LONGEST_MS {
        return invalid("The expected length must be between 1 minute and 8 hours.");
    }
    if c.case_access != "meeting" && c.case_access != "case" {
        return invalid(
            "Choose whether invitees see the case for the meeting only or join the case team.",
        );
    }
    let location = c.location.trim().to_string();
    if location.is_empty() {
        return invalid("Give the location, video link or dial-in details.");
    }
    if location.chars().count() > 500 {
        return invalid("The location is too long (500 characters at most).");
    }
    let case = cases::get(db, access).await?;
    if mentions_child(&location, &case.child_name, &case.la_reference) {
        return invalid(
            "The location goes into calendar invitations: it must not name the child or give their reference. \
             Describe the place without them (e.g. \"Family home — address on the case record\").",
        );
    }
    // The chair must be in the case team.
    let team = cases::team(db, access, now).await?;
    if !team.iter().any(|m| m.person_id == c.chair_id) {
        return invalid("The chair must be a member of the case team.");
    }
    // Who is invited: people, agencies' duty addresses and new guests.
    let mut invitees: Vec<people::Person> = Vec::new();
    for id in dedup(&c.people) {
        if id == by.person_id {
            continue;
        }
        let p = people::get(db, &id).await.map_err(|e| match e {
            StoreError::NotFound => {
                StoreError::Invalid("One of the people invited does not exist.".into())
            }
            other => other,
        })?;
        if !p.active {
            return Err(StoreError::Invalid(format!(
                "{} cannot be invited: their account is deactivated.",
                p.name
            )));
        }
        invitees.push(p);
    }
    let mut agencies = Vec::new();
    for id in dedup(&c.agencies) {
        let a = crate::store::agencies::find(db, &id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => {
                    StoreError::Invalid("One of the agencies invited does not exist.".into())
                }
                other => other,
            })?;
        if a.duty_email.is_none() {
            return Err(StoreError::Invalid(format!(
                "{} has no duty address: invite a person from it instead.",
                a.name
            )));
        }
        agencies.push(a);
    }
    for g in &c.guests {
        if g.name.trim().is_empty() || people::normalise_email(&g.email).is_err() {
            return invalid("A guest needs a name and a valid email address.");
        }
        crate::store::agencies::find(db, &g.agency_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => StoreError::Invalid("Choose the guest's agency.".into()),
                other => other,
            })?;
    }
    // Required agencies: invited, taking part as organiser or chair, or excused.
    let chair = people::get(db, &c.chair_id).await?;
    let organiser = people::get(db, &by.person_id).await?;
    let mut kinds: Vec<AgencyKind> = invitees.iter().map(|p| p.agency_kind).collect();
    kinds.extend(agencies.iter().map(|a| a.kind));
    kinds.push(chair.agency_kind);
    kinds.push(organiser.agency_kind);
    for g in &c.guests {
        if let Ok(a) = crate::store::agencies::find(db, &g.agency_id).await {
            kinds.push(a.kind);
        }
    }
    let reason_for = |requirement: &str| {
        c.reasons
            .iter()
            .find(|(r, why)| r == requirement && !why.trim().is_empty())
            .map(|(_, why)| why.trim().to_string())
    };
    let mut exclusions: Vec<(String, String)> = Vec::new();
    let mut missing: Vec<(String, String)> = Vec::new();
    for rule in agency_rules(c.kind)
        .iter()
        .filter(|r| r.need == Need::Required)
    {
        if kinds.contains(&rule.agency) {
            continue;
        }
        let key = rule.agency.as_str().to_string();
        match reason_for(&key) {
            Some(why) => exclusions.push((key, why)),
            None => missing.push((key, rule.agency.label().to_string())),
        }
    }
    if c.kind.needs_seniority() {
        let csc_manager = |p: &people::Person| {
            p.agency_kind == AgencyKind::ChildrensSocialCare && p.role == Role::Manager
        };
        if !(invitees.iter().any(csc_manager) || csc_manager(&chair) || csc_manager(&organiser)) {
            match reason_for(CSC_MANAGER) {
                Some(why) => exclusions.push((CSC_MANAGER.to_string(), why)),
                None => missing.push((CSC_MANAGER.to_string(), requirement_label(CSC_MANAGER))),
            }
        }
    }
    if !missing.is_empty() {
        return Err(StoreError::Invalid(format!(
            "A {} needs {}. Invite them, or record why they are left out.",
            c.kind.label().to_lowercase(),
            missing
                .iter()
                .map(|(_, l)| l.to_lowercase())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    // Guests become people of their agency (outside the transaction: the
    // people store writes its own audit event).
    let by_label = By {
        person_id: Some(&by.person_id),
        label: &by.name,
    };
    for g in &c.guests {
        let person = match people::find_by_email(db, &g.email).await {
            Ok(p) => p,
            Err(StoreError::NotFound) => {
                people::add(
                    db,
                    by_label,
                    now,
                    people::NewPerson {
                        agency_id: &g.agency_id,
                        name: g.name.trim(),
                        email: &g.email,
                        role: Role::Practitioner,
                        guest: true,
                    },
                )
                .await?
            }
            Err(e) => return Err(e),
        };
        if person.id != by.person_id && !invitees.iter().any(|p| p.id == person.id) {
            invitees.push(person);
        }
    }

    let id = new_id();
    let mut tx = db.write().await?;
    let day = london_date(c.starts_at);
    let channel_id = channels::create_in(
        &mut tx,
        access.case_id(),
        "meeting",
        &format!("{} {day}", c.kind.label()),
        now,
    )
    .await?;
    sqlx::query(
        "INSERT INTO meetings (id, case_id, kind, starts_at, ends_at, mode, location, chair_id, organiser_id, \
         channel_id, case_access, status, sequence, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'scheduled', 0, $12)",
    )
    .bind(&id)
    .bind(access.case_id())
    .bind(c.kind.as_str())
    .bind(c.starts_at)
    .bind(c.ends_at)
    .bind(c.mode.as_str())
    .bind(&location)
    .bind(&c.chair_id)
    .bind(&by.person_id)
    .bind(&channel_id)
    .bind(&c.case_access)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    // The meeting's channel: the organiser, the chair and those who accept.
    add_to_channel(&mut tx, &channel_id, &by.person_id).await?;
    if c.chair_id != by.person_id {
        add_to_channel(&mut tx, &channel_id, &c.chair_id).await?;
        // The chair is invited too (accepted), so they get the calendar entry.
        insert_invitation(
            &mut tx,
            &id,
            &chair.agency_id,
            Some(&chair.id),
            &chair.email,
            Response::Accepted,
            now,
            None,
        )
        .await?;
    }
    for p in invitees.iter().filter(|p| p.id != c.chair_id) {
        insert_invitation(
            &mut tx,
            &id,
            &p.agency_id,
            Some(&p.id),
            &p.email,
            Response::Pending,
            now,
            None,
        )
        .await?;
    }
    for a in &agencies {
        let email = a.duty_email.clone().unwrap_or_default();
        insert_invitation(
            &mut tx,
            &id,
            &a.id,
            None,
            &email,
            Response::Pending,
            now,
            None,
        )
        .await?;
    }
    for (requirement, reason) in &exclusions {
        sqlx::query(
            "INSERT INTO meeting_exclusions (meeting_id, requirement, reason, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(requirement)
        .bind(reason)
        .bind(&by.person_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    audit::by_actor(
        &mut tx,
        now,
        by,
        "meeting.convened",
        Some(access.case_id()),
        Some(&id),
        serde_json::json!({
            "kind": c.kind.as_str(),
            "starts_at": c.starts_at,
            "people": invitees.iter().map(|p| &p.id).collect::<Vec<_>>(),
            "agencies": agencies.iter().map(|a| &a.id).collect::<Vec<_>>(),
            "left_out": exclusions.iter().map(|(r, _)| r).collect::<Vec<_>>(),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

fn dedup(ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        let id = id.trim();
        if !id.is_empty() && !out.iter().any(|o| o == id) {
            out.push(id.to_string());
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn insert_invitation(
    conn: &mut Conn,
    meeting_id: &str,
    agency_id: &str,
    person_id: Option<&str>,
    email: &str,
    response: Response,
    now: Millis,
    nominated_from: Option<&str>,
) -> StoreResult<String> {
    let id = new_id();
    let responded_at = (response != Response::Pending).then_some(now);
    sqlx::query(
        "INSERT INTO meeting_invitations (id, meeting_id, agency_id, person_id, email, response, responded_at, \
         nominated_from, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&id)
    .bind(meeting_id)
    .bind(agency_id)
    .bind(person_id)
    .bind(email)
    .bind(response.as_str())
    .bind(responded_at)
    .bind(nominated_from)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

pub(super) async fn add_to_channel(
    conn: &mut Conn,
    channel_id: &str,
    person_id: &str,
) -> StoreResult<()> {
    let there = sqlx::query(
        "SELECT 1 AS one FROM channel_restrictions WHERE channel_id = $1 AND person_id = $2",
    )
    .bind(channel_id)
    .bind(person_id)
    .fetch_optional(&mut *conn)
    .await?;
    if there.is_none() {
        sqlx::query("INSERT INTO channel_restrictions (channel_id, agency_id, person_id) VALUES ($1, NULL, $2)")
            .bind(channel_id)
            .bind(person_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// What answering an invitation did.
/// A change of time, place or mode: bumps the iCalendar sequence. Time-limited
/// case access of those who accepted is lengthened to the new end.
#[allow(clippy::too_many_arguments)]
pub async fn reschedule(
    db: &Db,
    access: &MeetingAccess,
    actor: &Actor,
    starts_at: Millis,
    ends_at: Millis,
    mode: Mode,
    location: &str,
    now: Millis,
) -> StoreResult<Meeting> {
    if !may_manage(db, access, actor).await? {
        return Err(forbidden(
            "Only the organiser, the chair, the lead social worker or a manager can change the meeting.",
        ));
    }
    let meeting = get(db, access).await?;
    if meeting.status != "scheduled" {
        return Err(StoreError::Invalid(
            "Only a scheduled meeting can be changed.".into(),
        ));
    }
    if starts_at <= now || ends_at <= starts_at || ends_at - starts_at > LONGEST_MS {
        return Err(StoreError::Invalid(
            "The meeting must start in the future and last between 1 minute and 8 hours.".into(),
        ));
    }
    let location = location.trim();
    if let Reach::Member(case_access) = access.reach() {
        let case = cases::get(db, case_access).await?;
        if location.is_empty() || mentions_child(location, &case.child_name, &case.la_reference) {
            return Err(StoreError::Invalid(
                "Give a location that does not name the child or give their reference.".into(),
            ));
        }
    }
    let mut tx = db.write().await?;
    sqlx::query(
        "UPDATE meetings SET starts_at = $1, ends_at = $2, mode = $3, location = $4, sequence = sequence + 1 WHERE id = $5",
    )
    .bind(starts_at)
    .bind(ends_at)
    .bind(mode.as_str())
    .bind(location)
    .bind(&meeting.id)
    .execute(&mut *tx)
    .await?;
    if meeting.case_access == "meeting" {
        sqlx::query(
            "UPDATE case_memberships SET expires_at = $1 WHERE case_id = $2 AND ended_at IS NULL \
             AND expires_at IS NOT NULL AND expires_at < $1 AND person_id IN \
             (SELECT person_id FROM meeting_invitations WHERE meeting_id = $3 AND response = 'accepted' AND person_id IS NOT NULL)",
        )
        .bind(ends_at)
        .bind(&meeting.case_id)
        .bind(&meeting.id)
        .execute(&mut *tx)
        .await?;
    }
    audit::by_actor(&mut tx, now, actor, "meeting.rescheduled", Some(&meeting.case_id), Some(&meeting.id), serde_json::json!({ "starts_at": starts_at, "ends_at": ends_at, "sequence": meeting.sequence + 1 }))
    .await?;
    tx.commit().await?;
    get(db, access).await
}

/// Cancel a meeting (a reason is required); bumps the sequence, and ends
/// the case access that accepting it gave. Returns the meeting and the
/// people whose access ended.
pub async fn cancel(
    db: &Db,
    access: &MeetingAccess,
    actor: &Actor,
    reason: &str,
    now: Millis,
) -> StoreResult<(Meeting, Vec<String>)> {
    if !may_manage(db, access, actor).await? {
        return Err(forbidden(
            "Only the organiser, the chair, the lead social worker or a manager can cancel the meeting.",
        ));
    }
    if reason.trim().is_empty() {
        return Err(StoreError::Invalid(
            "Give the reason for cancelling.".into(),
        ));
    }
    let meeting = get(db, access).await?;
    if meeting.status != "scheduled" {
        return Err(StoreError::Invalid(
            "Only a scheduled meeting can be cancelled.".into(),
        ));
    }
    let mut tx = db.write().await?;
    sqlx::query("UPDATE meetings SET status = 'cancelled', cancel_reason = $1, sequence = sequence + 1 WHERE id = $2")
        .bind(reason.trim())
        .bind(&meeting.id)
        .execute(&mut *tx)
        .await?;
    // Case access that came only with this meeting ends with it.
    let granted = sqlx::query(
        "SELECT person_id FROM case_memberships WHERE case_id = $1 AND ended_at IS NULL AND expires_at = $2 \
         AND reason LIKE 'Accepted the invitation%' AND person_id IN \
         (SELECT person_id FROM meeting_invitations WHERE meeting_id = $3 AND person_id IS NOT NULL)",
    )
    .bind(&meeting.case_id)
    .bind(meeting.ends_at)
    .bind(&meeting.id)
    .fetch_all(&mut *tx)
    .await?;
    let mut ended = Vec::with_capacity(granted.len());
    for row in &granted {
        let person_id: String = row.try_get("person_id")?;
        sqlx::query(
            "UPDATE case_memberships SET ended_at = $1, ended_by_label = $2, end_reason = 'the meeting was cancelled' \
             WHERE case_id = $3 AND person_id = $4 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(&actor.name)
        .bind(&meeting.case_id)
        .bind(&person_id)
        .execute(&mut *tx)
        .await?;
        ended.push(person_id);
    }
    audit::by_actor(
        &mut tx,
        now,
        actor,
        "meeting.cancelled",
        Some(&meeting.case_id),
        Some(&meeting.id),
        serde_json::json!({ "sequence": meeting.sequence + 1, "access_ended": ended }),
    )
    .await?;
    tx.commit().await?;
    Ok((get(db, access).await?, ended))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_is_not_named_in_a_location() {
        let (name, la) = ("Lily Ashworth", "LA-2041-77");
        assert!(mentions_child("Ashworth family home", name, la));
        assert!(mentions_child("lily ashworth's school", name, la));
        assert!(mentions_child("re LA-2041-77", name, la));
        assert!(!mentions_child(
            "Northshire Police Station, room 2",
            name,
            la
        ));
        assert!(!mentions_child("Microsoft Teams link in Confer", name, la));
        // A first name alone is too common to refuse.
        assert!(!mentions_child("Lily Road Community Centre", name, la));
    }
}
