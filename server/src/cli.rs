//! The command line: serving, migrations, configuration checks, and the
//! administration needed to bootstrap a real deployment without a browser.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::Settings;
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::vocabulary::{AgencyKind, Role};
use crate::store::agencies::{self, By};
use crate::store::cases::{self, NewCase};
use crate::store::people::{self, NewPerson};
use crate::store::{Db, StoreError};
use crate::{app, telemetry};

mod audit_log;
mod backup;
mod keys;

#[derive(Debug, Parser)]
#[command(
    name = "confer",
    version,
    about = "Secure multi-agency messaging and meetings for children's safeguarding",
    long_about = "Confer lets children's social care, police, health, schools and housing discuss a \
child's case in channels only the case team can see, convene statutory meetings, and prove \
afterwards who was told what, when, why and on what lawful basis.\n\n\
Configuration comes from built-in defaults, then the file given with --config, then environment \
variables CONFER_<SECTION>__<KEY> (for example CONFER_SERVER__LISTEN=0.0.0.0:443).",
    after_help = "Run `confer` with no command to serve on the configured address."
)]
pub struct Cli {
    /// A TOML configuration file (see config/default.toml and config/production.example.toml).
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "CONFER_CONFIG",
        value_name = "PATH"
    )]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web interface and API (the default when no command is given).
    Serve,
    /// Apply database migrations, then exit. `serve` also applies them at start-up.
    Migrate,
    /// Print the effective configuration with every secret redacted, or name the key that is wrong.
    CheckConfig,
    /// Manage agencies: the organisations in the partnership.
    #[command(subcommand)]
    Agency(AgencyCommand),
    /// Manage people: practitioners in an agency, with their role.
    #[command(subcommand)]
    Person(PersonCommand),
    /// Open cases and manage who may see them.
    #[command(subcommand)]
    Case(CaseCommand),
    /// Check the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write a consistent snapshot of the SQLite database to a new file, while the server runs
    /// (on PostgreSQL: explains the pg_dump route).
    Backup {
        /// The backup file to create; an existing file is never overwritten.
        #[arg(value_name = "PATH")]
        path: PathBuf,
    },
    /// Restore a backup made by `confer backup` into a fresh, empty data directory.
    Restore {
        /// The backup file.
        #[arg(value_name = "PATH")]
        path: PathBuf,
    },
    /// Encryption keys for the columns that identify a child.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// The key ids in the key file (current first) and how many cases each seals.
    List,
    /// Add a new key, make it current, and re-seal every case under it in small
    /// batches while the service runs; running servers pick the new key up
    /// within one scheduler interval.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum AgencyCommand {
    /// Add an agency.
    Add {
        /// The agency's name, e.g. "Northshire Police".
        #[arg(long)]
        name: String,
        /// One of: childrens_social_care, police, health, education, housing, probation,
        /// youth_justice, early_help, other.
        #[arg(long, value_parser = parse_kind)]
        kind: AgencyKind,
        /// The agency's duty inbox, which receives meeting invitations sent to the agency.
        #[arg(long, value_name = "EMAIL")]
        duty_email: Option<String>,
    },
    /// List agencies.
    List,
}

