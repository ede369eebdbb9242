//! CPU time of this process's threads by role, from `/proc/self/task/*/schedstat` (time on a
//! CPU, per thread).
//!
//! On a shared two-vCPU host the rates of a run swing with what the neighbours do; the CPU one
//! token costs, and how it splits between the HSM workers, the server, the database and the
//! load client, moves far less. Divided by the signatures of the plain loop and the tokens of
//! the load, it says where each token's time goes and how far a ratio can go on this host.

use std::collections::HashMap;
use std::time::Duration;

/// What a thread of this process does, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    /// `qtsp-hsm-N`: the session pool's workers (PKCS#11 calls).
    Hsm,
    /// `sqlx-sqlite-*`: the SQLite connections' worker threads. (PostgreSQL works in its own
    /// server processes, outside these figures: with it this role stays near zero.)
    Database,
    /// [`LOAD_CLIENT_THREAD`]: the benchmark's own HTTP client.
    LoadClient,
    /// Everything else: the async runtime's workers (HTTP, TSA, group commit) and helpers.
    Server,
}

/// The name of the load client's thread, so that its CPU is told apart from the server's.
pub(crate) const LOAD_CLIENT_THREAD: &str = "qtsp-load";

impl Role {
    fn of(thread_name: &str) -> Self {
        if thread_name.starts_with("qtsp-hsm") {
            Self::Hsm
        } else if thread_name.starts_with("sqlx-sqlite") {
            Self::Database
        } else if thread_name == LOAD_CLIENT_THREAD {
            Self::LoadClient
        } else {
            Self::Server
        }
    }
}

/// CPU time of each live thread at one moment.
#[derive(Debug, Clone, Default)]
pub(crate) struct CpuSnapshot {
    threads: HashMap<u32, (Role, Duration)>,
}

impl CpuSnapshot {
    /// Reads every thread of this process. Threads that cannot be read (one that just ended)
    /// are left out; on a system without `/proc` the snapshot is empty.
    pub(crate) fn take() -> Self {
        let mut threads = HashMap::new();
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return Self { threads };
        };
        for task in tasks.flatten() {
            let Some(tid) = task.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let path = task.path();
            let (Ok(name), Ok(schedstat)) = (
                std::fs::read_to_string(path.join("comm")),
                std::fs::read_to_string(path.join("schedstat")),
            ) else {
                continue;
            };
            if let Some(on_cpu) = qtsp_hsm::bench::schedstat_on_cpu(&schedstat) {
                threads.insert(tid, (Role::of(name.trim_end()), on_cpu));
            }
        }
        Self { threads }
    }

    /// CPU used by each role from `earlier` to `self`. A thread born in between counts from
    /// zero; one that ended in between is lost (its last interval is not in `self`).
    pub(crate) fn since(&self, earlier: &Self) -> CpuUse {
        let mut used = CpuUse::default();
        for (tid, (role, now)) in &self.threads {
            let before = earlier
                .threads
                .get(tid)
                .map_or(Duration::ZERO, |(_, before)| *before);
            *used.slot(*role) += now.saturating_sub(before);
        }
        used
    }
}

/// CPU time by role over an interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CpuUse {
    pub hsm: Duration,
    pub database: Duration,
    pub load_client: Duration,
    pub server: Duration,
}

impl CpuUse {
    fn slot(&mut self, role: Role) -> &mut Duration {
        match role {
            Role::Hsm => &mut self.hsm,
            Role::Database => &mut self.database,
            Role::LoadClient => &mut self.load_client,
            Role::Server => &mut self.server,
        }
    }

    /// All roles together.
    pub(crate) fn total(&self) -> Duration {
        self.hsm + self.database + self.load_client + self.server
    }

    /// Microseconds of each role per unit of work (`count` signatures or tokens).
    pub(crate) fn per_unit(&self, count: f64) -> PerUnit {
        let micros = |d: Duration| {
            if count > 0.0 {
                d.as_secs_f64() * 1e6 / count
            } else {
                0.0
            }
        };
        PerUnit {
            hsm: micros(self.hsm),
            database: micros(self.database),
            load_client: micros(self.load_client),
            server: micros(self.server),
            total: micros(self.total()),
        }
    }
}

/// CPU microseconds per signature or token, by role.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct PerUnit {
    pub hsm: f64,
    pub database: f64,
    pub load_client: f64,
    pub server: f64,
    pub total: f64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn roles_follow_thread_names() {
        assert_eq!(Role::of("qtsp-hsm-0"), Role::Hsm);
        assert_eq!(Role::of("sqlx-sqlite-wor"), Role::Database);
        assert_eq!(Role::of(LOAD_CLIENT_THREAD), Role::LoadClient);
        assert_eq!(Role::of("qtsp"), Role::Server);
        assert_eq!(Role::of("qtsp-loader"), Role::Server);
    }

    #[test]
    fn a_busy_thread_is_counted_under_its_role() {
        let own_cpu = || qtsp_hsm::bench::thread_cpu_time().unwrap();
        let before = CpuSnapshot::take();
        let (spun, spun_rx) = std::sync::mpsc::channel();
        let (finish, finish_rx) = std::sync::mpsc::channel::<()>();
        let busy = std::thread::Builder::new()
            .name(LOAD_CLIENT_THREAD.to_owned())
            .spawn(move || {
                // Work until this thread has had 30 ms of CPU, however busy the machine is.
                let start = own_cpu();
                let mut x = 0u64;
                while own_cpu() - start < Duration::from_millis(30) {
                    for _ in 0..10_000 {
                        x = std::hint::black_box(x.wrapping_add(1));
                    }
                }
                spun.send(()).unwrap();
                // Stay alive until the second snapshot has read this thread.
                finish_rx.recv().unwrap();
            })
            .unwrap();
        spun_rx.recv().unwrap();
        let used = CpuSnapshot::take().since(&before);
        finish.send(()).unwrap();
        busy.join().unwrap();
        assert!(
            used.load_client >= Duration::from_millis(30),
            "load client CPU {used:?}"
        );
        assert_eq!(used.hsm, Duration::ZERO);
        let per = used.per_unit(2.0);
        assert!((per.total - used.total().as_secs_f64() * 1e6 / 2.0).abs() < 1e-6);
        assert_eq!(CpuUse::default().per_unit(0.0), PerUnit::default());
    }
}
