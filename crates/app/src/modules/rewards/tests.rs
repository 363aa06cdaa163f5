//! Reward pools on the test chain, whose invariants (the escrow holds exactly what pools
//! were funded less what they paid and refunded, no pool pays more than its funding, supplies
//! conserved) are checked after every block.

use super::{escrow_account, keys, state::*};
use crate::genesis::{Params, RewardsParams};
use crate::modules::{
    bank,
    identity::tests::{Fixture, MAKER, OTHER, OWNER},
    market,
};
use crate::testing::{CHAIN, Chain};
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_types::{
    Address, DataCall, DeviceId, ErrorCode, Event, Hash, IdentityCall, MarketCall, OwnershipCall,
    RewardsCall,
    data::{Eligibility, state::StreamState},
    device::{self, CertificateBody},
    identity::roles,
    limits::{REWARD_EPOCH_BLOCKS_MAX, REWARD_EPOCHS_MAX},
    market::{Component, Delivery, ResourceKind, StakeKind},
    ownership::{OwnershipEvent, treasury},
    rewards::{Epoch, PoolId, RewardsEvent, Work},
};
use proptest::prelude::*;

/// Funds the pools.
const FUNDER: usize = 4;
/// A second maker, and a consumer of leases.
const RIVAL: usize = 5;
/// A consumer of leases.
const BUYER: usize = 6;
/// Blocks per epoch: room for a test's calls (one block each) inside an epoch.
const EB: u64 = 20;
const PER_EPOCH: u64 = 1_000;

struct Pools {
    f: Fixture,
}

impl Pools {
    /// A chain whose pools may be claimed for one epoch after the usual one.
    fn new() -> Self {
        Self::with(RewardsParams { claim_window_epochs: 1, ..RewardsParams::default() })
    }

    fn with(rewards: RewardsParams) -> Self {
        let params = Params { rewards, ..Params::default() };
        Self { f: Fixture::with_chain(Chain::with_params(8, params)) }
    }

    fn chain(&mut self) -> &mut Chain {
        &mut self.f.chain
    }

    fn addr(&self, i: usize) -> Address {
        self.f.chain.addr(i)
    }

    fn balance(&self, i: usize) -> u64 {
        self.f.chain.balance(&self.addr(i))
    }

    /// Runs empty blocks until the next block has height `height`.
    fn at(&mut self, height: u64) {
        assert!(self.f.chain.height < height, "height {height} has passed");
        while self.f.chain.height + 1 < height {
            self.f.chain.block(vec![]);
        }
    }

    /// Runs empty blocks until the next block is the first of epoch `epoch` of `p`.
    fn at_epoch(&mut self, p: &Pool, epoch: u64) {
        self.at(p.epoch_start(epoch));
    }

    /// The epoch of `p` the next block lies in.
    fn next_epoch(&self, p: &Pool) -> Option<u64> {
        p.epoch_at(self.f.chain.height + 1)
    }

    fn create(&mut self, call: RewardsCall) -> Result<Pool, ErrorCode> {
        let events = self.chain().run(FUNDER, call)?;
        let id = events
            .iter()
            .find_map(|e| match e {
                Event::Rewards(RewardsEvent::PoolCreated { pool, .. }) => Some(*pool),
                _ => None,
            })
            .unwrap();
        Ok(self.pool(id))
    }

    fn pool(&self, id: PoolId) -> Pool {
        self.f.chain.state.get(&keys::pool(id)).unwrap()
    }

    fn enroll(&mut self, p: &Pool, device: DeviceId) -> Result<(), ErrorCode> {
        self.chain().run(OTHER, RewardsCall::Enroll { pool: p.id, device }).map(drop)
    }

    /// Reports `device`; the work credited.
    fn report(&mut self, p: &Pool, device: DeviceId) -> Result<u64, ErrorCode> {
        let events = self.chain().run(OTHER, RewardsCall::Report { pool: p.id, device })?;
        Ok(events
            .iter()
            .find_map(|e| match e {
                Event::Rewards(RewardsEvent::Reported { work, .. }) => Some(*work),
                _ => None,
            })
            .unwrap())
    }

    /// Claims `device`'s reward for `epoch`: to whom it went and how much.
    fn claim(
        &mut self,
        p: &Pool,
        epoch: Epoch,
        device: DeviceId,
    ) -> Result<(Address, u64), ErrorCode> {
        let events = self.chain().run(OTHER, RewardsCall::Claim { pool: p.id, epoch, device })?;
        Ok(events
            .iter()
            .find_map(|e| match e {
                Event::Rewards(RewardsEvent::Paid { to, amount, .. }) => Some((*to, *amount)),
                _ => None,
            })
            .unwrap())
    }

