//! Anchors and feeds.

use super::{keys, median, rescale, state::*};
use crate::modules::identity::tests::{Fixture, OTHER, OWNER};
use commonware_cryptography::Signer;
use machina_types::ModuleCall;
use machina_types::{
    Address, DataCall, DeviceId, ErrorCode, Hash, IdentityCall, Reading, SignedReading, Value,
    data::Eligibility, identity::roles,
};
use proptest::prelude::*;

fn anchor_call(device: DeviceId, first_seq: u64, last_seq: u64, key: Address) -> DataCall {
    DataCall::Anchor {
        device,
        stream: 1,
        first_seq,
        last_seq,
        count: (last_seq - first_seq + 1) as u32,
        root: Hash([7; 32]),
        device_key: key,
    }
}

fn key_of(serial: u64) -> Address {
    Address::of(&Fixture::device_key(serial).public_key())
}

#[test]
fn anchors_cover_contiguous_ranges_of_a_stream() {
    let mut f = Fixture::new();
    let id = f.onboard(1, OWNER);
    f.chain.run(OWNER, anchor_call(id, 5, 9, key_of(1))).unwrap();
    assert_eq!(f.chain.run(OWNER, anchor_call(id, 9, 12, key_of(1))), Err(ErrorCode::AnchorGap));
    assert_eq!(f.chain.run(OWNER, anchor_call(id, 11, 12, key_of(1))), Err(ErrorCode::AnchorGap));
    f.chain.run(OWNER, anchor_call(id, 10, 20, key_of(1))).unwrap();
    let state: StreamState = f.chain.state.get(&keys::stream(&id, 1)).unwrap();
    assert_eq!((state.anchors, state.last_seq, state.readings), (2, Some(20), 16));
    let second: AnchorRecord = f.chain.state.get(&keys::anchor(&id, 1, 1)).unwrap();
    assert_eq!((second.first_seq, second.last_seq, second.height), (10, 20, f.chain.height));
}

#[test]
fn only_the_owner_or_a_current_gateway_anchors() {
    let mut f = Fixture::new();
    let id = f.onboard(1, OWNER);
    let gateway = f.chain.addr(OTHER);
    assert_eq!(f.chain.run(OTHER, anchor_call(id, 0, 0, key_of(1))), Err(ErrorCode::Unauthorized));
    let grant = IdentityCall::GrantRole {
        device: id,
        account: gateway,
        role: roles::GATEWAY.into(),
        expiry_height: Some(f.chain.height + 2),
    };
    f.chain.run(OWNER, grant).unwrap();
    f.chain.run(OTHER, anchor_call(id, 0, 0, key_of(1))).unwrap();
    f.chain.block(vec![]);
    assert_eq!(
        f.chain.run(OTHER, anchor_call(id, 1, 1, key_of(1))),
        Err(ErrorCode::Unauthorized),
        "an expired grant no longer allows anchoring"
    );
}

#[test]
fn anchors_need_a_known_device_key_and_an_active_device() {
    let mut f = Fixture::new();
    let id = f.onboard(1, OWNER);
    assert_eq!(
        f.chain.run(OWNER, anchor_call(id, 0, 0, key_of(2))),
        Err(ErrorCode::UnknownDeviceKey)
    );
    f.chain.run(OWNER, IdentityCall::Decommission { device: id }).unwrap();
    assert_eq!(
        f.chain.run(OWNER, anchor_call(id, 0, 0, key_of(1))),
        Err(ErrorCode::DeviceDecommissioned)
    );
    assert_eq!(
        f.chain.run(OWNER, anchor_call(Hash([1; 32]), 0, 0, key_of(1))),
        Err(ErrorCode::UnknownDevice)
    );
}

fn temperature(serial: u64, id: DeviceId, seq: u64, ts: u64, celsius_tenths: i64) -> SignedReading {
    Reading {
        device: id,
        stream: 1,
        seq,
        timestamp_ms: ts,
        value: Value::Numeric { value: celsius_tenths, decimals: 1, unit: "C".into() },
    }
    .sign(&Fixture::device_key(serial))
}

