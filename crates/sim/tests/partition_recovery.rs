//! How fast a 4-validator network recovers once a network partition heals, measured in
//! simulated time with the production node's settings.
//!
//! A cut link is restored in the simulation when the production transport would carry
//! traffic again (see `machina_sim::transport`), so each figure covers the transport, the
//! consensus resync and block sync. Every test names its seed; the figures it prints are
//! what it measured.

use commonware_cryptography::ed25519;
use commonware_glue::simulate::{
    action::{Action, Crash, Schedule},
    plan::PlanBuilder,
};
use machina_node::run::TRANSPORT;
use machina_sim::{
    MachinaEngine, link,
    properties::AgreementAndAudit,
    timeline::{Entry, Events, Until, since},
    transport::resume_after_heal,
};
use std::time::{Duration, SystemTime};

const VALIDATORS: usize = 4;
const ACCOUNTS: usize = 16;
/// When the partition starts (the chain has finalized a few dozen blocks by then).
const CUT_AT: Duration = Duration::from_secs(5);
/// The bound the figures must stay under: generous against the ~2 s the network should take,
/// far below the tens of seconds a connection stuck in TCP's retransmission backoff takes.
const RECOVERY_MAX: Duration = Duration::from_secs(5);

/// How long a validator's disk takes to make a finalized block's state durable: a sync of
/// the state database and the block archives, several fsyncs of a few milliseconds each.
const DISK_SYNC: Duration = Duration::from_millis(20);
/// When after the heal a cut-off validator's lag is reported (as the fault was observed).
const LAG_AFTER: Duration = Duration::from_secs(10);

/// Cuts every link between `side` and the other validators (both directions) at `CUT_AT`
/// for `cut`, and restores them when the production transport would resume.
fn partition(
    keys: &[ed25519::PublicKey],
    side: &[usize],
    cut: Duration,
) -> Schedule<ed25519::PublicKey> {
    let pairs: Vec<_> = side
        .iter()
        .flat_map(|&a| (0..keys.len()).filter(|b| !side.contains(b)).map(move |b| (a, b)))
        .flat_map(|(a, b)| [(a, b), (b, a)])
        .collect();
    let back = CUT_AT + cut + resume_after_heal(&TRANSPORT, cut);
    let mut schedule = Schedule::new();
    for (at, success) in [(CUT_AT, 0), (back, 100)] {
        for &(from, to) in &pairs {
            let (from, to) = (keys[from].clone(), keys[to].clone());
            schedule = schedule.at(at, Action::UpdateLink { from, to, link: link(success) });
        }
    }
    schedule
}

/// When the partition ending `cut` after `CUT_AT` healed, once the harness has started.
fn heal(entries: &[Entry], cut: Duration) -> Option<SystemTime> {
    Some(entries.schedule_origin()? + CUT_AT + cut)
}

/// Runs `plan` with `seed` and returns the run's timeline, naming the seed in any failure.
fn run(seed: u64, engine: MachinaEngine, plan: PlanBuilder<MachinaEngine>) -> Vec<Entry> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| plan.seed(seed).run()));
    match outcome {
        Ok(Ok(_)) => engine.timeline().entries(),
        Ok(Err(e)) => panic!("simulation failed (reproduce with seed {seed}): {e}"),
        Err(_) => panic!("simulation panicked (reproduce with seed {seed})"),
    }
}

