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
    Clock, Metrics, Spawner, Supervisor,
    telemetry::metrics::{CounterFamily, GaugeFamily, MetricsExt},
};
use futures::FutureExt as _;
use std::{
    collections::BTreeMap,
    future::Future,
    panic::AssertUnwindSafe,
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

/// Runs the task `start` makes as subsystem `name`, forever: when it panics (or returns)
/// it is marked down, counted, and started again after a delay that doubles up to ten
/// seconds.
pub fn supervise<E, F, Fut>(context: &E, health: Arc<Health>, name: &'static str, mut start: F)
where
    E: Spawner + Clock + Supervisor,
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    health.up(name);
    context.child("subsystem").spawn(move |context| async move {
        let mut delay = RESTART_DELAY_MIN;
        loop {
            match AssertUnwindSafe(start()).catch_unwind().await {
                Ok(()) => health.down(name, "stopped"),
                Err(panic) => health.panicked(name, panic_message(&*panic)),
            }
            context.sleep(delay).await;
            delay = (delay * 2).min(RESTART_DELAY_MAX);
            health.restarted(name);
            health.up(name);
        }
    });
}

/// Runs `task` as subsystem `name` once: for tasks that own state they cannot rebuild (a
/// queue's receiving end, a connection's event loop). Such tasks catch the panics of each
/// step themselves; if one still ends, the subsystem stays down until the node restarts.
pub fn supervise_once<E, Fut>(context: &E, health: Arc<Health>, name: &'static str, task: Fut)
where
    E: Spawner + Supervisor,
    Fut: Future<Output = ()> + Send + 'static,
{
    health.up(name);
    context.child("subsystem").spawn(move |_| async move {
        match AssertUnwindSafe(task).catch_unwind().await {
            Ok(()) => health.down(name, "stopped; restart the node"),
            Err(panic) => {
                health.panicked(name, panic_message(&*panic));
                health.down(name, "panicked; restart the node");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_runtime::Runner as _;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn a_panicking_subsystem_is_reported_down_counted_and_restarted() {
        commonware_runtime::deterministic::Runner::default().start(|context| async move {
            let health = Arc::new(Health::unregistered());
            let runs = Arc::new(AtomicU32::new(0));
            let counter = runs.clone();
            supervise(&context, health.clone(), "flaky", move || {
                let runs = counter.clone();
                async move {
                    if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                        panic!("first run fails");
                    }
                    std::future::pending::<()>().await
                }
            });
            while runs.load(Ordering::SeqCst) < 2 {
                context.sleep(Duration::from_millis(5)).await;
            }
            let (all_up, subsystems) = health.report();
            let flaky = &subsystems["flaky"];
            assert!(all_up && flaky.up);
            assert_eq!((flaky.panics, flaky.restarts), (1, 1));
            assert_eq!(flaky.error.as_deref(), Some("panicked: first run fails"));
            health.down("journal", "disk full");
            assert!(!health.report().0, "one subsystem down makes the node unhealthy");
        });
    }
}