fn create_feed(f: &mut Fixture, eligibility: Eligibility, min_sources: u8) -> u64 {
    let call = DataCall::CreateFeed {
        name: "warehouse-temp".into(),
        stream: 1,
        eligibility,
        min_sources,
        max_staleness_ms: 10_000,
        unit: "C".into(),
        decimals: 2,
    };
    f.chain.run(OTHER, call).unwrap();
    1
}

fn feed(f: &Fixture, id: u64) -> Feed {
    f.chain.state.get(&keys::feed(id)).unwrap()
}

#[test]
fn a_feed_takes_the_median_of_eligible_fresh_sources_once_it_has_enough() {
    let mut f = Fixture::new();
    let ids: Vec<DeviceId> = (1..=3).map(|s| f.onboard(s, OWNER)).collect();
    let maker = f.chain.addr(1);
    let feed_id = create_feed(&mut f, Eligibility::Maker { maker }, 2);
    let now = f.chain.now_ms;
    let report = |readings| DataCall::ReportFeed { feed: feed_id, readings };
    f.chain.run(OTHER, report(vec![temperature(1, ids[0], 1, now, 215)])).unwrap();
    assert_eq!(feed(&f, feed_id).value, None, "one source is below the minimum of two");
    let readings = vec![temperature(2, ids[1], 1, now, 190), temperature(3, ids[2], 1, now, 300)];
    f.chain.run(OTHER, report(readings)).unwrap();
    let value = feed(&f, feed_id).value.unwrap();
    assert_eq!((value.value, value.sources), (2150, 3), "median 21.5 C in the feed's 2 decimals");
}

#[test]
fn stale_sources_stop_counting_and_stale_readings_are_refused() {
    let mut f = Fixture::new();
    let ids: Vec<DeviceId> = (1..=2).map(|s| f.onboard(s, OWNER)).collect();
    let feed_id = create_feed(&mut f, Eligibility::Devices { devices: ids.clone() }, 2);
    let now = f.chain.now_ms;
    let report = |readings| DataCall::ReportFeed { feed: feed_id, readings };
    f.chain.run(OTHER, report(vec![temperature(1, ids[0], 1, now, 200)])).unwrap();
    f.chain.wait(20_000);
    let late = f.chain.now_ms;
    assert_eq!(
        f.chain.run(OTHER, report(vec![temperature(2, ids[1], 1, now, 210)])),
        Err(ErrorCode::StaleReading)
    );
    f.chain.run(OTHER, report(vec![temperature(2, ids[1], 2, late, 210)])).unwrap();
    let current = feed(&f, feed_id);
    assert_eq!(current.value, None, "device 1's reading went stale: one fresh source of two");
    assert!(current.value_at(late).is_none());
}

#[test]
fn ineligible_mismatched_or_forged_readings_are_refused() {
    let mut f = Fixture::new();
    let ids: Vec<DeviceId> = (1..=2).map(|s| f.onboard(s, OWNER)).collect();
    let feed_id = create_feed(&mut f, Eligibility::Devices { devices: vec![ids[0]] }, 1);
    let now = f.chain.now_ms;
    let report = |r: SignedReading| DataCall::ReportFeed { feed: feed_id, readings: vec![r] };
    assert_eq!(
        f.chain.run(OTHER, report(temperature(2, ids[1], 1, now, 1))),
        Err(ErrorCode::NotEligible)
    );
    let mut wrong_unit = temperature(1, ids[0], 1, now, 1).reading;
    wrong_unit.value = Value::Numeric { value: 1, decimals: 0, unit: "F".into() };
    let wrong_unit = wrong_unit.sign(&Fixture::device_key(1));
    assert_eq!(f.chain.run(OTHER, report(wrong_unit)), Err(ErrorCode::ReadingMismatch));
    let forged = temperature(2, ids[0], 1, now, 1); // signed by another device's key
    assert_eq!(f.chain.run(OTHER, report(forged)), Err(ErrorCode::BadDeviceSignature));
    let unknown =
        DataCall::ReportFeed { feed: 99, readings: vec![temperature(1, ids[0], 1, now, 1)] };
    assert_eq!(f.chain.run(OTHER, unknown), Err(ErrorCode::UnknownFeed));
}

