//! A throwaway PostgreSQL cluster for `--compare` when no `--database-url`
//! is given: `initdb` into a temporary directory and `pg_ctl start` on a
//! free loopback port (as `.ci/run` does), with the server's durable
//! defaults (`fsync = on`, `synchronous_commit = on`), stopped at the end.

use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::{Res, fail};

pub struct Cluster {
    pub port: u16,
    pub admin_url: String,
    bin: PathBuf,
    data: PathBuf,
}

fn bin_dir() -> Res<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .ok_or_else(|| fail("no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)"))
}

/// Run a PostgreSQL program as the `postgres` user when we are root
/// (PostgreSQL refuses to run as root).
async fn as_postgres(program: &Path, args: &[&str]) -> Res<()> {
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if root {
        let mut line = shell_quote(&program.to_string_lossy());
        for a in args {
            line.push(' ');
            line.push_str(&shell_quote(a));
        }
        let mut cmd = Command::new("su");
        cmd.args(["postgres", "-s", "/bin/sh", "-c", &line]);
        cmd
    } else {
        let mut cmd = Command::new(program);
        cmd.args(args);
        cmd
    };
    // What initdb and pg_ctl print goes with the progress on standard
    // error: standard output is the Markdown report.
    let status = cmd.stdout(std::io::stderr()).status().await?;
    if !status.success() {
        return Err(fail(format!("{} failed: {status}", program.display())));
    }
    Ok(())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Cluster {
    pub async fn start(dir: &Path) -> Res<Cluster> {
        let bin = bin_dir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        std::fs::create_dir_all(dir)?;
        let root = unsafe { libc::geteuid() } == 0;
        if root {
            let status = Command::new("chown")
                .args(["postgres", &dir.to_string_lossy()])
                .status()
                .await?;
            if !status.success() {
                return Err(fail("cannot give the cluster directory to postgres"));
            }
        }
        let data = dir.join("data");
        let data_s = data.to_string_lossy().to_string();
        as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                &data_s,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        )
        .await?;
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            dir.display()
        );
        let log = dir.join("log").to_string_lossy().to_string();
        as_postgres(
            &bin.join("pg_ctl"),
            &["-D", &data_s, "-l", &log, "-o", &opts, "-w", "start"],
        )
        .await?;
        Ok(Cluster {
            port,
            admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            bin,
            data,
        })
    }

    pub async fn stop(self) {
        let data = self.data.to_string_lossy().to_string();
        if let Err(e) = as_postgres(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "fast", "-w", "stop"],
        )
        .await
        {
            eprintln!("confer-bench: could not stop PostgreSQL: {e}");
        }
    }
}

/// A database for Synapse, which wants the C collation.
pub async fn create_c_locale_db(admin_url: &str, name: &str) -> Res<()> {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(())
}

/// Host and port out of `postgres://user@host:port/db`.
pub fn host_port_user(url: &str) -> Option<(String, u16, String)> {
    let rest = url.split_once("://")?.1;
    let (auth, hostpart) = rest.split_once('@').unwrap_or(("postgres", rest));
    let user = auth.split(':').next()?.to_string();
    let hostport = hostpart.split('/').next()?;
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
    Some((host.to_string(), port.parse().ok()?, user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_urls_give_their_host_port_and_user() {
        assert_eq!(
            host_port_user("postgres://postgres@127.0.0.1:5544/postgres"),
            Some(("127.0.0.1".into(), 5544, "postgres".into()))
        );
        assert_eq!(
            host_port_user("postgres://bench:secret@db.local/x"),
            Some(("db.local".into(), 5432, "bench".into()))
        );
    }
}
