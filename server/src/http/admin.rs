//! Agency administration: an agency's admins add their own people, set
//! their roles and deactivate them; nothing beyond their own agency.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::error::{AppError, AppResult};
use super::session::SignedIn;
use super::{AppState, Revoked};
use crate::domain::access::{AgencyAdmin, authorize_agency_admin};
use crate::domain::vocabulary::Role;
use crate::store::agencies::By;
use crate::store::people::{self, NewPerson};
use crate::web::templates::AdminPeoplePage;

fn admin_of(who: &SignedIn) -> AppResult<AgencyAdmin> {
    authorize_agency_admin(&who.person.actor()).ok_or_else(|| {
        AppError::Forbidden("Only your agency's administrators can manage its people.".into())
    })
}

async fn render(
    state: &AppState,
    who: &SignedIn,
    admin: &AgencyAdmin,
    error: Option<String>,
) -> AppResult<Response> {
    let page = AdminPeoplePage {
        chrome: who.chrome(state),
        agency_name: who.person.agency_name.clone(),
        people: people::list_for_admin(&state.db, admin).await?,
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        error: error.clone(),
    };
    let status = if error.is_some() {
        http::StatusCode::BAD_REQUEST
    } else {
        http::StatusCode::OK
    };
    Ok((status, Html(page.render()?)).into_response())
}

pub async fn people_page(State(state): State<AppState>, who: SignedIn) -> AppResult<Response> {
    let admin = admin_of(&who)?;
    render(&state, &who, &admin, None).await
}

#[derive(Deserialize)]
pub struct AddForm {
    csrf_token: String,
    name: String,
    email: String,
    role: String,
    #[serde(default)]
    guest: Option<String>,
}

pub async fn add_person(
    State(state): State<AppState>,
    who: SignedIn,
    Form(form): Form<AddForm>,
) -> AppResult<Response> {
    who.check_csrf(&form.csrf_token)?;
    let admin = admin_of(&who)?;
    let Ok(role) = form.role.parse::<Role>() else {
        return render(
            &state,
            &who,
            &admin,
            Some("Choose a role from the list".into()),
        )
        .await;
    };
    let result = people::add(
        &state.db,
        By {
            person_id: Some(admin.person_id()),
            label: admin.name(),
        },
        state.now(),
        NewPerson {
            agency_id: admin.agency_id(),
            name: &form.name,
            email: &form.email,
            role,
            guest: form.guest.is_some(),
        },
    )
    .await;
    match result {
        Ok(_) => Ok(Redirect::to("/admin/people").into_response()),
        Err(crate::store::StoreError::Invalid(why)) => {
            render(&state, &who, &admin, Some(capitalise(&why))).await
        }
        Err(crate::store::StoreError::Conflict(what)) => {
            render(
                &state,
                &who,
                &admin,
                Some(format!("{} already exists", capitalise(&what))),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[derive(Deserialize)]
pub struct RoleForm {
    csrf_token: String,
    role: String,
}

pub async fn set_role(
    State(state): State<AppState>,
    who: SignedIn,
    Path(person_id): Path<String>,
    Form(form): Form<RoleForm>,
) -> AppResult<Response> {
    who.check_csrf(&form.csrf_token)?;
    let admin = admin_of(&who)?;
    let role: Role = form.role.parse().map_err(AppError::BadRequest)?;
    people::set_role(&state.db, &admin, state.now(), &person_id, role).await?;
    Ok(Redirect::to("/admin/people").into_response())
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf_token: String,
}

pub async fn deactivate(
    State(state): State<AppState>,
    who: SignedIn,
    Path(person_id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> AppResult<Response> {
    who.check_csrf(&form.csrf_token)?;
    let admin = admin_of(&who)?;
    people::deactivate(&state.db, &admin, state.now(), &person_id).await?;
    state.revoked(Revoked::Person { person_id });
    Ok(Redirect::to("/admin/people").into_response())
}
