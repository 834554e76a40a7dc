//! Answers to an invitation: accept, tentative, decline, or pass to a colleague; what each does to the answerer's case access.

use super::*;

#[derive(Clone, Debug)]
pub struct Answered {
    /// A new invitation for a nominated colleague, to be sent.
    pub nominee_invitation: Option<Invitation>,
    /// Declining ended the case access this meeting had given: close their live views.
    pub access_ended: bool,
}

/// Answer an invitation: accept, decline, tentative, or nominate a colleague
/// of the same agency (by email; a new guest of that agency if `nominee_name`
/// is given and nobody has the address).
#[allow(clippy::too_many_arguments)]
pub async fn respond(
    db: &Db,
    access: &MeetingAccess,
    me: &people::Person,
    invitation_id: &str,
    response: Response,
    note: &str,
    nominee: Option<(&str, &str)>,
    now: Millis,
) -> StoreResult<Answered> {
    if me.id != access.person_id {
        return Err(StoreError::NotFound);
    }
    let meeting = get(db, access).await?;
    if meeting.status != "scheduled" || now >= meeting.ends_at {
        return Err(StoreError::Invalid(
            "This meeting is over or cancelled: answers are closed.".into(),
        ));
    }
    let mine = my_invitations(db, &me.actor(), me.guest, access.meeting_id()).await?;
    let invitation = mine
        .into_iter()
        .find(|i| i.id == invitation_id)
        .ok_or(StoreError::NotFound)?;
    if invitation.response == Response::Nominated {
        return Err(StoreError::Invalid(
            "This invitation was passed to a colleague.".into(),
        ));
    }
    let by = By {
        person_id: Some(&me.id),
        label: &me.name,
    };
    // A nominee: a colleague of the invitation's agency.
    let nominee_person = match (response, nominee) {
        (Response::Nominated, Some((email, name))) => {
            let person = match people::find_by_email(db, email).await {
                Ok(p) => p,
                Err(StoreError::NotFound) if !name.trim().is_empty() => {
                    people::add(
                        db,
                        by,
                        now,
                        people::NewPerson {
                            agency_id: &invitation.agency_id,
                            name: name.trim(),
                            email,
                            role: Role::Practitioner,
                            guest: true,
                        },
                    )
                    .await?
                }
                Err(StoreError::NotFound) => {
                    return Err(StoreError::Invalid(
                        "Nobody has that email address: give your colleague's name too, and they will be invited as a guest."
                            .into(),
                    ));
                }
                Err(e) => return Err(e),
            };
            if person.agency_id != invitation.agency_id {
                return Err(StoreError::Invalid(format!(
                    "You can only nominate a colleague from {}.",
                    invitation.agency_name
                )));
            }
            if !person.active || person.id == me.id {
                return Err(StoreError::Invalid(
                    "Nominate an active colleague other than yourself.".into(),
                ));
            }
            Some(person)
        }
        (Response::Nominated, None) => {
            return Err(StoreError::Invalid(
                "Give your colleague's email address.".into(),
            ));
        }
        (Response::Pending, _) => {
            return Err(StoreError::Invalid("Choose an answer.".into()));
        }
        _ => None,
    };
    let mut access_ended = false;
    let mut tx = db.write().await?;
    // Taking up an agency's invitation makes it this person's: later
    // updates and reminders go to them, not to the duty inbox.
    sqlx::query(
        "UPDATE meeting_invitations SET response = $1, responded_at = $2, response_note = $3, person_id = $4, \
         email = $5 WHERE id = $6",
    )
    .bind(response.as_str())
    .bind(now)
    .bind(note.trim())
    .bind(&me.id)
    .bind(&me.email)
    .bind(&invitation.id)
    .execute(&mut *tx)
    .await?;
    match response {
        Response::Accepted => {
            add_to_channel(&mut tx, &meeting.channel_id, &me.id).await?;
            let current = sqlx::query(
                "SELECT expires_at FROM case_memberships WHERE case_id = $1 AND person_id = $2 AND ended_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > $3)",
            )
            .bind(&meeting.case_id)
            .bind(&me.id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let wanted = (meeting.case_access == "meeting").then_some(meeting.ends_at);
            match current {
                None => {
                    cases::grant_in(
                        &mut tx,
                        By {
                            person_id: Some(&meeting.organiser_id),
                            label: &meeting.organiser_name,
                        },
                        now,
                        &meeting.case_id,
                        &me.id,
                        &format!(
                            "Accepted the invitation to the {} on {}",
                            meeting.kind.label().to_lowercase(),
                            london_date(meeting.starts_at)
                        ),
                        wanted,
                    )
                    .await?;
                }
                Some(row) => {
                    // A time-limited grant is lengthened to cover the meeting.
                    let expires: Option<Millis> = row.try_get("expires_at")?;
                    if let Some(e) = expires
                        && wanted.is_none_or(|w| w > e)
                    {
                        sqlx::query(
                            "UPDATE case_memberships SET expires_at = $1 WHERE case_id = $2 AND person_id = $3 AND ended_at IS NULL",
                        )
                        .bind(wanted)
                        .bind(&meeting.case_id)
                        .bind(&me.id)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
            }
        }
        Response::Declined => {
            sqlx::query(
                "DELETE FROM channel_restrictions WHERE channel_id = $1 AND person_id = $2",
            )
            .bind(&meeting.channel_id)
            .bind(&me.id)
            .execute(&mut *tx)
            .await?;
            // Case access that came only with this meeting ends with the decline.
            let ended = sqlx::query(
                "UPDATE case_memberships SET ended_at = $1, ended_by_label = $2, end_reason = 'declined the meeting' \
                 WHERE case_id = $3 AND person_id = $4 AND ended_at IS NULL AND expires_at = $5 \
                 AND reason LIKE 'Accepted the invitation%'",
            )
            .bind(now)
            .bind(&me.name)
            .bind(&meeting.case_id)
            .bind(&me.id)
            .bind(meeting.ends_at)
            .execute(&mut *tx)
            .await?;
            access_ended = ended.rows_affected() > 0;
        }
        _ => {}
    }
    let mut nominee_invitation_id = None;
    if let Some(p) = &nominee_person {
        nominee_invitation_id = Some(
            insert_invitation(
                &mut tx,
                &meeting.id,
                &invitation.agency_id,
                Some(&p.id),
                &p.email,
                Response::Pending,
                now,
                Some(&invitation.id),
            )
            .await?,
        );
    }
    audit::append(
        &mut tx,
        now,
        NewEvent {
            actor_id: Some(&me.id),
            actor_label: &me.name,
            action: "meeting.responded",
            case_id: Some(&meeting.case_id),
            subject: Some(&meeting.id),
            detail: serde_json::json!({
                "invitation_id": invitation.id,
                "response": response.as_str(),
                "nominee_id": nominee_person.as_ref().map(|p| &p.id),
            }),
        },
    )
    .await?;
    tx.commit().await?;
    let nominee_invitation = match nominee_invitation_id {
        Some(id) => invitations_unchecked(db, &meeting.id)
            .await?
            .into_iter()
            .find(|i| i.id == id),
        None => None,
    };
    Ok(Answered {
        nominee_invitation,
        access_ended,
    })
}
