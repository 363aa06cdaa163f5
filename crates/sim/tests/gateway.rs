//! Gateway and market scenarios replayed from a seed: devices publishing over the broker,
//! anchoring, a leased unlock relayed and paid, a silent lock slashed. Each runs twice with
//! one seed and must give the same state root, event log and script log.

use commonware_glue::simulate::{exit::ProcessedHeightAtLeast, plan::PlanBuilder};
use machina_sim::{
    MachinaEngine,
    gateway::{GatewayScenario, Outcome, READINGS_PER_DEVICE, RecordOutcome, Scenario},
    link,
    workload::Workload,
};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

const VALIDATORS: usize = 4;

/// Runs `scenario` on a 4-validator network with seed `seed` until every validator
/// processed `height`; returns what validator 0 recorded.
fn run(kind: Scenario, seed: u64, height: u64) -> Outcome {
    let scenario = GatewayScenario::new(kind);
    let outcome = Arc::new(Mutex::new(None));
    let record = RecordOutcome { height, scenario: scenario.clone(), outcome: outcome.clone() };
    // A light transfer workload runs beside the scenario on every validator.
    let workload = Workload { tick: Duration::from_millis(200), txs_per_tick: 1 };
    let engine = MachinaEngine::new(VALIDATORS, 8).with_workload(workload).with_gateway(scenario);
    let result = PlanBuilder::new(engine)
        .link(link(100))
        .exit_condition(ProcessedHeightAtLeast::new(height))
        .property(record)
        .timeout(Duration::from_secs(600))
        .seed(seed)
        .run();
    if let Err(error) = result {
        panic!("scenario {kind:?} failed (reproduce with seed {seed}): {error}");
    }
    let outcome = outcome.lock().unwrap().take();
    outcome.unwrap_or_else(|| panic!("no outcome recorded (seed {seed})"))
}

/// Runs `scenario` twice with `seed`; both runs must agree bit for bit.
fn replayed(scenario: Scenario, seed: u64, height: u64) -> Outcome {
    let first = run(scenario, seed, height);
    let second = run(scenario, seed, height);
    let first_difference = |a: &[String], b: &[String]| {
        let at = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
        format!("first difference at line {at}: {:?} vs {:?}", a.get(at), b.get(at))
    };
    assert_eq!(first.log, second.log, "script logs differ (seed {seed})");
    assert!(
        first.events == second.events,
        "event logs differ (seed {seed}): {}",
        first_difference(&first.events, &second.events)
    );
    assert_eq!(first.state_root, second.state_root, "state roots differ (seed {seed})");
    first
}

/// The events of the scenario's modules (the transfer workload's left out).
fn scenario_events(outcome: &Outcome) -> Vec<&String> {
    outcome.events.iter().filter(|e| !e.contains("\"event\":\"bank\"")).collect()
}

fn count(outcome: &Outcome, needle: &str) -> usize {
    outcome.events.iter().filter(|e| e.contains(needle)).count()
}

#[test]
fn readings_published_over_the_broker_are_all_anchored_and_replay_from_the_seed() {
    let outcome = replayed(Scenario::ReadingsAnchored, 11, 150);
    let last = READINGS_PER_DEVICE - 1;
    let anchored: Vec<_> = outcome
        .log
        .iter()
        .filter(|l| l.contains(&format!("anchored up to Some({last})")))
        .collect();
    assert_eq!(anchored.len(), 3, "{:?}", outcome.log);
    assert!(count(&outcome, "\"action\":\"anchored\"") >= 3, "{:?}", scenario_events(&outcome));
}

#[test]
fn a_leased_unlock_is_relayed_performed_acknowledged_and_paid_and_replays_from_the_seed() {
    let outcome = replayed(Scenario::UnlockLeasedAndPaid, 12, 150);
    assert!(
        outcome.log.iter().any(|l| l == "lock performed unlock for lease 1"),
        "{:?}",
        outcome.log
    );
    assert!(outcome.log.iter().any(|l| l.starts_with("lease 1 Delivered")), "{:?}", outcome.log);
    assert_eq!(count(&outcome, "\"action\":\"delivered\""), 1, "{:?}", scenario_events(&outcome));
    let expected = "provider stake 1000000 of 1000000; lock reputation 1 good, 0 bad";
    assert!(outcome.log.iter().any(|l| l == expected), "{:?}", outcome.log);
}

#[test]
fn a_silent_lock_is_slashed_and_the_consumer_refunded_and_this_replays_from_the_seed() {
    let outcome = replayed(Scenario::SilentLockSlashed, 13, 150);
    assert!(outcome.log.iter().any(|l| l.starts_with("lease 1 Refunded")), "{:?}", outcome.log);
    // The batch cleared at 650 (between the floor, 500, and the limit, 800): the consumer
    // gets it back and half of it (the default slash, 5000 bps) is taken from the stake.
    let settled = "\"action\":\"refunded\",\"lease\":1,\"refund\":650,\"slashed\":325";
    assert_eq!(count(&outcome, settled), 1, "{:?}", scenario_events(&outcome));
    let expected = "provider stake 999675 of 1000000; lock reputation 0 good, 1 bad";
    assert!(outcome.log.iter().any(|l| l == expected), "{:?}", outcome.log);
}

#[test]
fn peers_gossip_is_admitted_against_state_like_the_api_and_replays_from_the_seed() {
    let outcome = replayed(Scenario::GossipAdmission, 14, 60);
    let log = &outcome.log;
    assert!(log.iter().any(|l| l == "garbage: None"), "{log:?}");
    assert!(log.iter().any(|l| l == "unfunded sender: cannot_pay_fee"), "{log:?}");
    assert!(log.iter().any(|l| l == "funded sender: included, Success"), "{log:?}");
}
