//! The fictional demo partnership a newcomer sees on first start in
//! development mode. Every name, address and case here is invented; the
//! `.example` domain is reserved and never delivers mail.

use crate::domain::clock::Millis;
use crate::domain::vocabulary::{AgencyKind, Role};
use crate::store::agencies::{self, By};
use crate::store::cases::{self, NewCase};
use crate::store::people::{self, NewPerson};
use crate::store::{Db, StoreResult};

const SEEDER: By<'static> = By {
    person_id: None,
    label: "demo data",
};

type DemoPerson = (&'static str, &'static str, Role);

/// (agency, kind, duty address for meeting invitations, people)
const PARTNERSHIP: &[(&str, AgencyKind, &str, &[DemoPerson])] = &[
    (
        "Northshire County Council Children's Social Care",
        AgencyKind::ChildrensSocialCare,
        "duty.team@northshire-council.example",
        &[
            (
                "Sam Patel",
                "sam.patel@northshire-council.example",
                Role::Practitioner,
            ),
            (
                "Alex Morgan",
                "alex.morgan@northshire-council.example",
                Role::Manager,
            ),
            (
                "Jo Fraser",
                "jo.fraser@northshire-council.example",
                Role::Admin,
            ),
            (
                "Ria Chen",
                "ria.chen@northshire-council.example",
                Role::Auditor,
            ),
        ],
    ),
    (
        "Northshire Police",
        AgencyKind::Police,
        "mash@northshire-police.example",
        &[
            (
                "DC Lee Harris",
                "lee.harris@northshire-police.example",
                Role::Practitioner,
            ),
            (
                "DS Priya Shah",
                "priya.shah@northshire-police.example",
                Role::Manager,
            ),
        ],
    ),
    (
        "Northshire NHS Foundation Trust",
        AgencyKind::Health,
        "safeguarding@northshire-nhs.example",
        &[
            (
                "Kim Okafor",
                "kim.okafor@northshire-nhs.example",
                Role::Practitioner,
            ),
            (
                "Dr Ben Adeyemi",
                "ben.adeyemi@northshire-nhs.example",
                Role::Manager,
            ),
        ],
    ),
    (
        "Riverside Academy",
        AgencyKind::Education,
        "safeguarding@riverside-academy.example",
        &[(
            "Tom Evans",
            "tom.evans@riverside-academy.example",
            Role::Practitioner,
        )],
    ),
    (
        "Northshire Homes",
        AgencyKind::Housing,
        "duty@northshire-homes.example",
        &[(
            "Dana Wright",
            "dana.wright@northshire-homes.example",
            Role::Practitioner,
        )],
    ),
    // A commissioned return home interview service: independent of the
    // case-holding social workers, on no case until it is given an interview.
    (
        "Northshire Return Interview Service",
        AgencyKind::Other,
        "referrals@northshire-ris.example",
        &[(
            "Casey Brooks",
            "casey.brooks@northshire-ris.example",
            Role::Practitioner,
        )],
    ),
];

/// (child, date of birth, local-authority reference, lead's email, members' emails with reasons)
type DemoCase = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const CASES: &[DemoCase] = &[
    (
        "Lily Ashworth",
        "2013-04-17",
        "NCC-104233",
        "sam.patel@northshire-council.example",
        &[
            (
                "alex.morgan@northshire-council.example",
                "team manager for the case",
            ),
            (
                "lee.harris@northshire-police.example",
                "police lead for the section 47 enquiry",
            ),
            (
                "kim.okafor@northshire-nhs.example",
                "school nurse, health lead",
            ),
            (
                "tom.evans@riverside-academy.example",
                "designated safeguarding lead at the child's school",
            ),
        ],
    ),
    (
        "Kai Brennan",
        "2010-11-02",
        "NCC-099871",
        "sam.patel@northshire-council.example",
        &[
            (
                "alex.morgan@northshire-council.example",
                "team manager for the case",
            ),
            (
                "lee.harris@northshire-police.example",
                "missing episodes reported to police",
            ),
            (
                "dana.wright@northshire-homes.example",
                "family's housing officer",
            ),
        ],
    ),
    (
        "Noah Okoye",
        "2016-06-21",
        "NCC-110458",
        "alex.morgan@northshire-council.example",
        &[
            (
                "priya.shah@northshire-police.example",
                "police decision-maker for strategy discussions",
            ),
            (
                "ben.adeyemi@northshire-nhs.example",
                "named doctor for safeguarding",
            ),
        ],
    ),
];

/// Seed the demo partnership if the database has no agencies yet. Returns
/// whether it seeded.
pub async fn demo_partnership(db: &Db, now: Millis) -> StoreResult<bool> {
    if agencies::count(db).await? > 0 {
        return Ok(false);
    }
    for (name, kind, duty, members) in PARTNERSHIP {
        let agency = agencies::add(db, SEEDER, now, name, *kind, Some(duty)).await?;
        for (person, email, role) in *members {
            people::add(
                db,
                SEEDER,
                now,
                NewPerson {
                    agency_id: &agency.id,
                    name: person,
                    email,
                    role: *role,
                    guest: false,
                },
            )
            .await?;
        }
    }
    for (i, (child, dob, la_ref, lead, members)) in CASES.iter().enumerate() {
        let lead = people::find_by_email(db, lead).await?;
        // Stagger the opening times so "newest first" has an order to show.
        let opened = now - (CASES.len() - i) as Millis * 86_400_000;
        let case = cases::open(
            db,
            SEEDER,
            opened,
            NewCase {
                child_name: child,
                child_dob: dob,
                la_reference: la_ref,
                lead_social_worker_id: &lead.id,
            },
        )
        .await?;
        for (email, reason) in *members {
            let person = people::find_by_email(db, email).await?;
            cases::add_member(db, SEEDER, opened, &case.id, &person.id, reason, None).await?;
        }
    }
    Ok(true)
}
