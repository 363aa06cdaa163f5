//! What `/health` reports, and the supervision that keeps it true.
//!
//! Every long-running subsystem of the node (the gateway's admission, anchoring, feed
//! reporting, command relay, MQTT broker or bridge, and the chain's finalization) has an
//! entry here. A subsystem runs under [`supervise`]: if its task panics it is marked down,
//! the panic is counted, and the task is started again after a growing delay (it is marked up
//! again once it runs). A subsystem that finds itself unable to work (the readings journal
//! failed) marks itself down with the reason and stays down: `/health` answers 503 while any
//! subsystem is down, so an operator or orchestrator sees it and restarts the node.

use commonware_runtime::{
    Metrics,
    telemetry::metrics::{CounterFamily, GaugeFamily, MetricsExt},
};
use std::{
    collections::BTreeMap,
    future::Future,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

/// First delay before a panicked subsystem starts again.
const RESTART_DELAY_MIN: Duration = Duration::from_millis(100);
/// Longest delay before a panicked subsystem starts again.
const RESTART_DELAY_MAX: Duration = Duration::from_secs(10);

/// Labels of the per-subsystem metrics.
type Labels = Vec<(String, String)>;

pub use machina_api::SubsystemHealth as Subsystem;

/// The node's subsystems and their states.
pub struct Health {
    subsystems: Mutex<BTreeMap<&'static str, Subsystem>>,
    up: GaugeFamily<Labels>,
    panics: CounterFamily<Labels>,
    restarts: CounterFamily<Labels>,
}

fn labels(name: &str) -> Labels {
    vec![("subsystem".to_string(), name.to_string())]
}

impl Health {
    /// A registry whose metrics are registered on `metrics`.
    pub fn new(metrics: &impl Metrics) -> Self {
        Self {
            subsystems: Mutex::default(),
            up: metrics.family("subsystem_up", "whether each subsystem is working (1) or not"),
            panics: metrics.family("subsystem_panics", "panics of each subsystem's task"),
            restarts: metrics.family("subsystem_restarts", "restarts of each subsystem's task"),
        }
    }

    /// A registry whose metrics are not exported (for tests).
    pub fn unregistered() -> Self {
        use commonware_runtime::telemetry::metrics::{Registered, raw::Family};
        Self {
            subsystems: Mutex::default(),
            up: Registered::detached(Family::default()),
            panics: Registered::detached(Family::default()),
            restarts: Registered::detached(Family::default()),
        }
    }

    fn update(&self, name: &'static str, f: impl FnOnce(&mut Subsystem)) {
        let mut subsystems = self.subsystems.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = subsystems.entry(name).or_default();
        f(entry);
        self.up.get_or_create(&labels(name)).set(i64::from(entry.up));
    }

    /// Marks `name` working.
    pub fn up(&self, name: &'static str) {
        self.update(name, |s| s.up = true);
    }

    /// Marks `name` down for `reason`.
    pub fn down(&self, name: &'static str, reason: impl Into<String>) {
        let reason = reason.into();
        tracing::error!(subsystem = name, %reason, "subsystem down");
        self.update(name, |s| {
            s.up = false;
            s.error = Some(reason);
        });
    }

    /// Records a panic of `name`'s task (it is down until it restarts).
    pub fn panicked(&self, name: &'static str, message: String) {
        self.panics.get_or_create(&labels(name)).inc();
        self.update(name, |s| s.panics += 1);
        self.down(name, format!("panicked: {message}"));
    }

    fn restarted(&self, name: &'static str) {
        self.restarts.get_or_create(&labels(name)).inc();
        self.update(name, |s| s.restarts += 1);
    }

    /// Whether every subsystem is up, and each one's state.
    pub fn report(&self) -> (bool, BTreeMap<&'static str, Subsystem>) {
        let subsystems = self.subsystems.lock().unwrap_or_else(PoisonError::into_inner).clone();
        (subsystems.values().all(|s| s.up), subsystems)
    }
}

/// The message of a caught panic.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs the task `start` makes as subsystem `name` on the tokio runtime, forever: when it
/// panics (or returns) it is marked down, counted, and started again after a delay that
/// doubles up to ten seconds.
pub fn supervise<F, Fut>(health: Arc<Health>, name: &'static str, mut start: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    health.up(name);
    tokio::spawn(async move {
        let mut delay = RESTART_DELAY_MIN;
        loop {
            match tokio::spawn(start()).await {
                Ok(()) => health.down(name, "stopped"),
                Err(error) if error.is_panic() => {
                    health.panicked(name, panic_message(&*error.into_panic()));
                }
                Err(_) => return, // the runtime is shutting down
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(RESTART_DELAY_MAX);
            health.restarted(name);
            health.up(name);
        }
    });
}

/// Runs `task` as subsystem `name` once: for tasks that own state they cannot rebuild (a
/// queue's receiving end, a connection's event loop). Such tasks catch the panics of each
/// step themselves; if one still ends, the subsystem stays down until the node restarts.
pub fn supervise_once<Fut>(health: Arc<Health>, name: &'static str, task: Fut)
where
    Fut: Future<Output = ()> + Send + 'static,
{
    health.up(name);
    tokio::spawn(async move {
        match tokio::spawn(task).await {
            Ok(()) => health.down(name, "stopped; restart the node"),
            Err(error) if error.is_panic() => {
                health.panicked(name, panic_message(&*error.into_panic()));
                health.down(name, "panicked; restart the node");
            }
            Err(_) => {}
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_panicking_subsystem_is_reported_down_counted_and_restarted() {
        let health = Arc::new(Health::unregistered());
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        supervise(health.clone(), "flaky", move || {
            let runs = counter.clone();
            async move {
                if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("first run fails");
                }
                std::future::pending::<()>().await
            }
        });
        while runs.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (all_up, subsystems) = health.report();
        let flaky = &subsystems["flaky"];
        assert!(all_up && flaky.up);
        assert_eq!((flaky.panics, flaky.restarts), (1, 1));
        assert_eq!(flaky.error.as_deref(), Some("panicked: first run fails"));
        health.down("journal", "disk full");
        assert!(!health.report().0, "one subsystem down makes the node unhealthy");
    }
}