#[derive(Debug, Subcommand)]
pub enum PersonCommand {
    /// Add a person to an agency.
    Add(PersonAdd),
    /// List people, optionally of one agency.
    List {
        /// The agency's name or id.
        #[arg(long)]
        agency: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct PersonAdd {
    /// The agency's name or id.
    #[arg(long)]
    pub agency: String,
    /// Full name as colleagues know it.
    #[arg(long)]
    pub name: String,
    /// Work email address: how the person signs in.
    #[arg(long)]
    pub email: String,
    /// One of: practitioner, manager, admin, auditor.
    #[arg(long, value_parser = parse_role, default_value = "practitioner")]
    pub role: Role,
    /// A guest practitioner: invited to one case or meeting, signs in with an emailed code.
    #[arg(long)]
    pub guest: bool,
}

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// Open a case for a child; the lead social worker becomes its first member.
    Open(CaseOpen),
    /// Give a person need-to-know access to a case.
    AddMember(CaseAddMember),
    /// End a person's access to a case at once.
    RemoveMember {
        /// The case's reference (CF-...) or id.
        #[arg(long = "case")]
        case_ref: String,
        /// The person's email address.
        #[arg(long)]
        person: String,
        /// Why their access ends.
        #[arg(long)]
        reason: String,
    },
    /// List every case (operator view: references and status only).
    List,
}

#[derive(Debug, Args)]
pub struct CaseOpen {
    /// The child's full name.
    #[arg(long)]
    pub child_name: String,
    /// The child's date of birth, YYYY-MM-DD.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub child_dob: String,
    /// The local authority's own reference for the child.
    #[arg(long)]
    pub la_reference: String,
    /// The lead social worker's email address.
    #[arg(long, value_name = "EMAIL")]
    pub lead: String,
}

#[derive(Debug, Args)]
pub struct CaseAddMember {
    /// The case's reference (CF-...) or id.
    #[arg(long = "case")]
    pub case_ref: String,
    /// The person's email address.
    #[arg(long)]
    pub person: String,
    /// Why this person needs to know (recorded and shown to the case team).
    #[arg(long)]
    pub reason: String,
    /// Last day of access, YYYY-MM-DD (access ends at the end of that day, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub until: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the whole hash chain; exits non-zero if any event was altered, removed or reordered.
    Verify {
        /// A checkpoint file written by `confer audit checkpoint`: also check that the
        /// event it names still has its hash and that the log reaches it. Repeatable.
        #[arg(long = "checkpoint", value_name = "FILE")]
        checkpoints: Vec<PathBuf>,
    },
    /// Verify the chain, record its head as a checkpoint and print it as JSON
    /// ({"seq":N,"hash":"…","at":"…"}); keep the copy somewhere this database's
    /// administrators cannot change.
    Checkpoint {
        /// Write the checkpoint to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

fn parse_kind(s: &str) -> Result<AgencyKind, String> {
    s.parse()
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

/// The entry point `main` calls.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("confer: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let args: Vec<OsString> = args.into_iter().collect();
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let code = runtime.block_on(run(args, &mut out, &mut err));
    ExitCode::from(code)
}

/// Exit codes: 0 success, 1 the operation failed, 2 bad usage or configuration.
pub async fn run(
    args: Vec<OsString>,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let text = e.render().to_string();
            let to_out = !e.use_stderr();
            let _ = if to_out {
                write!(out, "{text}")
            } else {
                write!(err, "{text}")
            };
            return if to_out { 0 } else { 2 };
        }
    };
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "confer: configuration error: {e}");
            return 2;
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    match execute(command, settings, out).await {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "confer: {e}");
            if matches!(e, CliError::Usage(_)) {
                2
            } else {
                1
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    /// Bad input on the command line (exit code 2).
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Launch(#[from] app::LaunchError),
    #[error("{0}")]
    Other(String),
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

fn operator_label() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("operator {user} (command line)")
}

async fn execute(
    command: Command,
    settings: Settings,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let now = SystemClock.now_ms();
    match command {
        Command::Serve => {
            telemetry::init(&settings);
            let addr = settings
                .listen_addr()
                .map_err(|e| CliError::Other(e.to_string()))?;
            let listener = std::net::TcpListener::bind(addr)
                .map_err(|e| CliError::Other(format!("cannot listen on {addr}: {e}")))?;
            app::serve(settings, listener, shutdown_signal()).await?;
        }
        Command::Migrate => {
            let db = Db::connect(&settings.database_url(), 1).await?;
            let n = db.migrate().await?;
            writeln!(out, "Database is up to date ({n} migrations).")?;
        }
        Command::CheckConfig => {
            write!(out, "{}", settings.to_redacted_toml())?;
        }
        Command::Agency(cmd) => agency(cmd, &settings, now, out).await?,
        Command::Person(cmd) => person(cmd, &settings, now, out).await?,
        Command::Case(cmd) => case(cmd, &settings, now, out).await?,
        Command::Audit(AuditCommand::Verify { checkpoints }) => {
            audit_log::verify(&settings, &checkpoints, out).await?
        }
        Command::Audit(AuditCommand::Checkpoint { out: file }) => {
            audit_log::checkpoint(&settings, now, file.as_deref(), out).await?
        }
        Command::Backup { path } => backup::backup(&settings, &path, out).await?,
        Command::Restore { path } => backup::restore(&settings, &path, out).await?,
        Command::Keys(cmd) => keys::run(cmd, &settings, now, out).await?,
    }
    Ok(())
}

async fn agency(
    cmd: AgencyCommand,
    settings: &Settings,
    now: i64,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let db = app::open_database(settings).await?;
    let label = operator_label();
    let by = By {
        person_id: None,
        label: &label,
    };
    match cmd {
        AgencyCommand::Add {
            name,
            kind,
            duty_email,
        } => {
            let a = agencies::add(&db, by, now, &name, kind, duty_email.as_deref()).await?;
            writeln!(out, "Added agency {} ({}), id {}", a.name, a.kind, a.id)?;
        }
        AgencyCommand::List => {
            for a in agencies::list(&db).await? {
                writeln!(out, "{}\t{}\t{}", a.id, a.kind, a.name)?;
            }
        }
    }
    Ok(())
}

async fn person(
    cmd: PersonCommand,
    settings: &Settings,
    now: i64,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let db = app::open_database(settings).await?;
    let label = operator_label();
    let by = By {
        person_id: None,
        label: &label,
    };
    match cmd {
        PersonCommand::Add(p) => {
            let agency = agencies::find(&db, &p.agency)
                .await
                .map_err(|e| not_found(e, format!("no agency named or with id '{}'", p.agency)))?;
            let person = people::add(
                &db,
                by,
                now,
                NewPerson {
                    agency_id: &agency.id,
                    name: &p.name,
                    email: &p.email,
                    role: p.role,
                    guest: p.guest,
                },
            )
            .await?;
            writeln!(
                out,
                "Added {} <{}> to {} as {}{}, id {}",
                person.name,
                person.email,
                agency.name,
                person.role,
                if person.guest { " (guest)" } else { "" },
                person.id
            )?;
        }
        PersonCommand::List { agency } => {
            let agency_id = match agency {
                Some(a) => Some(
                    agencies::find(&db, &a)
                        .await
                        .map_err(|e| not_found(e, format!("no agency named or with id '{a}'")))?
                        .id,
                ),
                None => None,
            };
            for p in people::list(&db, agency_id.as_deref()).await? {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}",
                    p.id, p.email, p.role, p.agency_name, p.name
                )?;
            }
        }
    }
    Ok(())
}