    /// Closes `p`; what its funder got back.
    fn close(&mut self, p: &Pool) -> Result<u64, ErrorCode> {
        let events = self.chain().run(OTHER, RewardsCall::Close { pool: p.id })?;
        Ok(events
            .iter()
            .find_map(|e| match e {
                Event::Rewards(RewardsEvent::Closed { refunded, .. }) => Some(*refunded),
                _ => None,
            })
            .unwrap())
    }

    /// Anchors `count` more readings of `device`'s stream 1 (device `serial`'s key signed
    /// them), as `signer` (its owner or gateway).
    fn anchor(&mut self, signer: usize, serial: u64, device: DeviceId, count: u32) {
        let state: StreamState = self
            .f
            .chain
            .state
            .get(&crate::modules::data::keys::stream(&device, 1))
            .unwrap_or_default();
        let first_seq = state.last_seq.map_or(0, |s| s + 1);
        let call = DataCall::Anchor {
            device,
            stream: 1,
            first_seq,
            last_seq: first_seq + u64::from(count) - 1,
            count,
            root: Hash([7; 32]),
            device_key: Address::of(&Fixture::device_key(serial).public_key()),
        };
        self.chain().run(signer, call).unwrap();
    }

    fn enrollment(&self, p: &Pool, device: &DeviceId) -> Enrollment {
        self.f.chain.state.get(&keys::enrollment(p.id, device)).unwrap()
    }

    fn epoch_total(&self, p: &Pool, epoch: Epoch) -> EpochTotal {
        self.f.chain.state.get(&keys::epoch(p.id, epoch)).unwrap_or_default()
    }

    fn escrow(&self) -> u64 {
        self.f.chain.balance(&escrow_account())
    }

    fn asset_balance(&self, asset: u64, holder: &Address) -> u64 {
        self.f.chain.state.get(&bank::keys::asset_balance(asset, holder)).unwrap_or(0)
    }
}

/// A native pool of [`PER_EPOCH`] for `epochs` epochs of [`EB`] blocks, paying for readings
/// of stream 1.
fn readings_pool(epochs: u32, eligibility: Eligibility, max_work: u64) -> RewardsCall {
    RewardsCall::CreatePool {
        asset: None,
        per_epoch: PER_EPOCH,
        epochs,
        epoch_blocks: EB,
        work: Work::AnchoredReadings { stream: 1 },
        eligibility,
        min_reputation: 0,
        max_work_per_epoch: max_work,
    }
}

fn makers(t: &Pools) -> Eligibility {
    Eligibility::Maker { maker: t.addr(MAKER) }
}

/// Devices 1..=n onboarded to OWNER.
fn devices(t: &mut Pools, n: u64) -> Vec<DeviceId> {
    (1..=n).map(|serial| t.f.onboard(serial, OWNER)).collect()
}

#[test]
fn a_pool_pays_devices_pro_rata_to_their_anchored_readings_and_returns_the_rest() {
    let mut t = Pools::new();
    let ds = devices(&mut t, 3);
    // Readings anchored before enrollment are not work for the pool.
    t.anchor(OWNER, 1, ds[0], 5);
    let p = t.create(readings_pool(2, makers(&t), 1_000)).unwrap();
    assert_eq!((p.id, p.start, p.funded), (1, t.f.chain.height + 1, 2 * PER_EPOCH));
    assert_eq!(p.claim_until, p.start + (2 + 2 + 1) * EB);
    assert_eq!(t.escrow(), 2 * PER_EPOCH);
    for d in &ds {
        t.enroll(&p, *d).unwrap();
    }
    assert_eq!(t.enrollment(&p, &ds[0]).last_counter, 5, "the baseline");
    assert_eq!(t.pool(p.id).enrolled, 3);
    for (serial, (d, n)) in (1..).zip(ds.iter().zip([10, 20, 30])) {
        t.anchor(OWNER, serial, *d, n);
    }
    assert_eq!(t.next_epoch(&p), Some(0));
    assert_eq!(t.report(&p, ds[0]), Err(ErrorCode::ReportTooEarly));

    t.at_epoch(&p, 1);
    let works: Vec<u64> = ds.iter().map(|d| t.report(&p, *d).unwrap()).collect();
    assert_eq!(works, [10, 20, 30]);
    assert_eq!(t.epoch_total(&p, 0), EpochTotal { total_work: 60, devices: 3 });
    assert_eq!(t.report(&p, ds[0]), Err(ErrorCode::AlreadyReported));
    assert_eq!(t.claim(&p, 0, ds[0]), Err(ErrorCode::ClaimTooEarly), "reporting is open");

    t.at(p.claims_open(0));
    let before = t.balance(OWNER);
    let owner = t.addr(OWNER);
    let paid: Vec<(Address, u64)> = ds.iter().map(|d| t.claim(&p, 0, *d).unwrap()).collect();
    // 1000 * 10/60, 1000 * 20/60 and 1000 * 30/60, rounded down: one unit of dust.
    assert_eq!(paid, [(owner, 166), (owner, 333), (owner, 500)]);
    assert_eq!(t.balance(OWNER) - before, 999);
    assert_eq!(t.claim(&p, 0, ds[1]), Err(ErrorCode::RewardClaimed));
    assert_eq!(t.claim(&p, 1, ds[0]), Err(ErrorCode::ClaimTooEarly));
    assert_eq!(t.claim(&p, 2, ds[0]), Err(ErrorCode::UnknownEpoch));
    t.at(p.claims_open(1));
    assert_eq!(t.claim(&p, 1, ds[0]), Err(ErrorCode::NoCreditedWork), "nobody reported");
    assert_eq!(t.close(&p), Err(ErrorCode::ClaimsOpen));

    t.at(p.claim_until - 2);
    assert_eq!(t.claim(&p, 0, ds[0]), Err(ErrorCode::RewardClaimed), "still in the window");
    assert_eq!(t.claim(&p, 1, ds[0]), Err(ErrorCode::NoCreditedWork));
    assert_eq!(t.claim(&p, 0, ds[0]), Err(ErrorCode::ClaimWindowClosed));
    let funder = t.balance(FUNDER);
    // The dust and the epoch nobody worked in go back.
    assert_eq!(t.close(&p), Ok(2 * PER_EPOCH - 999));
    assert_eq!(t.balance(FUNDER) - funder, 1_001);
    assert_eq!(t.escrow(), 0);
    let closed = t.pool(p.id);
    assert_eq!((closed.paid, closed.refunded, closed.closed), (999, 1_001, true));
    assert_eq!(t.close(&p), Err(ErrorCode::PoolClosed));
    assert_eq!(t.enroll(&p, ds[0]), Err(ErrorCode::PoolClosed));
    assert_eq!(t.chain().run(OTHER, RewardsCall::Close { pool: 2 }), Err(ErrorCode::UnknownPool));
}