#[test]
fn values_are_rescaled_to_the_feed_decimals() {
    assert_eq!(rescale(215, 1, 2), Some(2150));
    assert_eq!(rescale(2159, 2, 1), Some(215));
    assert_eq!(rescale(-2159, 2, 1), Some(-215));
    assert_eq!(rescale(i64::MAX, 0, 1), None);
}

proptest! {
    #[test]
    fn fewer_than_half_liars_cannot_move_the_median_outside_the_honest_range(
        honest in proptest::collection::vec(-1_000_000i64..1_000_000, 1..32),
        liars in proptest::collection::vec(any::<i64>(), 0..32),
    ) {
        let liars = &liars[..liars.len().min(honest.len().saturating_sub(1))];
        prop_assume!(liars.len() * 2 < honest.len() + liars.len());
        let mut all: Vec<i64> = honest.iter().chain(liars).copied().collect();
        let m = median(&mut all).unwrap();
        let (lo, hi) = (*honest.iter().min().unwrap(), *honest.iter().max().unwrap());
        prop_assert!(lo <= m && m <= hi, "median {m} outside honest [{lo}, {hi}]");
    }
}

#[test]
fn stale_sources_leave_a_feed_so_its_source_slots_never_fill_for_good() {
    // The attack: enough devices report once, their readings go stale, and the feed's
    // source slots stay full, so no new device can ever report.
    use machina_types::limits::FEED_SOURCES_MAX;
    let mut f = Fixture::new();
    let count = FEED_SOURCES_MAX as u64 + 1;
    let ids: Vec<DeviceId> = (1..=count).map(|s| f.onboard(s, OWNER)).collect();
    let maker = f.chain.addr(1);
    let feed_id = create_feed(&mut f, Eligibility::Maker { maker }, 1);
    let now = f.chain.now_ms;
    for chunk in ids[..FEED_SOURCES_MAX].chunks(16).enumerate() {
        let (i, chunk) = chunk;
        let readings = chunk
            .iter()
            .enumerate()
            .map(|(j, id)| temperature((i * 16 + j + 1) as u64, *id, 1, now, 200))
            .collect();
        f.chain.run(OTHER, DataCall::ReportFeed { feed: feed_id, readings }).unwrap();
    }
    assert_eq!(feed(&f, feed_id).sources.len(), FEED_SOURCES_MAX);
    f.chain.wait(20_000);
    let late = f.chain.now_ms;
    let newcomer = temperature(count, ids[FEED_SOURCES_MAX], 1, late, 210);
    f.chain.run(OTHER, DataCall::ReportFeed { feed: feed_id, readings: vec![newcomer] }).unwrap();
    let current = feed(&f, feed_id);
    assert_eq!(current.sources.len(), 1, "the stale sources left");
    assert_eq!(current.value.map(|v| v.value), Some(2100));
}

/// A device of the attacker (`OTHER` owns it) granting the feed creator (`OWNER`) `role`.
fn enrol(f: &mut Fixture, serial: u64, role: &str) -> DeviceId {
    let id = f.onboard(serial, OTHER);
    let grant = IdentityCall::GrantRole {
        device: id,
        account: f.chain.addr(OWNER),
        role: role.into(),
        expiry_height: None,
    };
    f.chain.run(OTHER, grant).unwrap();
    id
}

#[test]
fn devices_enrolled_by_someone_else_do_not_count_until_the_feeds_creator_accepts_them() {
    let mut f = Fixture::new();
    let call = DataCall::CreateFeed {
        name: "by role".into(),
        stream: 1,
        eligibility: Eligibility::Role { role: "sensors".into() },
        min_sources: 1,
        max_staleness_ms: 10_000,
        unit: "C".into(),
        decimals: 1,
    };
    f.chain.run(OWNER, call).unwrap();
    let fake = enrol(&mut f, 1, "sensors");
    let now = f.chain.now_ms;
    let report =
        |seq| DataCall::ReportFeed { feed: 1, readings: vec![temperature(1, fake, seq, now, 990)] };
    assert_eq!(f.chain.run(OTHER, report(1)), Err(ErrorCode::NotEligible));
    let accept = IdentityCall::AcceptRole { device: fake, role: "sensors".into() };
    assert_eq!(f.chain.run(OTHER, accept.clone()), Err(ErrorCode::NoSuchGrant), "only the grantee");
    f.chain.run(OWNER, accept).unwrap();
    f.chain.run(OTHER, report(2)).unwrap();
    assert_eq!(feed(&f, 1).value.map(|v| v.value), Some(990));
}

