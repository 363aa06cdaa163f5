//! Deterministic simulations of a 4-validator Machina network under a transfer workload.
//! Every test names its seeds; a failure message carries the seed that reproduces it.

use commonware_glue::simulate::{
    action::{Action, Crash, Schedule},
    exit::ProcessedHeightAtLeast,
    plan::{PlanBuilder, PlanResult},
};
use machina_sim::{MachinaEngine, link, properties::AgreementAndAudit};
use std::time::Duration;

const VALIDATORS: usize = 4;
const ACCOUNTS: usize = 16;

/// Runs `plan` for each seed, naming the seed in any failure (a panic included).
fn run_seeds(
    seeds: impl IntoIterator<Item = u64>,
    plan: impl Fn(u64) -> PlanBuilder<MachinaEngine>,
) -> Vec<PlanResult<MachinaEngine>> {
    seeds
        .into_iter()
        .map(|seed| {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                plan(seed).seed(seed).run()
            }));
            match result {
                Ok(Ok(mut results)) => results.remove(0),
                Ok(Err(e)) => panic!("simulation failed (reproduce with seed {seed}): {e}"),
                Err(_) => panic!("simulation panicked (reproduce with seed {seed})"),
            }
        })
        .collect()
}

/// A plan that runs `engine` until every honest validator processed `height`, then checks
/// agreement and audits `honest` validators.
fn plan(
    engine: MachinaEngine,
    honest: usize,
    height: u64,
    link_success: u64,
) -> PlanBuilder<MachinaEngine> {
    let audit = AgreementAndAudit { honest, min_height: height, genesis: engine.genesis().clone() };
    PlanBuilder::new(engine)
        .link(link(link_success))
        .exit_condition(ProcessedHeightAtLeast::new(height))
        .property(audit)
        .timeout(Duration::from_secs(600))
}

#[test]
fn four_validators_agree_under_a_transfer_workload_with_lossy_links() {
    run_seeds([1, 2], |_| plan(MachinaEngine::new(VALIDATORS, ACCOUNTS), VALIDATORS, 30, 90));
}

#[test]
fn a_crashed_validator_restarts_and_catches_up() {
    run_seeds([3], |_| {
        let engine = MachinaEngine::new(VALIDATORS, ACCOUNTS);
        let victim = engine.public_keys()[1].clone();
        let schedule = Schedule::new()
            .at(Duration::from_millis(1_500), Action::Crash(victim.clone()))
            .at(Duration::from_millis(4_000), Action::Restart(victim));
        plan(engine, VALIDATORS, 60, 100).crash(Crash::Schedule(schedule))
    });
}

#[test]
fn a_partitioned_validator_rejoins_after_the_partition_heals() {
    run_seeds([4], |_| {
        let engine = MachinaEngine::new(VALIDATORS, ACCOUNTS);
        let keys = engine.public_keys();
        let isolated = keys[0].clone();
        let mut schedule = Schedule::new();
        for peer in &keys[1..] {
            schedule = schedule
                .at(
                    Duration::from_millis(1_000),
                    Action::UpdateLink { from: isolated.clone(), to: peer.clone(), link: link(0) },
                )
                .at(
                    Duration::from_millis(1_000),
                    Action::UpdateLink { from: peer.clone(), to: isolated.clone(), link: link(0) },
                );
        }
        schedule = schedule.at(Duration::from_millis(4_000), Action::Heal(link(100)));
        plan(engine, VALIDATORS, 60, 100).crash(Crash::Schedule(schedule))
    });
}

#[test]
fn three_honest_validators_finalize_despite_an_equivocating_fourth() {
    run_seeds([5], |_| {
        plan(MachinaEngine::new(VALIDATORS, ACCOUNTS).with_equivocator(3), VALIDATORS - 1, 30, 100)
    });
}

#[test]
fn the_same_seed_replays_the_same_execution() {
    let network = |_| plan(MachinaEngine::new(VALIDATORS, ACCOUNTS), VALIDATORS, 20, 90);
    let first = run_seeds([6], network);
    let second = run_seeds([6], network);
    assert_eq!(first[0].state, second[0].state, "seed 6 diverged between two runs");
    let other = run_seeds([7], network);
    assert_ne!(first[0].state, other[0].state, "different seeds should differ");
}
