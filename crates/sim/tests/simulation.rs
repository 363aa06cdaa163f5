//! Deterministic simulations of a 4-validator Machina network under a transfer workload.
//! Every test names its seeds; a failure message carries the seed that reproduces it.

use commonware_glue::simulate::{
    exit::ProcessedHeightAtLeast,
    plan::{PlanBuilder, PlanResult},
};
use commonware_p2p::simulated::Link;
use machina_sim::{MachinaEngine, properties::AgreementAndAudit};
use std::time::Duration;

const VALIDATORS: usize = 4;
const ACCOUNTS: usize = 16;

fn link(success_percent: u64) -> Link {
    Link {
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(5),
        success_rate: commonware_utils::Probability::new(success_percent, 100).expect("probability"),
    }
}

/// Runs `plan` for each seed, naming the seed in any failure (a panic included).
fn run_seeds(
    seeds: impl IntoIterator<Item = u64>,
    plan: impl Fn(u64) -> PlanBuilder<MachinaEngine>,
) -> Vec<PlanResult<MachinaEngine>> {
    seeds
        .into_iter()
        .map(|seed| {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| plan(seed).seed(seed).run()));
            match result {
                Ok(Ok(mut results)) => results.remove(0),
                Ok(Err(e)) => panic!("simulation failed (reproduce with seed {seed}): {e}"),
                Err(_) => panic!("simulation panicked (reproduce with seed {seed})"),
            }
        })
        .collect()
}

fn audit(engine: &MachinaEngine, honest: usize, min_height: u64) -> AgreementAndAudit {
    AgreementAndAudit { honest, min_height, genesis: engine.genesis().clone() }
}

#[test]
fn four_validators_agree_under_a_transfer_workload_with_lossy_links() {
    run_seeds([1, 2], |_| {
        let engine = MachinaEngine::new(VALIDATORS, ACCOUNTS);
        PlanBuilder::new(engine.clone())
            .link(link(90))
            .exit_condition(ProcessedHeightAtLeast::new(30))
            .property(audit(&engine, VALIDATORS, 30))
            .timeout(Duration::from_secs(600))
    });
}