#[test]
fn attribute_feeds_count_only_devices_their_creator_accepted_as_sources() {
    let mut f = Fixture::new();
    let call = DataCall::CreateFeed {
        name: "berlin".into(),
        stream: 1,
        eligibility: Eligibility::Attribute { key: "city".into(), value: "berlin".into() },
        min_sources: 1,
        max_staleness_ms: 10_000,
        unit: "C".into(),
        decimals: 1,
    };
    f.chain.run(OWNER, call).unwrap();
    let device = enrol(&mut f, 1, roles::FEED_SOURCE);
    let city =
        IdentityCall::SetAttribute { device, key: "city".into(), value: Some("berlin".into()) };
    f.chain.run(OTHER, city).unwrap();
    let now = f.chain.now_ms;
    let report =
        |seq| DataCall::ReportFeed { feed: 1, readings: vec![temperature(1, device, seq, now, 5)] };
    assert_eq!(f.chain.run(OTHER, report(1)), Err(ErrorCode::NotEligible));
    let accept = IdentityCall::AcceptRole { device, role: roles::FEED_SOURCE.into() };
    f.chain.run(OWNER, accept).unwrap();
    f.chain.run(OTHER, report(2)).unwrap();
}

#[test]
fn a_feed_locks_a_deposit_its_creator_gets_back_when_closing_it() {
    let mut f = Fixture::new();
    let before = f.chain.balance(&f.chain.addr(OTHER));
    let maker = f.chain.addr(1);
    let id = create_feed(&mut f, Eligibility::Maker { maker }, 1);
    let deposit = f.chain.genesis.params.data.feed_deposit;
    assert_eq!(f.chain.balance(&super::feed_deposits()), deposit);
    assert!(before - f.chain.balance(&f.chain.addr(OTHER)) >= deposit);
    assert_eq!(f.chain.run(OWNER, DataCall::CloseFeed { feed: id }), Err(ErrorCode::Unauthorized));
    f.chain.run(OTHER, DataCall::CloseFeed { feed: id }).unwrap();
    assert_eq!(f.chain.balance(&super::feed_deposits()), 0);
    assert!(f.chain.state.get::<Feed>(&keys::feed(id)).is_none());
    let now = f.chain.now_ms;
    let ids = [f.onboard(1, OWNER)];
    let report =
        DataCall::ReportFeed { feed: id, readings: vec![temperature(1, ids[0], 1, now, 1)] };
    assert_eq!(f.chain.run(OTHER, report), Err(ErrorCode::UnknownFeed));
}

#[test]
fn anchor_ranges_at_the_sequence_limit_are_checked_without_overflow() {
    use machina_types::limits::SEQ_MAX;
    // Before hardening: `last_seq - first_seq + 1` overflowed in the stateless check, and an
    // anchor ending at u64::MAX made the next anchor's `last + 1` overflow in execution.
    let wide = DataCall::Anchor {
        device: Hash([1; 32]),
        stream: 1,
        first_seq: 0,
        last_seq: u64::MAX,
        count: 1,
        root: Hash([7; 32]),
        device_key: Address([1; 32]),
    };
    assert_eq!(wide.check(), Err(ErrorCode::InvalidCall));
    let mut f = Fixture::new();
    let id = f.onboard(1, OWNER);
    let mut at_limit = anchor_call(id, SEQ_MAX - 1, SEQ_MAX, key_of(1));
    f.chain.run(OWNER, at_limit.clone()).unwrap();
    if let DataCall::Anchor { first_seq, last_seq, count, .. } = &mut at_limit {
        (*first_seq, *last_seq, *count) = (SEQ_MAX, SEQ_MAX, 1);
    }
    assert_eq!(f.chain.run(OWNER, at_limit), Err(ErrorCode::AnchorGap));
    let past = DataCall::Anchor {
        device: id,
        stream: 1,
        first_seq: SEQ_MAX,
        last_seq: SEQ_MAX + 1,
        count: 1,
        root: Hash([7; 32]),
        device_key: key_of(1),
    };
    assert_eq!(past.check(), Err(ErrorCode::InvalidCall));
}