#[test]
fn the_cap_bounds_an_epochs_work_and_work_beyond_it_never_counts_later() {
    let mut t = Pools::new();
    let ds = devices(&mut t, 2);
    let p = t.create(readings_pool(3, makers(&t), 15)).unwrap();
    t.enroll(&p, ds[0]).unwrap();
    t.enroll(&p, ds[1]).unwrap();
    t.anchor(OWNER, 1, ds[0], 10);
    t.anchor(OWNER, 2, ds[1], 40);

    t.at_epoch(&p, 1);
    assert_eq!(t.report(&p, ds[0]), Ok(10));
    assert_eq!(t.report(&p, ds[1]), Ok(15), "capped");
    assert_eq!(t.enrollment(&p, &ds[1]).last_counter, 40, "the counter moved on");
    // Device 0 works more in epoch 1 and skips its report in epoch 2: in epoch 3 it is
    // credited (to epoch 2) at most one epoch's cap.
    t.anchor(OWNER, 1, ds[0], 12);

    t.at_epoch(&p, 2);
    assert_eq!(p.claims_open(0), p.epoch_start(2));
    let (_, more) = t.claim(&p, 0, ds[1]).unwrap();
    let (_, less) = t.claim(&p, 0, ds[0]).unwrap();
    assert_eq!((less, more), (400, 600), "1000 * 10/25 and 1000 * 15/25");
    assert_eq!(t.report(&p, ds[1]), Err(ErrorCode::NoNewWork), "the excess is gone");
    t.anchor(OWNER, 1, ds[0], 12);

    t.at_epoch(&p, 3);
    assert_eq!(t.report(&p, ds[0]), Ok(15), "24 readings over two epochs, capped");
    assert_eq!(t.epoch_total(&p, 1), EpochTotal::default(), "nobody was credited epoch 1");
    assert_eq!(t.epoch_total(&p, 2), EpochTotal { total_work: 15, devices: 1 });
    t.at(p.claims_open(2));
    assert_eq!(t.claim(&p, 2, ds[0]).unwrap().1, PER_EPOCH, "alone in its epoch");
    t.at(p.claim_until);
    assert_eq!(t.close(&p), Ok(3 * PER_EPOCH - 2 * PER_EPOCH));
}

