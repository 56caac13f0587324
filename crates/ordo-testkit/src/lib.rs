//! Throwaway PostgreSQL clusters for tests and benchmarks.
//!
//! Every [`PgCluster`] is a private `initdb` + `postgres` in a fresh directory under the
//! system temp dir, listening on a free loopback port, so test binaries running in
//! parallel never share state. Authentication is `trust`: the cluster is only reachable
//! from this machine and lives as long as the test.
//!
//! When PostgreSQL is not installed, [`PgCluster::start`] returns `Ok(None)` so tests can
//! skip; set `ORDO_REQUIRE_POSTGRES=1` (as CI does) to turn that into an error instead.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};

/// The environment variable that makes a missing PostgreSQL an error.
pub const REQUIRE_ENV: &str = "ORDO_REQUIRE_POSTGRES";

/// A running PostgreSQL cluster owned by this process. Dropping it stops the server and
/// deletes its files.
#[derive(Debug)]
pub struct PgCluster {
    bindir: PathBuf,
    /// Holds `data/`, the socket and the server log.
    base: PathBuf,
    port: u16,
    /// PostgreSQL refuses to run as root, so its programs run as `postgres` then.
    as_postgres: bool,
    /// The shared cluster is cleaned up by its watchdog, not by `Drop`.
    detached: bool,
}

impl PgCluster {
    /// Starts a new cluster, or returns `Ok(None)` when PostgreSQL is not installed and
    /// `ORDO_REQUIRE_POSTGRES=1` is not set.
    pub fn start() -> Result<Option<PgCluster>> {
        let Some(bindir) = find_bindir() else {
            if required() {
                bail!(
                    "PostgreSQL is required ({REQUIRE_ENV}=1) but no installation was found \
                     (tried `pg_config --bindir`, /usr/lib/postgresql/*/bin and `initdb` on PATH)"
                );
            }
            eprintln!();
            eprintln!("************************************************************");
            eprintln!("*  PostgreSQL not installed: skipping PostgreSQL tests     *");
            eprintln!("*  (set {REQUIRE_ENV}=1 to make this an error)    *");
            eprintln!("************************************************************");
            eprintln!();
            return Ok(None);
        };
        let as_postgres = running_as_root();
        // A port picked by binding to :0 can be taken by someone else before postgres binds
        // it, which is likely when several test binaries start clusters at once.
        let mut last_err = None;
        for _ in 0..5 {
            match Self::try_start(&bindir, as_postgres) {
                Ok(cluster) => return Ok(Some(cluster)),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("could not start PostgreSQL")))
    }

    fn try_start(bindir: &Path, as_postgres: bool) -> Result<PgCluster> {
        let base = fresh_dir()?;
        let mut cluster = PgCluster {
            bindir: bindir.to_path_buf(),
            base,
            port: 0,
            as_postgres,
            detached: false,
        };
        if as_postgres {
            let out = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(&cluster.base)
                .output()
                .context("running chown")?;
            check(&out, "chown of the cluster directory")?;
        }
        let data = cluster.data_dir();
        let out = cluster
            .pg_command("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .output()
            .context("running initdb")?;
        check(&out, "initdb")?;

        cluster.port = free_port()?;
        // Durable as in production (fsync, synchronous commits); checkpoints spaced as for a
        // write-heavy server, so a minute of load is not dominated by the full-page images
        // written after each checkpoint.
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on \
             -c max_connections=200 -c shared_buffers=256MB \
             -c max_wal_size=4GB -c checkpoint_timeout=15min",
            cluster.port,
            cluster.base.display()
        );
        let out = cluster
            .pg_command("pg_ctl")
            .arg("-w")
            .args(["-t", "60"])
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(cluster.log_file())
            .arg("-o")
            .arg(options)
            .arg("start")
            .output()
            .context("running pg_ctl start")?;
        if let Err(e) = check(&out, "pg_ctl start") {
            let log = std::fs::read_to_string(cluster.log_file()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(e.context(format!("server log:\n{}", tail.join("\n"))));
        }
        Ok(cluster)
    }

    /// One cluster per process, started on first use. Returns `None` when PostgreSQL is not
    /// installed (and not required); panics when it is required but cannot start.
    ///
    /// Statics are never dropped, so a watchdog process stops the cluster and removes its
    /// files once this process has exited, however it exits.
    pub fn shared() -> Option<&'static PgCluster> {
        static SHARED: OnceLock<Option<PgCluster>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let mut cluster = match PgCluster::start() {
                    Ok(c) => c?,
                    Err(e) => panic!("could not start the shared PostgreSQL cluster: {e:#}"),
                };
                match cluster.spawn_watchdog() {
                    Ok(()) => cluster.detached = true,
                    Err(e) => {
                        eprintln!("warning: no watchdog for the shared PostgreSQL cluster: {e:#}")
                    }
                }
                Some(cluster)
            })
            .as_ref()
    }

    /// Hands clean-up to a watchdog process that stops the cluster and removes its files
    /// once this process has exited, even when it is killed or never drops the cluster.
    /// `Drop` then leaves the cluster running until that moment.
    pub fn stop_when_process_exits(&mut self) -> Result<()> {
        self.spawn_watchdog()?;
        self.detached = true;
        Ok(())
    }

    fn spawn_watchdog(&self) -> Result<()> {
        let stop = self.shell_line(&[
            &self.bindir.join("pg_ctl").display().to_string(),
            "-D",
            &self.data_dir().display().to_string(),
            "-m",
            "immediate",
            "stop",
        ]);
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {base}",
            pid = std::process::id(),
            base = sh_quote(&self.base.display().to_string()),
        );
        // Null stdio: an inherited pipe would keep `cargo test` waiting for the watchdog.
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning the cluster watchdog")?;
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    pub fn data_dir(&self) -> PathBuf {
        self.base.join("data")
    }

    pub fn log_file(&self) -> PathBuf {
        self.base.join("postgres.log")
    }

    /// A connection URL for database `db` (no password: the cluster trusts loopback).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("invalid database name {name:?}: use letters, digits and underscores");
        }
        // Over TCP with trust auth, so it works for any local OS user.
        let out = Command::new(self.bindir.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ])
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE")
            .output()
            .context("running createdb")?;
        check(&out, "createdb")?;
        Ok(self.url(name))
    }

    /// A command for one of PostgreSQL's programs, run as `postgres` when we are root.
    fn pg_command(&self, program: &str) -> Command {
        let path = self.bindir.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        // `postgres` may not be allowed into the caller's working directory.
        cmd.current_dir(&self.base).stdin(Stdio::null());
        cmd
    }

    fn shell_line(&self, args: &[&str]) -> String {
        let mut parts: Vec<String> = Vec::new();
        if self.as_postgres {
            parts.extend(["runuser", "-u", "postgres", "--"].map(String::from));
        }
        parts.extend(args.iter().map(|a| sh_quote(a)));
        parts.join(" ")
    }

    fn stop(&self) {
        let _ = self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if !self.detached {
            self.stop();
        }
    }
}

fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

fn check(out: &Output, what: &str) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    bail!(
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn find_bindir() -> Option<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Ok(out) = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_tools(&dir) {
            return Some(dir);
        }
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let version = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
                let bin = e.path().join("bin");
                has_tools(&bin).then_some((version, bin))
            })
            .collect();
        versions.sort();
        if let Some((_, bin)) = versions.pop() {
            return Some(bin);
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        let initdb = dir.join("initdb");
        if !initdb.is_file() {
            return None;
        }
        // Distributions often put symlinks on PATH; pg_ctl lives next to the real initdb.
        let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        let real_dir = real.parent()?.to_path_buf();
        if has_tools(&real_dir) {
            Some(real_dir)
        } else {
            has_tools(&dir).then_some(dir)
        }
    })
}

fn running_as_root() -> bool {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(line) = status.lines().find(|l| l.starts_with("Uid:"))
    {
        return line.split_whitespace().nth(2) == Some("0");
    }
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn fresh_dir() -> Result<PathBuf> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // Short names: the socket path must stay under the 107-byte Unix limit.
        let dir =
            std::env::temp_dir().join(format!("ordo-pg-{}-{nanos:x}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    bail!(
        "could not create a fresh directory in {}",
        std::env::temp_dir().display()
    )
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn select_one(url: &str) -> i32 {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        let row = client.query_one("SELECT 1", &[]).await.expect("SELECT 1");
        row.get(0)
    }

    #[tokio::test]
    async fn cluster_starts_creates_a_database_and_cleans_up() {
        let Some(cluster) = PgCluster::start().expect("start") else {
            return;
        };
        let url = cluster.create_database("testkit_check").expect("createdb");
        assert_eq!(url, cluster.url("testkit_check"));
        assert_eq!(select_one(&url).await, 1);
        let base = cluster.base.clone();
        drop(cluster);
        assert!(
            !base.exists(),
            "cluster directory should be removed on drop"
        );
    }

    #[tokio::test]
    async fn shared_cluster_is_reused() {
        let Some(a) = PgCluster::shared() else { return };
        let b = PgCluster::shared().expect("same cluster");
        assert_eq!(a.port(), b.port());
        let url = a.create_database("testkit_shared").expect("createdb");
        assert_eq!(select_one(&url).await, 1);
    }

    #[test]
    fn database_names_are_checked() {
        let cluster = PgCluster {
            bindir: PathBuf::from("/nonexistent"),
            base: PathBuf::from("/nonexistent"),
            port: 1,
            as_postgres: false,
            detached: true,
        };
        assert!(cluster.create_database("bad; name").is_err());
        assert!(cluster.create_database("").is_err());
    }
}
