//! Running the roles together: each long-running task gets the shutdown token, reports readiness,
//! and the supervisor logs which one ended and why.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A role's readiness flag, shown by `/readyz`.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Every role's readiness by name.
#[derive(Clone, Default)]
pub struct ReadinessBoard(Arc<Mutex<BTreeMap<String, Readiness>>>);

impl ReadinessBoard {
    pub fn register(&self, role: &str) -> Readiness {
        let flag = Readiness::default();
        self.0
            .lock()
            .expect("readiness lock")
            .insert(role.to_string(), flag.clone());
        flag
    }

    /// `(all ready, each role and whether it is ready)`.
    pub fn snapshot(&self) -> (bool, BTreeMap<String, bool>) {
        let roles: BTreeMap<String, bool> = self
            .0
            .lock()
            .expect("readiness lock")
            .iter()
            .map(|(k, v)| (k.clone(), v.get()))
            .collect();
        (!roles.is_empty() && roles.values().all(|r| *r), roles)
    }
}

/// Runs named tasks until the token is cancelled or one of them ends; any early end cancels the rest.
pub struct Supervisor {
    tasks: JoinSet<(String, anyhow::Result<()>)>,
    shutdown: CancellationToken,
}

impl Supervisor {
    pub fn new(shutdown: CancellationToken) -> Self {
        Self {
            tasks: JoinSet::new(),
            shutdown,
        }
    }

    pub fn token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub fn spawn<F>(&mut self, name: &str, task: F)
    where
        F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let name = name.to_string();
        self.tasks.spawn(async move { (name, task.await) });
    }

    /// Waits for every task. Returns an error if any task failed or ended before shutdown.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut failure: Option<anyhow::Error> = None;
        while let Some(joined) = self.tasks.join_next().await {
            let early = !self.shutdown.is_cancelled();
            match joined {
                Ok((name, Ok(()))) if !early => tracing::info!(role = %name, "Role stopped."),
                Ok((name, Ok(()))) => {
                    tracing::error!(role = %name, "Role ended before shutdown; stopping the others.");
                    failure
                        .get_or_insert_with(|| anyhow::anyhow!("role {name} ended unexpectedly"));
                }
                Ok((name, Err(error))) => {
                    tracing::error!(role = %name, error = format!("{error:#}"), "Role failed; stopping the others.");
                    failure.get_or_insert(error.context(format!("role {name} failed")));
                }
                Err(join_error) => {
                    tracing::error!(error = %join_error, "A role panicked; stopping the others.");
                    failure.get_or_insert_with(|| anyhow::anyhow!("a role panicked: {join_error}"));
                }
            }
            self.shutdown.cancel();
        }
        failure.map_or(Ok(()), Err)
    }
}
