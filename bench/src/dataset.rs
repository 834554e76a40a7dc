//! The data the bench needs, made through Confer's own store API: two
//! agencies (children's social care and police), and for each case one case
//! channel whose members alternate between them, so every delivery crosses
//! an agency boundary. Everyone signs in through `POST /dev/sign-in`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use confer::domain::clock::{Clock as _, SystemClock};
use confer::domain::vocabulary::{AgencyKind, Role};
use confer::store::Db;
use confer::store::agencies::{self, By};
use confer::store::cases::{self, NewCase};
use confer::store::channels;
use confer::store::people::{self, NewPerson};
use tokio::task::JoinSet;

use crate::{Res, fail};

const BY: By<'static> = By {
    person_id: None,
    label: "confer-bench",
};

/// A case channel and its members' person ids.
#[derive(Clone, Debug)]
pub struct SeedChannel {
    pub id: String,
    pub people: Vec<String>,
}

/// Channels of one shape, for one scenario.
#[derive(Clone, Debug)]
pub struct Group {
    pub name: String,
    pub channels: Vec<SeedChannel>,
    /// Session tokens, aligned with `channels[c].people[m]`, once signed in.
    pub cookies: Option<Vec<Vec<String>>>,
}

/// The groups a run uses: seeded into Confer's database at `database_url`
/// (settings from `dir`) when `confer`, made up for the baseline otherwise.
pub async fn groups(
    confer: bool,
    dir: &std::path::Path,
    database_url: &str,
    shapes: &[(String, usize, usize)],
) -> Res<Vec<Group>> {
    if !confer {
        return Ok(shapes
            .iter()
            .map(|(g, c, p)| synthetic(g, *c, *p))
            .collect());
    }
    let settings = crate::procs::confer_settings(dir, database_url);
    let db = confer::app::open_database(&settings).await?;
    let groups = seed(&db, shapes).await?;
    db.close().await;
    Ok(groups)
}