#[test]
fn reporting_covers_epochs_one_to_the_last_and_enrollment_ends_before_the_last() {
    let mut t = Pools::new();
    let ds = devices(&mut t, 3);
    let unknown = Hash([0xee; 32]);
    let p = t.create(readings_pool(2, makers(&t), 100)).unwrap();
    assert_eq!(t.enroll(&p, unknown), Err(ErrorCode::UnknownDevice));
    assert_eq!(
        t.chain().run(OTHER, RewardsCall::Enroll { pool: 9, device: ds[0] }),
        Err(ErrorCode::UnknownPool)
    );
    t.enroll(&p, ds[0]).unwrap();
    assert_eq!(t.enroll(&p, ds[0]), Err(ErrorCode::AlreadyEnrolled));
    t.anchor(OWNER, 1, ds[0], 3);
    assert_eq!(t.report(&p, ds[1]), Err(ErrorCode::ReportTooEarly));

    // Enrolled during epoch 1 (the last paid for), a device reports first in epoch 2.
    t.at(p.epoch_start(2) - 3);
    t.enroll(&p, ds[1]).unwrap();
    assert_eq!(t.enrollment(&p, &ds[1]).last_report_epoch, 1);
    assert_eq!(t.report(&p, ds[1]), Err(ErrorCode::AlreadyReported), "enrolled this epoch");
    t.anchor(OWNER, 2, ds[1], 4);
    assert_eq!(t.next_epoch(&p), Some(2));
    assert_eq!(t.enroll(&p, ds[2]), Err(ErrorCode::EnrollmentClosed), "epoch 2 has begun");
    assert_eq!(t.report(&p, ds[2]), Err(ErrorCode::NotEnrolled));
    assert_eq!(t.report(&p, ds[1]), Ok(4), "credited to epoch 1");
    assert_eq!(t.report(&p, ds[0]), Ok(3), "device 0 skipped epoch 1's report: epoch 1");

    t.at_epoch(&p, 3);
    t.anchor(OWNER, 1, ds[0], 3);
    assert_eq!(t.report(&p, ds[0]), Err(ErrorCode::ReportingClosed));
    assert_eq!(t.epoch_total(&p, 1), EpochTotal { total_work: 7, devices: 2 });
    assert_eq!(t.claim(&p, 1, ds[1]).unwrap().1, PER_EPOCH * 4 / 7);
    assert_eq!(t.claim(&p, 1, ds[0]).unwrap().1, PER_EPOCH * 3 / 7);
    assert_eq!(t.claim(&p, 0, ds[0]), Err(ErrorCode::NoCreditedWork));
}

/// Onboards device `serial` of a second maker (account [`RIVAL`], registered on first use)
/// to OWNER.
fn rival_device(t: &mut Pools, serial: u64) -> DeviceId {
    let maker_key = PrivateKey::from_seed(501);
    let registered: Option<crate::modules::identity::state::Maker> =
        t.f.chain.state.get(&crate::modules::identity::keys::maker(&t.addr(RIVAL)));
    if registered.is_none() {
        let register = IdentityCall::RegisterMaker {
            name: "Rival Sensors".into(),
            maker_key: Address::of(&maker_key.public_key()),
            bond: 5_000_000_000,
        };
        t.chain().run(RIVAL, register).unwrap();
    }
    let certificate = CertificateBody {
        maker: t.addr(RIVAL),
        device_key: Address::of(&Fixture::device_key(serial).public_key()),
        model: "TH-200".into(),
        serial_hash: Hash::of(&[b"rival", &serial.to_be_bytes()]),
    }
    .sign(&maker_key);
    let id = certificate.device_id();
    let message = device::claim_message(CHAIN, &id, &t.addr(OWNER));
    let claim_signature = Fixture::device_key(serial).sign(device::CLAIM_NAMESPACE, &message);
    t.chain().run(OWNER, IdentityCall::OnboardDevice { certificate, claim_signature }).unwrap();
    id
}

