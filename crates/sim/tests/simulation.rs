//! Deterministic simulations of a 4-validator Machina network under a transfer workload.
//! Every test names its seeds; a failure message carries the seed that reproduces it.

use commonware_glue::simulate::{
    action::{Action, Crash, Schedule},
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
        success_rate: commonware_utils::Probability::new(success_percent, 100)
            .expect("probability"),
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

#[test]
fn a_crashed_validator_restarts_and_catches_up() {
    run_seeds([3], |_| {
        let engine = MachinaEngine::new(VALIDATORS, ACCOUNTS);
        let victim = engine.public_keys()[1].clone();
        let schedule = Schedule::new()
            .at(Duration::from_millis(1_500), Action::Crash(victim.clone()))
            .at(Duration::from_millis(4_000), Action::Restart(victim));
        PlanBuilder::new(engine.clone())
            .link(link(100))
            .crash(Crash::Schedule(schedule))
            .exit_condition(ProcessedHeightAtLeast::new(60))
            .property(audit(&engine, VALIDATORS, 60))
            .timeout(Duration::from_secs(600))
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
        PlanBuilder::new(engine.clone())
            .link(link(100))
            .crash(Crash::Schedule(schedule))
            .exit_condition(ProcessedHeightAtLeast::new(60))
            .property(audit(&engine, VALIDATORS, 60))
            .timeout(Duration::from_secs(600))
    });
}

#[test]
fn three_honest_validators_finalize_despite_an_equivocating_fourth() {
    run_seeds([5], |_| {
        let engine = MachinaEngine::new(VALIDATORS, ACCOUNTS).with_equivocator(3);
        PlanBuilder::new(engine.clone())
            .link(link(100))
            .exit_condition(ProcessedHeightAtLeast::new(30))
            .property(audit(&engine, VALIDATORS - 1, 30))
            .timeout(Duration::from_secs(600))
    });
}

#[test]
fn the_same_seed_replays_the_same_execution() {
    let plan = |_| {
        let engine = MachinaEngine::new(VALIDATORS, ACCOUNTS);
        PlanBuilder::new(engine.clone())
            .link(link(90))
            .exit_condition(ProcessedHeightAtLeast::new(20))
            .property(audit(&engine, VALIDATORS, 20))
            .timeout(Duration::from_secs(600))
    };
    let first = run_seeds([6], plan);
    let second = run_seeds([6], plan);
    assert_eq!(first[0].state, second[0].state, "seed 6 diverged between two runs");
    let other = run_seeds([7], plan);
    assert_ne!(first[0].state, other[0].state, "different seeds should differ");
}