/// Add the two agencies and, for each `(name, channels, people_per_channel)`,
/// that many cases, people and memberships.
pub async fn seed(db: &Db, shapes: &[(String, usize, usize)]) -> Res<Vec<Group>> {
    let started = Instant::now();
    let now = SystemClock.now_ms();
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let csc = agencies::add(
        db,
        BY,
        now,
        &format!("Bench Children's Social Care {tag}"),
        AgencyKind::ChildrensSocialCare,
        None,
    )
    .await?;
    let police = agencies::add(
        db,
        BY,
        now,
        &format!("Bench Police {tag}"),
        AgencyKind::Police,
        None,
    )
    .await?;
    let total: usize = shapes.iter().map(|(_, c, p)| c * p).sum();
    let mut done = 0usize;
    let mut last_report = Instant::now();
    let mut groups = Vec::new();
    for (name, channel_count, per) in shapes {
        let mut chans = Vec::with_capacity(*channel_count);
        for c in 0..*channel_count {
            let mut members = Vec::with_capacity(*per);
            for m in 0..*per {
                let agency = if m % 2 == 0 { &csc } else { &police };
                let person = people::add(
                    db,
                    BY,
                    now,
                    NewPerson {
                        agency_id: &agency.id,
                        name: &format!("Bench person {name}-{c}-{m}"),
                        email: &format!("bench-{tag}-{name}-{c}-{m}@bench.example"),
                        role: Role::Practitioner,
                        guest: false,
                    },
                )
                .await?;
                members.push(person);
            }
            let lead = members
                .first()
                .ok_or_else(|| fail("a channel needs at least one member"))?;
            let case = cases::open(
                db,
                BY,
                now,
                NewCase {
                    child_name: &format!("Bench child {name}-{c}"),
                    child_dob: "2015-01-01",
                    la_reference: &format!("BENCH-{tag}-{name}-{c}"),
                    lead_social_worker_id: &lead.id,
                },
            )
            .await?;
            for p in members.iter().skip(1) {
                cases::add_member(db, BY, now, &case.id, &p.id, "load benchmark", None).await?;
            }
            let access = cases::authorize(db, &lead.actor(), &case.id, now).await?;
            let channel = channels::case_channel(db, &access).await?;
            chans.push(SeedChannel {
                id: channel.id,
                people: members.into_iter().map(|p| p.id).collect(),
            });
            done += per;
            if last_report.elapsed() > Duration::from_secs(5) {
                eprintln!("    … seeded {done}/{total} people");
                last_report = Instant::now();
            }
        }
        groups.push(Group {
            name: name.clone(),
            channels: chans,
            cookies: None,
        });
    }
    eprintln!(
        "  seeded {total} people in {} cases in {:.1} s",
        shapes.iter().map(|(_, c, _)| c).sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    Ok(groups)
}

/// Channels with made-up ids, for a baseline-only run (the baseline does
/// not check who anyone is).
pub fn synthetic(name: &str, channels: usize, per: usize) -> Group {
    Group {
        name: name.to_string(),
        channels: (0..channels)
            .map(|_| SeedChannel {
                id: uuid::Uuid::new_v4().to_string(),
                people: vec![String::new(); per],
            })
            .collect(),
        cookies: Some(vec![vec![String::new(); per]; channels]),
    }
}

/// An HTTPS client that trusts only the development certificate.
pub fn http_client(cert_pem: &[u8]) -> Res<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem)?)
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// Wait until `/readyz` answers 200.
pub async fn wait_ready(client: &reqwest::Client, base: &str) -> Res<()> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(fail(format!(
                "{base}/readyz did not answer 200 within 60 s"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sign every person in through `POST /dev/sign-in`; returns each one's
/// session token (the value of the `__Host-confer_session` cookie).
pub async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    group: &mut Group,
    concurrency: usize,
) -> Res<()> {
    let started = Instant::now();
    let ids: Vec<(usize, usize, String)> = group
        .channels
        .iter()
        .enumerate()
        .flat_map(|(c, ch)| {
            ch.people
                .iter()
                .enumerate()
                .map(move |(m, p)| (c, m, p.clone()))
        })
        .collect();
    let total = ids.len();
    let queue = Arc::new(std::sync::Mutex::new(ids));
    let mut set = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let queue = queue.clone();
        let client = client.clone();
        let url = format!("{base}/dev/sign-in");
        set.spawn(async move {
            let mut got = Vec::new();
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
                let Some((c, m, person_id)) = next else {
                    break;
                };
                let res = client
                    .post(&url)
                    .form(&[("person_id", person_id.as_str())])
                    .send()
                    .await?;
                if res.status() != 303 {
                    return Err(fail(format!(
                        "POST /dev/sign-in answered {} (is the server in development mode on loopback?)",
                        res.status()
                    )));
                }
                let token = res
                    .headers()
                    .get_all(reqwest::header::SET_COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(|v| v.strip_prefix("__Host-confer_session="))
                    .and_then(|v| v.split(';').next())
                    .map(str::to_string)
                    .ok_or_else(|| fail("POST /dev/sign-in set no session cookie"))?;
                got.push((c, m, token));
            }
            Ok::<_, crate::BoxError>(got)
        });
    }
    let mut cookies: Vec<Vec<String>> = group
        .channels
        .iter()
        .map(|ch| vec![String::new(); ch.people.len()])
        .collect();
    while let Some(r) = set.join_next().await {
        for (c, m, token) in r.map_err(|e| fail(e.to_string()))?? {
            cookies[c][m] = token;
        }
    }
    eprintln!(
        "  signed in {total} people in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    group.cookies = Some(cookies);
    Ok(())
}

/// A fresh PostgreSQL database next to the one `admin_url` names; returns
/// its URL and name.
pub async fn fresh_postgres(admin_url: &str) -> Res<(String, String)> {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let name = format!("confer_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::AnyConnection::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok((url_with_database(admin_url, &name), name))
}

pub async fn drop_postgres(admin_url: &str, name: &str) -> Res<()> {
    use sqlx::Connection as _;
    let mut conn = sqlx::AnyConnection::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(())
}

fn url_with_database(admin: &str, name: &str) -> String {
    let swap = |base: &str| format!("{}/{name}", base.rsplit_once('/').map_or(base, |(b, _)| b));
    match admin.split_once('?') {
        Some((base, query)) => format!("{}?{query}", swap(base)),
        None => swap(admin),
    }
}