#[test]
fn only_devices_the_rule_admits_enroll_and_report() {
    let mut t = Pools::new();
    let ds = devices(&mut t, 3);
    let rival = rival_device(&mut t, 9);

    // A new device's reputation is 50%: the boundary.
    let reputable = |min_reputation| RewardsCall::CreatePool {
        asset: None,
        per_epoch: 1,
        epochs: 1,
        epoch_blocks: EB,
        work: Work::LeasesDelivered {},
        eligibility: Eligibility::Devices { devices: ds.clone() },
        min_reputation,
        max_work_per_epoch: 1,
    };
    let fifty = t.create(reputable(50)).unwrap();
    let above = t.create(reputable(51)).unwrap();
    let top = t.create(reputable(100)).unwrap();
    assert_eq!(market::reputation(&t.f.device(&ds[0])), 50);
    t.enroll(&fifty, ds[0]).unwrap();
    assert_eq!(t.enroll(&above, ds[0]), Err(ErrorCode::ReputationBelowMinimum));
    assert_eq!(t.enroll(&top, ds[0]), Err(ErrorCode::ReputationBelowMinimum));

    let listed = t.create(readings_pool(2, Eligibility::Devices { devices: vec![ds[0]] }, 100));
    let listed = listed.unwrap();
    t.enroll(&listed, ds[0]).unwrap();
    assert_eq!(t.enroll(&listed, ds[1]), Err(ErrorCode::IneligibleDevice), "not listed");

    let p = t.create(readings_pool(2, makers(&t), 100)).unwrap();
    assert_eq!(t.enroll(&p, rival), Err(ErrorCode::IneligibleDevice), "another maker's");

    // A suspended device neither enrolls nor reports; resumed, it does both.
    t.chain().run(OWNER, IdentityCall::Suspend { device: ds[1] }).unwrap();
    assert_eq!(t.enroll(&p, ds[1]), Err(ErrorCode::DeviceSuspended));
    t.chain().run(OWNER, IdentityCall::Resume { device: ds[1] }).unwrap();
    t.enroll(&p, ds[1]).unwrap();
    t.enroll(&p, ds[2]).unwrap();
    t.anchor(OWNER, 2, ds[1], 5);
    t.anchor(OWNER, 3, ds[2], 5);
    t.chain().run(OWNER, IdentityCall::Suspend { device: ds[1] }).unwrap();
    t.chain().run(OWNER, IdentityCall::Decommission { device: ds[2] }).unwrap();
    t.at_epoch(&p, 1);
    assert_eq!(t.report(&p, ds[1]), Err(ErrorCode::DeviceSuspended));
    assert_eq!(t.report(&p, ds[2]), Err(ErrorCode::DeviceDecommissioned));
    t.chain().run(OWNER, IdentityCall::Resume { device: ds[1] }).unwrap();
    assert_eq!(t.report(&p, ds[1]), Ok(5));
    assert_eq!(t.enroll(&p, ds[2]), Err(ErrorCode::AlreadyEnrolled));
    let fresh = t.create(readings_pool(1, makers(&t), 100)).unwrap();
    assert_eq!(t.enroll(&fresh, ds[2]), Err(ErrorCode::DeviceDecommissioned));
}

#[test]
fn role_and_attribute_rules_admit_devices_whose_grant_the_funder_accepted() {
    let mut t = Pools::new();
    let ds = devices(&mut t, 2);
    let funder = t.addr(FUNDER);
    let by_role = t.create(readings_pool(1, Eligibility::Role { role: "fleet".into() }, 9));
    let by_role = by_role.unwrap();
    let berlin = Eligibility::Attribute { key: "city".into(), value: "berlin".into() };
    let by_city = t.create(readings_pool(1, berlin, 9)).unwrap();
    let grant = |device, role: &str| IdentityCall::GrantRole {
        device,
        account: funder,
        role: role.into(),
        expiry_height: None,
    };
    assert_eq!(t.enroll(&by_role, ds[0]), Err(ErrorCode::IneligibleDevice));
    t.chain().run(OWNER, grant(ds[0], "fleet")).unwrap();
    assert_eq!(t.enroll(&by_role, ds[0]), Err(ErrorCode::IneligibleDevice), "not accepted");
    let accept = |device, role: &str| IdentityCall::AcceptRole { device, role: role.into() };
    t.chain().run(FUNDER, accept(ds[0], "fleet")).unwrap();
    t.enroll(&by_role, ds[0]).unwrap();

    let city = |device, value: &str| IdentityCall::SetAttribute {
        device,
        key: "city".into(),
        value: Some(value.into()),
    };
    t.chain().run(OWNER, city(ds[1], "berlin")).unwrap();
    t.chain().run(OWNER, grant(ds[1], roles::FEED_SOURCE)).unwrap();
    t.chain().run(FUNDER, accept(ds[1], roles::FEED_SOURCE)).unwrap();
    assert_eq!(t.enroll(&by_city, ds[1]), Err(ErrorCode::IneligibleDevice), "a feed's role");
    t.chain().run(OWNER, grant(ds[1], roles::REWARD_EARNER)).unwrap();
    t.chain().run(FUNDER, accept(ds[1], roles::REWARD_EARNER)).unwrap();
    t.enroll(&by_city, ds[1]).unwrap();
    t.anchor(OWNER, 2, ds[1], 2);
    // The attribute changes: the device no longer meets the rule when it reports.
    t.chain().run(OWNER, city(ds[1], "lagos")).unwrap();
    t.at_epoch(&by_city, 1);
    assert_eq!(t.report(&by_city, ds[1]), Err(ErrorCode::IneligibleDevice));
    t.chain().run(OWNER, city(ds[1], "berlin")).unwrap();
    assert_eq!(t.report(&by_city, ds[1]), Ok(2));
}

