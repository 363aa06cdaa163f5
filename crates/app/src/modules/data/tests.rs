//! Anchors and feeds.

use super::{keys, median, rescale, state::*};
use crate::modules::identity::tests::{Fixture, OTHER, OWNER};
use commonware_cryptography::Signer;
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
