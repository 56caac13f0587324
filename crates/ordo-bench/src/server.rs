//! Starting, watching and stopping `ordo serve` processes.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::client::Conn;

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    pub fn spawn(bin: &Path, db_url: &str, key: &str, log: PathBuf) -> Result<Server> {
        let port = free_port()?;
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        // The key sealing channel credentials: in the work directory, shared by the
        // processes of one run (by default PostgreSQL servers would write it to the cwd).
        let key_file = log.with_file_name("ordo-secret.key");
        let child = Command::new(bin)
            .arg("serve")
            .args(["--db", db_url])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--admin-key", key])
            .arg("--secret-key-file")
            .arg(&key_file)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `GET /health` until it answers 200, failing early if the process exits.
    pub async fn wait_healthy(&mut self, key: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut conn = Conn::new(self.addr, key)?;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "server exited during start-up ({status}); log:\n{}",
                    self.log_tail(30)
                );
            }
            if let Ok((200, _)) = conn.get("/health").await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "server did not become healthy within {timeout:?}; log:\n{}",
                    self.log_tail(30)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// SIGTERM, then wait for a graceful exit; SIGKILL after `grace`. Returns whether the
    /// process exited successfully on its own.
    pub fn terminate(&mut self, grace: Duration) -> Result<bool> {
        if self.child.try_wait()?.is_some() {
            return Ok(false);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.success());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Ok(false)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Runs `ordo <subcommand> --db URL` and returns its combined output on failure.
pub fn run_tool(bin: &Path, subcommand: &str, db_url: &str) -> Result<Result<(), String>> {
    let out = Command::new(bin)
        .arg(subcommand)
        .args(["--db", db_url])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} {subcommand}", bin.display()))?;
    if out.status.success() {
        Ok(Ok(()))
    } else {
        Ok(Err(format!(
            "`ordo {subcommand}` exited with {}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// User + system CPU time of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields are counted after its closing ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Samples resident memory every 200 ms; the peak is the larger of the highest sampled
/// total and the kernel's per-process high-water marks.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<u64>>,
    pids: Vec<u32>,
}

impl RssSampler {
    pub fn start(pids: Vec<u32>) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let watched = pids.clone();
        let handle = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                let total: u64 = watched
                    .iter()
                    .filter_map(|&p| status_kib(p, "VmRSS:"))
                    .sum();
                peak = peak.max(total);
                std::thread::sleep(Duration::from_millis(200));
            }
            peak
        });
        RssSampler {
            stop,
            handle: Some(handle),
            pids,
        }
    }

    /// Peak resident memory in KiB.
    pub fn finish(mut self) -> u64 {
        let hwm: u64 = self
            .pids
            .iter()
            .filter_map(|&p| status_kib(p, "VmHWM:"))
            .sum();
        self.stop.store(true, Ordering::Relaxed);
        let sampled = self.handle.take().and_then(|h| h.join().ok()).unwrap_or(0);
        sampled.max(hwm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_metrics_are_readable() {
        let pid = std::process::id();
        assert!(cpu_ticks(pid).is_some());
        assert!(status_kib(pid, "VmRSS:").unwrap() > 0);
        assert!(clock_ticks() > 0);
    }
}