#[test]
fn a_tokenized_devices_reward_goes_to_its_machine_treasury() {
    let mut t = Pools::new();
    let ds = devices(&mut t, 2);
    // The gateway anchors for the machine, whose treasury signs nothing.
    let gateway = IdentityCall::GrantRole {
        device: ds[0],
        account: t.addr(OTHER),
        role: roles::GATEWAY.into(),
        expiry_height: None,
    };
    t.chain().run(OWNER, gateway).unwrap();
    let tokenize = OwnershipCall::Tokenize {
        devices: vec![ds[0]],
        symbol: "WT1".into(),
        name: "Wind turbine".into(),
        supply: 1_000,
        retained: 1_000,
        reserve_bps: 0,
        governance: None,
    };
    let events = t.chain().run(OWNER, tokenize).unwrap();
    let (machine, shares) = events
        .iter()
        .find_map(|e| match e {
            Event::Ownership(OwnershipEvent::Tokenized { machine, shares, .. }) => {
                Some((*machine, *shares))
            }
            _ => None,
        })
        .unwrap();
    let vault = treasury(machine);
    let p = t.create(readings_pool(1, makers(&t), 100)).unwrap();
    t.enroll(&p, ds[0]).unwrap();
    t.enroll(&p, ds[1]).unwrap();
    t.anchor(OTHER, 1, ds[0], 3);
    t.anchor(OWNER, 2, ds[1], 1);
    t.at_epoch(&p, 1);
    t.report(&p, ds[0]).unwrap();
    t.report(&p, ds[1]).unwrap();
    t.at(p.claims_open(0));
    let before = t.f.chain.balance(&vault);
    assert_eq!(t.claim(&p, 0, ds[0]), Ok((vault, 750)));
    assert_eq!(t.f.chain.balance(&vault) - before, 750);
    assert_eq!(t.claim(&p, 0, ds[1]), Ok((t.addr(OWNER), 250)));

    // The machine's shares cannot fund a pool; they move only with their revenue.
    let in_shares = RewardsCall::CreatePool {
        asset: Some(shares),
        per_epoch: 1,
        epochs: 1,
        epoch_blocks: 1,
        work: Work::LeasesDelivered {},
        eligibility: makers(&t),
        min_reputation: 0,
        max_work_per_epoch: 1,
    };
    assert_eq!(t.chain().run(OWNER, in_shares), Err(ErrorCode::UnrewardableAsset));
}

/// Sells `leases` leases of `device` (OWNER's, with provider stake) to as many consumers and
/// has each confirm delivery: the device's delivered count grows by `leases`.
fn deliver(t: &mut Pools, device: DeviceId, leases: usize) {
    let stake: market::state::Stake =
        t.f.chain
            .state
            .get(&market::keys::stake(StakeKind::Provider, &t.addr(OWNER)))
            .unwrap_or_default();
    if stake.bonded == 0 {
        let stake = MarketCall::Stake { kind: StakeKind::Provider, amount: 10_000_000 };
        t.chain().run(OWNER, stake).unwrap();
    }
    let now = t.f.chain.now_ms;
    let offer = MarketCall::Offer {
        device,
        kind: ResourceKind::Data,
        region: "u33d".into(),
        capacity: 10,
        floor_price: 100,
        delivery: Delivery::Receipt,
        expiry_ms: now + 3_600_000,
    };
    t.chain().run(OWNER, offer).unwrap();
    let consumers = [RIVAL, BUYER, FUNDER, OTHER];
    for consumer in &consumers[..leases] {
        let intent = MarketCall::Intent {
            region: "u33d".into(),
            components: vec![Component { kind: ResourceKind::Data, quantity: 1 }],
            units: 1,
            max_price: 100,
            deadline_ms: now + 60_000,
            min_reputation: 0,
            partial: false,
        };
        t.chain().run(*consumer, intent).unwrap();
    }
    let first: market::state::Counters =
        t.f.chain.state.get(&market::keys::counters()).unwrap_or_default();
    // The batch clears in the first block of the next one.
    let interval = t.f.chain.genesis.params.market.auction_interval_blocks;
    t.at((t.f.chain.height / interval + 1) * interval + 1);
    let after: market::state::Counters = t.f.chain.state.get(&market::keys::counters()).unwrap();
    assert_eq!(after.next_lease - first.next_lease, leases as u64);
    for lease in first.next_lease..after.next_lease {
        let l: market::state::Lease = t.f.chain.state.get(&market::keys::lease(lease)).unwrap();
        let consumer = (0..8).find(|i| t.addr(*i) == l.consumer).unwrap();
        t.chain().run(consumer, MarketCall::Confirm { lease }).unwrap();
    }
}

#[test]
fn a_pool_of_delivered_leases_counts_deliveries_since_enrollment() {
    let mut t = Pools::new();
    let ds = devices(&mut t, 2);
    deliver(&mut t, ds[0], 1);
    assert_eq!(t.f.device(&ds[0]).reputation.good, 1);
    let call = RewardsCall::CreatePool {
        asset: None,
        per_epoch: PER_EPOCH,
        epochs: 2,
        epoch_blocks: 60,
        work: Work::LeasesDelivered {},
        eligibility: makers(&t),
        min_reputation: 0,
        max_work_per_epoch: 10,
    };
    let p = t.create(call).unwrap();
    t.enroll(&p, ds[0]).unwrap();
    t.enroll(&p, ds[1]).unwrap();
    assert_eq!(t.enrollment(&p, &ds[0]).last_counter, 1, "the delivery before does not count");
    deliver(&mut t, ds[0], 3);
    deliver(&mut t, ds[1], 1);
    t.at_epoch(&p, 1);
    assert_eq!(t.report(&p, ds[0]), Ok(3));
    assert_eq!(t.report(&p, ds[1]), Ok(1));
    t.at(p.claims_open(0));
    assert_eq!(t.claim(&p, 0, ds[0]).unwrap().1, 750);
    assert_eq!(t.claim(&p, 0, ds[1]).unwrap().1, 250);
}