async fn case(
    cmd: CaseCommand,
    settings: &Settings,
    now: i64,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let db = app::open_database(settings).await?;
    let label = operator_label();
    let by = By {
        person_id: None,
        label: &label,
    };
    match cmd {
        CaseCommand::Open(c) => {
            let lead = find_person(&db, &c.lead).await?;
            let case = cases::open(
                &db,
                by,
                now,
                NewCase {
                    child_name: &c.child_name,
                    child_dob: &c.child_dob,
                    la_reference: &c.la_reference,
                    lead_social_worker_id: &lead.id,
                },
            )
            .await?;
            writeln!(
                out,
                "Opened case {} (id {}) with lead social worker {}",
                case.reference, case.id, lead.name
            )?;
        }
        CaseCommand::AddMember(m) => {
            let case = find_case(&db, &m.case_ref).await?;
            let person = find_person(&db, &m.person).await?;
            let until = m.until.as_deref().map(end_of_day).transpose()?;
            cases::add_member(&db, by, now, &case.id, &person.id, &m.reason, until).await?;
            writeln!(out, "Added {} to case {}", person.name, case.reference)?;
        }
        CaseCommand::RemoveMember {
            case_ref,
            person,
            reason,
        } => {
            let case = find_case(&db, &case_ref).await?;
            let person = find_person(&db, &person).await?;
            cases::end_membership(&db, by, now, &case.id, &person.id, &reason)
                .await
                .map_err(|e| {
                    not_found(
                        e,
                        format!("{} is not a member of {}", person.name, case.reference),
                    )
                })?;
            writeln!(out, "Removed {} from case {}", person.name, case.reference)?;
        }
        CaseCommand::List => {
            // References and status only: the operator's terminal is no place for children's names.
            for c in cases::list_for_operator(&db).await? {
                writeln!(out, "{}\t{}\t{}", c.reference, c.status, c.id)?;
            }
        }
    }
    Ok(())
}

fn not_found(e: StoreError, message: String) -> CliError {
    match e {
        StoreError::NotFound => CliError::Other(message),
        other => CliError::Store(other),
    }
}

async fn find_person(db: &Db, email: &str) -> Result<people::Person, CliError> {
    people::find_by_email(db, email)
        .await
        .map_err(|e| not_found(e, format!("no person with the email '{email}'")))
}

async fn find_case(db: &Db, reference: &str) -> Result<cases::Case, CliError> {
    cases::find_for_operator(db, reference)
        .await
        .map_err(|e| not_found(e, format!("no case with the reference or id '{reference}'")))
}

/// The instant just after the given day ends, UTC.
fn end_of_day(day: &str) -> Result<i64, CliError> {
    let date = crate::domain::clock::parse_day(day)
        .ok_or_else(|| CliError::Other(format!("'{day}' is not a date like 2026-12-31")))?;
    crate::domain::clock::end_of_day(date)
        .ok_or_else(|| CliError::Other(format!("'{day}' is too far in the future")))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
