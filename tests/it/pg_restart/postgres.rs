//! A throwaway PostgreSQL cluster that a test may stop and start: `initdb`
//! and `pg_ctl` from the newest `/usr/lib/postgresql/*/bin` (or
//! `CONFER_PG_BIN`), on a free loopback port, its socket and data in a
//! folder of the test's, `fsync=off`; run as `postgres` when we are root.

use std::path::{Path, PathBuf};

/// A throwaway PostgreSQL cluster this test may stop and start.
pub struct Pg {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

pub fn pg_bin() -> Option<PathBuf> {
    if let Some(b) = std::env::var_os("CONFER_PG_BIN") {
        let bin = PathBuf::from(b);
        assert!(
            bin.join("pg_ctl").is_file(),
            "CONFER_PG_BIN={} has no pg_ctl",
            bin.display()
        );
        return Some(bin);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn run(program: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

impl Pg {
    /// `initdb` and start a cluster under `dir` on a free loopback port.
    pub fn start_new(bin: PathBuf, dir: &Path) -> Pg {
        let root = String::from_utf8_lossy(&run("id", &["-u"]).stdout).trim() == "0";
        let pg_dir = dir.join("pg");
        std::fs::create_dir_all(&pg_dir).expect("pg dir");
        if root {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            let out = run("chown", &["postgres:", &pg_dir.display().to_string()]);
            assert!(out.status.success(), "chown: {out:?}");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let pg = Pg {
            bin,
            dir: pg_dir,
            port,
            as_postgres: root,
        };
        let data = pg.data();
        pg.ctl(
            "initdb",
            &["-D", &data, "-U", "postgres", "--auth=trust", "-N"],
        );
        pg.start();
        pg
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Run one of PostgreSQL's programs (as `postgres` when we are root).
    fn ctl(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool).display().to_string();
        let out = if self.as_postgres {
            let line: Vec<String> = std::iter::once(program.as_str())
                .chain(args.iter().copied())
                .map(quote)
                .collect();
            run("su", &["postgres", "-s", "/bin/sh", "-c", &line.join(" ")])
        } else {
            run(&program, args)
        };
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").display().to_string();
        self.ctl(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    pub fn stop(&self, mode: &str) {
        self.ctl("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "stop"]);
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if self.dir.join("data/postmaster.pid").exists() {
            let _ = std::panic::catch_unwind(|| self.stop("immediate"));
        }
    }
}