#[test]
fn an_asset_pool_pays_and_refunds_in_its_asset() {
    let mut t = Pools::new();
    let ds = devices(&mut t, 1);
    let asset = t.chain().create_asset(FUNDER, 10_000);
    let funder = t.addr(FUNDER);
    let call = RewardsCall::CreatePool {
        asset: Some(asset),
        per_epoch: 500,
        epochs: 2,
        epoch_blocks: EB,
        work: Work::AnchoredReadings { stream: 1 },
        eligibility: makers(&t),
        min_reputation: 0,
        max_work_per_epoch: 100,
    };
    let native = t.escrow();
    let p = t.create(call).unwrap();
    assert_eq!(t.escrow(), native, "no native tokens move");
    assert_eq!(t.asset_balance(asset, &escrow_account()), 1_000);
    t.enroll(&p, ds[0]).unwrap();
    t.anchor(OWNER, 1, ds[0], 1);
    t.at_epoch(&p, 1);
    t.report(&p, ds[0]).unwrap();
    t.at(p.claims_open(0));
    assert_eq!(t.claim(&p, 0, ds[0]).unwrap().1, 500);
    assert_eq!(t.asset_balance(asset, &t.addr(OWNER)), 500);
    t.at(p.claim_until);
    assert_eq!(t.close(&p), Ok(500));
    assert_eq!(t.asset_balance(asset, &funder), 9_500);
    assert_eq!(t.asset_balance(asset, &escrow_account()), 0);
    let unknown = RewardsCall::CreatePool {
        asset: Some(asset + 1),
        per_epoch: 1,
        epochs: 1,
        epoch_blocks: 1,
        work: Work::LeasesDelivered {},
        eligibility: makers(&t),
        min_reputation: 0,
        max_work_per_epoch: 1,
    };
    assert_eq!(t.chain().run(FUNDER, unknown), Err(ErrorCode::UnknownAsset));
}

#[test]
fn the_chains_limits_bound_pools_and_their_devices() {
    let mut t = Pools::with(RewardsParams {
        epochs_max: 3,
        epoch_blocks_max: 100,
        devices_per_pool_max: 2,
        claim_window_epochs: 0,
    });
    let ds = devices(&mut t, 3);
    let sized = |epochs, epoch_blocks| RewardsCall::CreatePool {
        asset: None,
        per_epoch: 1,
        epochs,
        epoch_blocks,
        work: Work::AnchoredReadings { stream: 1 },
        eligibility: Eligibility::Devices { devices: ds.clone() },
        min_reputation: 0,
        max_work_per_epoch: 1,
    };
    assert_eq!(t.create(sized(4, 100)), Err(ErrorCode::PoolOutOfBounds));
    assert_eq!(t.create(sized(3, 101)), Err(ErrorCode::PoolOutOfBounds));
    let p = t.create(sized(3, 100)).unwrap();
    assert_eq!(p.claim_until, p.start + 5 * 100, "no claim window beyond the usual epoch");
    t.enroll(&p, ds[0]).unwrap();
    t.enroll(&p, ds[1]).unwrap();
    assert_eq!(t.enroll(&p, ds[2]), Err(ErrorCode::PoolFull));
    // One-block epochs: every block is an epoch.
    let quick = t.create(sized(1, 1)).unwrap();
    t.enroll(&quick, ds[0]).unwrap();
    assert_eq!(t.enroll(&quick, ds[1]), Err(ErrorCode::EnrollmentClosed));
    t.anchor(OWNER, 1, ds[0], 2);
    assert_eq!(t.report(&quick, ds[0]), Err(ErrorCode::ReportingClosed));
}