#[test]
fn finalization_resumes_soon_after_a_partition_without_quorum_heals() {
    const SEED: u64 = 11;
    let cut = Duration::from_secs(30);
    let all: Vec<usize> = (0..VALIDATORS).collect();
    let engine = MachinaEngine::new(VALIDATORS, ACCOUNTS);
    let schedule = partition(&engine.public_keys(), &[0, 1], cut);
    let resumed = {
        let all = all.clone();
        move |entries: &[Entry]| {
            let Some(heal) = heal(entries, cut) else { return false };
            let tip = entries.tip_at(&all, heal);
            entries.last().is_some_and(|e| e.at >= heal)
                && all.iter().all(|&v| entries.first_tip_above(v, tip, heal).is_some())
        }
    };
    let audit =
        AgreementAndAudit { honest: VALIDATORS, min_height: 1, genesis: engine.genesis().clone() };
    let plan = PlanBuilder::new(engine.clone())
        .link(link(100))
        .crash(Crash::Schedule(schedule))
        .exit_condition(Until::new("finalized after the heal", engine.timeline().clone(), resumed))
        .property(audit)
        .timeout(Duration::from_secs(600));
    let entries = run(SEED, engine, plan);

    let heal = heal(&entries, cut).expect("validators started");
    let tip = entries.tip_at(&all, heal);
    let firsts: Vec<Duration> = all
        .iter()
        .map(|&v| since(heal, entries.first_tip_above(v, tip, heal).expect("finalized")))
        .collect();
    let (first, last) = (*firsts.iter().min().unwrap(), *firsts.iter().max().unwrap());
    eprintln!(
        "2-2 partition of {cut:?} at height {tip}: transport back {:?} after the heal; next \
         finalization {first:?} after the heal, at every validator {last:?} (seed {SEED})",
        resume_after_heal(&TRANSPORT, cut),
    );
    assert!(last <= RECOVERY_MAX, "finalization resumed {last:?} after the heal (seed {SEED})");
}

#[test]
fn a_validator_cut_off_for_twenty_seconds_catches_up_soon_after_the_heal() {
    const SEED: u64 = 12;
    let cut = Duration::from_secs(20);
    let others = [1, 2, 3];
    let engine = MachinaEngine::new(VALIDATORS, ACCOUNTS).with_disk_sync(DISK_SYNC);
    let schedule = partition(&engine.public_keys(), &[0], cut);
    let caught_up = move |entries: &[Entry]| {
        let Some(heal) = heal(entries, cut) else { return false };
        let target = entries.tip_at(&others, heal);
        entries.last().is_some_and(|e| e.at >= heal + LAG_AFTER)
            && entries.first_durable_at_least(0, target).is_some()
    };
    let audit =
        AgreementAndAudit { honest: VALIDATORS, min_height: 1, genesis: engine.genesis().clone() };
    let plan = PlanBuilder::new(engine.clone())
        .link(link(100))
        .crash(Crash::Schedule(schedule))
        .exit_condition(Until::new(
            "caught up after the heal",
            engine.timeline().clone(),
            caught_up,
        ))
        .property(audit)
        .timeout(Duration::from_secs(600));
    let entries = run(SEED, engine, plan);

    let heal = heal(&entries, cut).expect("validators started");
    let lag = |at| entries.tip_at(&others, at).saturating_sub(entries.durable_at(0, at));
    let target = entries.tip_at(&others, heal);
    let done = since(heal, entries.first_durable_at_least(0, target).expect("caught up"));
    let resume = resume_after_heal(&TRANSPORT, cut);
    let syncing = done.saturating_sub(resume).max(Duration::from_millis(1));
    let rate = (target - entries.durable_at(0, heal + resume)) as f64 / syncing.as_secs_f64();
    eprintln!(
        "validator cut off for {cut:?}, disk sync {DISK_SYNC:?}: {} blocks behind at the heal; \
         transport back {resume:?} after the heal; replayed them {done:?} after the heal \
         ({:.0} blocks/s once connected); {} blocks behind {LAG_AFTER:?} after the heal \
         (seed {SEED})",
        lag(heal),
        rate,
        lag(heal + LAG_AFTER),
    );
    assert!(done <= RECOVERY_MAX, "caught up {done:?} after the heal (seed {SEED})");
    // Block sync, not the disk, sets the pace: blocks share syncs.
    let one_per_sync = 1.0 / DISK_SYNC.as_secs_f64();
    assert!(rate >= 2.0 * one_per_sync, "replayed {rate:.0} blocks/s (seed {SEED})");
}