#[test]
fn boundary_values_of_a_pool() {
    let mut t = Pools::with(RewardsParams::default());
    let ds = devices(&mut t, 3);
    let call = |per_epoch, epochs, epoch_blocks, max_work| RewardsCall::CreatePool {
        asset: None,
        per_epoch,
        epochs,
        epoch_blocks,
        work: Work::AnchoredReadings { stream: 1 },
        eligibility: Eligibility::Devices { devices: ds.clone() },
        min_reputation: 0,
        max_work_per_epoch: max_work,
    };
    let funds = crate::testing::START;
    assert_eq!(t.create(call(u64::MAX, 1, 1, 1)), Err(ErrorCode::InsufficientFunds));
    assert_eq!(t.create(call(funds, 2, 1, 1)), Err(ErrorCode::InsufficientFunds));
    // The longest pool the protocol allows ends far inside a u64.
    let longest = t.create(call(1, REWARD_EPOCHS_MAX, REWARD_EPOCH_BLOCKS_MAX, 1)).unwrap();
    let last = u64::from(REWARD_EPOCHS_MAX) + 2 + 10;
    assert_eq!(longest.claim_until, longest.start + last * REWARD_EPOCH_BLOCKS_MAX);
    assert_eq!(t.pool(longest.id).funded, u64::from(REWARD_EPOCHS_MAX));

    // One unit per epoch over three equal devices: everyone's share rounds to nothing, the
    // claims are recorded, and the unit goes back at the close.
    let tiny = t.create(call(1, 1, EB, u64::MAX >> 30)).unwrap();
    for (serial, d) in (1..).zip(&ds) {
        t.enroll(&tiny, *d).unwrap();
        t.anchor(OWNER, serial, *d, 1);
    }
    t.at_epoch(&tiny, 1);
    for d in &ds {
        assert_eq!(t.report(&tiny, *d), Ok(1));
    }
    t.at(tiny.claims_open(0));
    for d in &ds {
        assert_eq!(t.claim(&tiny, 0, *d).unwrap().1, 0);
    }
    assert_eq!(t.claim(&tiny, 0, ds[0]), Err(ErrorCode::RewardClaimed));
    t.at(tiny.claim_until);
    assert_eq!(t.close(&tiny), Ok(1));
    assert_eq!(
        t.chain().run(OTHER, RewardsCall::Claim { pool: tiny.id, epoch: u32::MAX, device: ds[0] }),
        Err(ErrorCode::PoolClosed)
    );
    let open = t.pool(longest.id);
    assert_eq!(
        t.chain().run(OTHER, RewardsCall::Claim { pool: open.id, epoch: u32::MAX, device: ds[0] }),
        Err(ErrorCode::UnknownEpoch)
    );
    assert_eq!(
        t.chain().run(OTHER, RewardsCall::Claim { pool: open.id, epoch: 0, device: ds[0] }),
        Err(ErrorCode::ClaimTooEarly)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Whatever the devices' work and the cap, each is paid its floor share of its credited
    /// work, and what was paid plus what the close returns is exactly the funding.
    #[test]
    fn payouts_are_floor_shares_and_the_close_returns_exactly_the_rest(
        readings in proptest::collection::vec((1u32..60, 0u32..60), 3),
        cap in 1u64..50,
        per_epoch in 1u64..100_000,
    ) {
        let mut t = Pools::new();
        let ds = devices(&mut t, 3);
        let call = RewardsCall::CreatePool {
            asset: None,
            per_epoch,
            epochs: 2,
            epoch_blocks: EB,
            work: Work::AnchoredReadings { stream: 1 },
            eligibility: makers(&t),
            min_reputation: 0,
            max_work_per_epoch: cap,
        };
        let p = t.create(call).unwrap();
        for (serial, (d, (first, _))) in (1..).zip(ds.iter().zip(&readings)) {
            t.enroll(&p, *d).unwrap();
            t.anchor(OWNER, serial, *d, *first);
        }
        t.at_epoch(&p, 1);
        for (serial, (d, (_, second))) in (1..).zip(ds.iter().zip(&readings)) {
            t.report(&p, *d).unwrap();
            if *second > 0 {
                t.anchor(OWNER, serial, *d, *second);
            }
        }
        t.at_epoch(&p, 2);
        for (d, (_, second)) in ds.iter().zip(&readings) {
            let reported = t.report(&p, *d);
            prop_assert_eq!(reported.is_ok(), *second > 0);
        }
        t.at(p.claims_open(1));
        let mut paid = 0;
        for epoch in 0..2 {
            let total = t.epoch_total(&p, epoch).total_work;
            for (d, (first, second)) in ds.iter().zip(&readings) {
                let work = u64::from(if epoch == 0 { *first } else { *second }).min(cap);
                match t.claim(&p, epoch, *d) {
                    Ok((_, amount)) => {
                        prop_assert_eq!(
                            u128::from(amount),
                            u128::from(per_epoch) * u128::from(work) / u128::from(total)
                        );
                        paid += amount;
                    }
                    Err(code) => {
                        prop_assert_eq!(code, ErrorCode::NoCreditedWork);
                        prop_assert_eq!(work, 0);
                    }
                }
            }
        }
        prop_assert!(paid <= 2 * per_epoch);
        t.at(p.claim_until);
        prop_assert_eq!(t.close(&p), Ok(2 * per_epoch - paid));
    }
}
