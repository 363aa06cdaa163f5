//! Machines as investable assets end to end through the API of a real node: a maker's wind
//! turbine tokenized into 1,000 shares, an offering that raises its minimum from three
//! investors, lease payments landing in the treasury and claimed by holders in proportion
//! across a share transfer, a holder proposal raising the turbine's floor price that executes
//! only after its timelock, a second offering that misses its minimum and refunds, a usage
//! right minted, sold and used in its window, and a reward pool paying three devices for
//! anchored readings with a proof of each payout; bad input refused with its code.

mod common;

use common::TestNode;
use commonware_codec::DecodeExt;
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_sdk::{
    Client,
    client::TxStatus,
    device::{DeviceIdentity, numeric},
    verify::verify_bundle,
};
use machina_types::{
    Address, BankCall, Call, Event, Hash, IdentityCall, MarketCall, OwnershipCall,
    data::Eligibility,
    identity::roles,
    market::{Component, Delivery, MarketEvent, ResourceKind, StakeKind, market_id},
    ownership::{Governance, MachineId, OfferingId, OwnershipEvent, treasury},
    rewards::{
        RewardsCall, RewardsEvent, Work, keys as rewards_keys,
        state::{DeviceWork, EpochTotal},
    },
};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const WAIT: Duration = Duration::from_secs(30);
const PRICE: u64 = 1_000;

/// Accounts of the test node.
const MAKER: usize = 0;
const SPONSOR: usize = 1;
const A: usize = 2;
const B: usize = 3;
const C: usize = 4;
const CONSUMER: usize = 5;
const E: usize = 6;

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Governance in blocks of 50 ms: a one-second vote, a half-second timelock.
const RULES: Governance = Governance {
    threshold_bps: 100,
    deposit: 10_000,
    quorum_bps: 2_000,
    approval_bps: 5_001,
    voting_blocks: 20,
    timelock_blocks: 10,
    execution_blocks: 2_000,
};

struct World {
    node: TestNode,
    maker_key: PrivateKey,
    serial: u64,
}

impl World {
    fn new() -> Self {
        let node = TestNode::start_custom(
            |params| {
                params.market.auction_interval_blocks = 10;
                params.ownership.governance = RULES;
            },
            |config| config.gateway.anchor_interval_ms = 200,
        );
        let maker_key = PrivateKey::from_seed(900);
        let register = IdentityCall::RegisterMaker {
            name: "Windworks".into(),
            maker_key: Address::of(&maker_key.public_key()),
            bond: node.genesis.params.identity.min_maker_bond,
        };
        node.client.execute(&node.accounts[MAKER], vec![register.into()], WAIT).unwrap();
        Self { node, maker_key, serial: 0 }
    }

    fn client(&self) -> &Client {
        &self.node.client
    }

    fn addr(&self, i: usize) -> Address {
        self.node.addr(i)
    }

    fn balance(&self, address: &Address) -> u64 {
        self.client().account(address).unwrap().balance
    }

    fn height(&self) -> u64 {
        self.client().status().unwrap().height
    }

    /// Runs `call` from account `i` and waits for its outcome.
    fn run(&self, i: usize, call: impl Into<Call>) -> TxStatus {
        let (_, hash) = self.client().send(&self.node.accounts[i], vec![call.into()]).unwrap();
        self.client().wait(&hash, WAIT).unwrap()
    }

    /// Runs `call`, which must succeed; returns its events.
    fn ok(&self, i: usize, call: impl Into<Call>) -> Vec<Event> {
        let status = self.run(i, call);
        assert_eq!(status.status.to_string(), "finalized", "{:?}", status.error);
        status.receipt.map(|r| r.events).unwrap_or_default()
    }

    /// Runs `call`, which must fail with `code` and change nothing it names.
    fn refused(&self, i: usize, call: impl Into<Call>, code: &str) {
        let status = self.run(i, call);
        let error = status.error.as_ref().map(|e| e.code.as_str());
        assert_eq!(error, Some(code), "{status:?}");
    }

    /// A device the maker certifies, onboarded to `owner` (anchorable by the gateway).
    fn device(&mut self, owner: usize, model: &str) -> DeviceIdentity {
        self.serial += 1;
        let device = DeviceIdentity::certify(
            PrivateKey::from_seed(7_000 + self.serial),
            self.addr(MAKER),
            &self.maker_key,
            model,
            &format!("serial-{}", self.serial),
        );
        let gateway = self.client().status().unwrap().gateway.account;
        let key = &self.node.accounts[owner];
        self.client()
            .onboard_devices(key, std::slice::from_ref(&device), Some(gateway), WAIT)
            .unwrap();
        device
    }

    fn tokenize(&self, device: &DeviceIdentity, symbol: &str) -> MachineId {
        let call = OwnershipCall::Tokenize {
            devices: vec![device.id()],
            symbol: symbol.into(),
            name: format!("Wind turbine {symbol}"),
            supply: 1_000,
            retained: 0,
            reserve_bps: 1_000,
            governance: None,
        };
        let events = self.ok(SPONSOR, call);
        events
            .iter()
            .find_map(|e| match e {
                Event::Ownership(OwnershipEvent::Tokenized { machine, .. }) => Some(*machine),
                _ => None,
            })
            .expect("a tokenized event")
    }

    fn offering(&self, machine: MachineId, shares: u64, min_shares: u64, open: u64) -> OfferingId {
        let call = OwnershipCall::CreateOffering {
            machine,
            shares,
            price: PRICE,
            asset: None,
            min_shares,
            buyer_min: 10,
            buyer_max: 300,
            deadline: self.height() + open,
            beneficiary: self.addr(SPONSOR),
            tranches: vec![],
            milestones_by: self.height() + open + 1_000,
        };
        let events = self.ok(SPONSOR, call);
        events
            .iter()
            .find_map(|e| match e {
                Event::Ownership(OwnershipEvent::OfferingCreated { offering, .. }) => {
                    Some(*offering)
                }
                _ => None,
            })
            .expect("an offering event")
    }

    /// Waits until `done` holds (polling the API), or fails with `what`.
    fn until(&self, what: &str, mut done: impl FnMut(&Self) -> bool) {
        let start = Instant::now();
        while !done(self) {
            assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn shares(&self, machine: MachineId, who: usize) -> u64 {
        self.client().holder(machine, &self.addr(who)).unwrap().shares
    }

    fn claimable(&self, machine: MachineId, who: usize) -> u128 {
        self.client().holder(machine, &self.addr(who)).unwrap().claimable
    }

    /// Claims `who`'s revenue; returns the amount paid.
    fn claim(&self, machine: MachineId, who: usize) -> u64 {
        let events = self.ok(who, OwnershipCall::Claim { machine });
        events
            .iter()
            .find_map(|e| match e {
                Event::Ownership(OwnershipEvent::Claimed { amount, .. }) => Some(*amount),
                _ => None,
            })
            .expect("a claim event")
    }

    /// An intent of the consumer for `units` of the turbine's energy; waits for its lease,
    /// confirms delivery and returns what the lease paid.
    fn sell_energy(&self, units: u64) -> u64 {
        let intent = MarketCall::Intent {
            region: "u33d".into(),
            components: vec![Component { kind: ResourceKind::Energy, quantity: 1 }],
            units,
            max_price: 150,
            deadline_ms: now_ms() + 60_000,
            min_reputation: 0,
            partial: false,
        };
        let events = self.ok(CONSUMER, intent);
        let intent = events
            .iter()
            .find_map(|e| match e {
                Event::Market(MarketEvent::IntentPosted { intent, .. }) => Some(*intent),
                _ => None,
            })
            .unwrap();
        let mut lease = None;
        self.until("the intent's lease", |w| {
            let leases = w.client().leases(&w.addr(CONSUMER), 100).unwrap().leases;
            lease = leases.into_iter().find(|l| l.intent == intent);
            lease.is_some()
        });
        let lease = lease.unwrap();
        let events = self.ok(CONSUMER, MarketCall::Confirm { lease: lease.id });
        events
            .iter()
            .find_map(|e| match e {
                Event::Market(MarketEvent::Delivered { paid, .. }) => Some(*paid),
                _ => None,
            })
            .expect("a delivery event")
    }

    /// Proposes `calls` for `machine` from `who`; returns the proposal.
    fn propose(&self, machine: MachineId, who: usize, calls: Vec<Call>) -> u64 {
        let call = OwnershipCall::Propose { machine, calls, description: Hash::of(&[b"why"]) };
        let events = self.ok(who, call);
        events
            .iter()
            .find_map(|e| match e {
                Event::Ownership(OwnershipEvent::Proposed { proposal, .. }) => Some(*proposal),
                _ => None,
            })
            .unwrap()
    }
}

#[test]
fn a_wind_turbine_is_financed_earns_pays_its_holders_and_is_governed_by_them() {
    let mut w = World::new();
    let turbine = w.device(SPONSOR, "turbine");
    // The sponsor operates the turbine's sales under a seller role, granted before the
    // tokenization (grants survive it).
    let grant = IdentityCall::GrantRole {
        device: turbine.id(),
        account: w.addr(SPONSOR),
        role: roles::SELLER.into(),
        expiry_height: None,
    };
    w.ok(SPONSOR, grant);
    w.ok(SPONSOR, MarketCall::Stake { kind: StakeKind::Provider, amount: 10_000_000 });
    let machine = w.tokenize(&turbine, "WT1");
    let view = w.client().machine(machine).unwrap();
    assert_eq!(view.machine.treasury, treasury(machine));
    assert_eq!(view.unsold, 1_000);
    let owner = w.client().device_machine(&turbine.id()).unwrap();
    assert_eq!(owner.machine, Some(machine));
    let to = w.addr(E);
    w.refused(
        SPONSOR,
        IdentityCall::TransferDevice { device: turbine.id(), to },
        "not_device_owner",
    );

    // The offering: 450 shares at 1,000, at least 300 sold, at most 300 per buyer; it
    // closes when sold out.
    let offering = w.offering(machine, 450, 300, 2_000);
    let sponsor_before = w.balance(&w.addr(SPONSOR));
    w.ok(A, OwnershipCall::Buy { offering, shares: 200 });
    w.refused(A, OwnershipCall::Buy { offering, shares: 101 }, "purchase_out_of_bounds");
    w.ok(B, OwnershipCall::Buy { offering, shares: 150 });
    w.ok(C, OwnershipCall::Buy { offering, shares: 100 });
    w.until("the offering's close", |w| {
        w.client().offering(offering).unwrap().status
            == machina_app::modules::ownership::state::OfferingStatus::Succeeded
    });
    assert_eq!((w.shares(machine, A), w.shares(machine, B), w.shares(machine, C)), (200, 150, 100));
    assert_eq!(w.balance(&w.addr(SPONSOR)), sponsor_before + 450 * PRICE);
    assert_eq!(w.client().machine(machine).unwrap().unsold, 550);
    w.refused(E, OwnershipCall::Buy { offering, shares: 10 }, "offering_closed");

    // The turbine sells energy; the lease's payment lands in the treasury.
    let offer = MarketCall::Offer {
        device: turbine.id(),
        kind: ResourceKind::Energy,
        region: "u33d".into(),
        capacity: 1_000,
        floor_price: 100,
        delivery: Delivery::Receipt,
        expiry_ms: now_ms() + 3_600_000,
    };
    let events = w.ok(SPONSOR, offer);
    let Some(Event::Market(MarketEvent::OfferPosted { offer, .. })) = events.first() else {
        panic!("{events:?}")
    };
    let offer = *offer;
    let first = w.sell_energy(40);
    assert!(first > 0);
    assert_eq!(w.client().machine(machine).unwrap().treasury_balance, first);

    // Holders are owed in proportion (10% of revenue to the reserve), before and after A
    // sells half of its shares to E in the middle.
    // Each holding is owed exactly its shares' part, less a fraction of a unit it keeps.
    let (d1, supply) = (u128::from(first - first / 10), 1_000);
    assert_eq!(w.claimable(machine, A), d1 * 200 / supply);
    let a_first = u128::from(w.claim(machine, A));
    assert_eq!(a_first, d1 * 200 / supply);
    let give = BankCall::TransferAsset {
        asset: w.client().machine(machine).unwrap().machine.shares,
        to: w.addr(E),
        amount: 100,
    };
    w.ok(A, give);
    let second = w.sell_energy(30);
    let d2 = u128::from(second - second / 10);
    assert_eq!(u128::from(w.claim(machine, A)), (d1 * 200 + d2 * 100) / supply - a_first);
    assert_eq!(u128::from(w.claim(machine, E)), d2 * 100 / supply, "E earns from its purchase on");
    assert_eq!(u128::from(w.claim(machine, B)), (d1 + d2) * 150 / supply);
    w.refused(CONSUMER, OwnershipCall::Claim { machine }, "nothing_to_claim");

    // A holder proposal raises the floor price; it executes only after its timelock.
    let amend = MarketCall::AmendOffer { offer, floor_price: 120, capacity: 1_000 };
    w.refused(
        CONSUMER,
        OwnershipCall::Propose {
            machine,
            calls: vec![amend.clone().into()],
            description: Hash::of(&[b"why"]),
        },
        "below_threshold",
    );
    // The same proposal mints a usage right to the treasury, listed for sale: 5 units of the
    // turbine's energy in the next minute.
    let mint = OwnershipCall::MintRight {
        device: turbine.id(),
        kind: ResourceKind::Energy,
        starts_ms: now_ms(),
        ends_ms: now_ms() + 60_000,
        units: 5,
        to: treasury(machine),
        price: Some(2_000),
    };
    let proposal = w.propose(machine, B, vec![amend.into(), mint.into()]);
    w.refused(CONSUMER, OwnershipCall::Vote { proposal, approve: true }, "no_voting_shares");
    for voter in [A, B, C] {
        w.ok(voter, OwnershipCall::Vote { proposal, approve: true });
    }
    w.refused(B, OwnershipCall::Vote { proposal, approve: true }, "already_voted");
    let view = w.client().proposal(proposal).unwrap();
    assert_eq!(view.proposal.yes, 100 + 150 + 100, "A's vote counts the shares it held then");
    // Executions are refused while voting and during the timelock, by the height of the
    // block that includes them; anyone executes after.
    let executed = loop {
        let status = w.run(E, OwnershipCall::Execute { proposal });
        let height = status.receipt.as_ref().expect("included").height;
        let code = status.error.as_ref().map(|e| e.code.as_str());
        if height <= view.proposal.end {
            assert_eq!(code, Some("voting_open"), "at height {height}");
        } else if height < view.executable_from {
            assert_eq!(code, Some("timelock_active"), "at height {height}");
        } else {
            assert_eq!(code, None, "at height {height}: {status:?}");
            break status.receipt.expect("included").events;
        }
    };
    assert_eq!(w.client().offer(offer).unwrap().floor_price, 120);
    w.refused(E, OwnershipCall::Execute { proposal }, "proposal_finished");

    // The right is sold (its price is the machine's revenue) and used in its window.
    let right = executed
        .iter()
        .find_map(|e| match e {
            Event::Ownership(OwnershipEvent::RightMinted { right, .. }) => Some(*right),
            _ => None,
        })
        .expect("the proposal minted the right");
    w.refused(C, OwnershipCall::BuyRight { right, max_price: 1_999 }, "not_for_sale");
    let reserve_before = w.client().machine(machine).unwrap().treasury_balance;
    w.ok(C, OwnershipCall::BuyRight { right, max_price: 2_000 });
    assert_eq!(w.client().machine(machine).unwrap().treasury_balance, reserve_before + 2_000);
    w.refused(A, OwnershipCall::UseRight { right, units: 1 }, "not_owner");
    let events = w.ok(C, OwnershipCall::UseRight { right, units: 2 });
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Ownership(OwnershipEvent::RightUsed { units: 2, .. })))
    );
    w.refused(C, OwnershipCall::UseRight { right, units: 4 }, "right_exhausted");
    // The market keeps the unused units from sale, and its book says so.
    let book = w.client().market_book(&market_id(&ResourceKind::Energy, "u33d")).unwrap();
    let listed = book.offers.iter().find(|o| o.offer.id == offer).expect("the offer");
    assert_eq!(listed.reserved, 3);

    // A second turbine's offering misses its minimum: every buyer is refunded in full.
    let second_turbine = w.device(SPONSOR, "turbine");
    let second_machine = w.tokenize(&second_turbine, "WT2");
    let failing = w.offering(second_machine, 500, 400, 100);
    w.ok(A, OwnershipCall::Buy { offering: failing, shares: 50 });
    w.ok(C, OwnershipCall::Buy { offering: failing, shares: 60 });
    let (a_paid, c_paid) = (w.balance(&w.addr(A)), w.balance(&w.addr(C)));
    w.until("the failed offering's refunds", |w| {
        w.client().offering(failing).unwrap().status
            == machina_app::modules::ownership::state::OfferingStatus::Failed
    });
    assert_eq!(w.balance(&w.addr(A)), a_paid + 50 * PRICE);
    assert_eq!(w.balance(&w.addr(C)), c_paid + 60 * PRICE);
    assert_eq!(w.shares(second_machine, A), 0);
}

fn rewards_event(events: &[Event]) -> Vec<RewardsEvent> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Rewards(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_reward_pool_pays_three_devices_for_anchored_readings_and_each_payout_is_provable() {
    let mut w = World::new();
    let devices: Vec<DeviceIdentity> =
        [SPONSOR, A, B].into_iter().map(|owner| w.device(owner, "anemometer")).collect();
    // The first device is a machine: its reward is its holders' revenue.
    let machine = w.tokenize(&devices[0], "AN1");
    let epoch_blocks = 60;
    let create = RewardsCall::CreatePool {
        asset: None,
        per_epoch: 90_000,
        epochs: 5,
        epoch_blocks,
        work: Work::AnchoredReadings { stream: 1 },
        eligibility: Eligibility::Maker { maker: w.addr(MAKER) },
        min_reputation: 0,
        max_work_per_epoch: 1_000,
    };
    let status = w.run(CONSUMER, create);
    let created = status.receipt.expect("included");
    let [RewardsEvent::PoolCreated { pool, .. }] = rewards_event(&created.events)[..] else {
        panic!("{:?}", created.events)
    };
    let start = created.height + 1;
    let epoch_of = |height: u64| (height - start) / epoch_blocks;
    let each = |call: &dyn Fn(&DeviceIdentity) -> RewardsCall| -> Vec<Call> {
        devices.iter().map(|d| call(d).into()).collect()
    };
    let enrolled = w.client().execute(
        &w.node.accounts[CONSUMER],
        each(&|d| RewardsCall::Enroll { pool, device: d.id() }),
        WAIT,
    );
    let enrolled_at = enrolled.unwrap().receipt.expect("included").height;
    let epoch = epoch_of(enrolled_at);

    // The devices sign 3, 6 and 9 readings; the gateway anchors them.
    for (i, device) in devices.iter().enumerate() {
        for seq in 0..3 * (i as u64 + 1) {
            let reading = device.reading(1, seq, now_ms(), numeric(100 + seq as i64, 1, "m/s"));
            w.client().submit_reading(&reading).unwrap();
        }
    }
    w.until("the readings' anchors", |w| {
        devices
            .iter()
            .enumerate()
            .all(|(i, d)| w.client().stream(&d.id(), 1).unwrap().anchored == 3 * (i as u64 + 1))
    });
    // Reports in the next epoch credit the work to this one; claims open the epoch after.
    w.until("the next epoch", |w| epoch_of(w.height() + 1) > epoch);
    let reported = w.client().execute(
        &w.node.accounts[E],
        each(&|d| RewardsCall::Report { pool, device: d.id() }),
        WAIT,
    );
    // (On a slow machine the reports may land an epoch later: they credit the one before.)
    let epoch = epoch_of(reported.unwrap().receipt.expect("included").height) - 1;
    w.until("the claims", |w| epoch_of(w.height() + 1) > epoch + 1);
    let treasury_before = w.balance(&treasury(machine));
    let claimed = w
        .client()
        .execute(
            &w.node.accounts[E],
            each(&|d| RewardsCall::Claim { pool, epoch: epoch as u32, device: d.id() }),
            WAIT,
        )
        .unwrap();
    let paid: Vec<(Address, u64, u64)> = rewards_event(&claimed.receipt.expect("included").events)
        .into_iter()
        .filter_map(|e| match e {
            RewardsEvent::Paid { to, amount, work, .. } => Some((to, amount, work)),
            _ => None,
        })
        .collect();
    assert_eq!(
        paid,
        vec![(treasury(machine), 15_000, 3), (w.addr(A), 30_000, 6), (w.addr(B), 45_000, 9),],
        "pro rata to 3, 6 and 9 anchored readings of 18"
    );
    assert_eq!(w.balance(&treasury(machine)), treasury_before + 15_000);

    // Each payout is provable from state against the genesis validators: the device's
    // counted work (paid) and the epoch's total.
    for (device, (_, _, work)) in devices.iter().zip(&paid) {
        let key = rewards_keys::work(pool, epoch as u32, &device.id());
        let bundle = w.client().key_proof(&key).unwrap();
        let verified = verify_bundle(&bundle, &w.node.genesis).unwrap();
        let value = verified.value.expect("the work is in state");
        let counted = DeviceWork::decode(commonware_codec::Copying(value.as_slice())).unwrap();
        assert_eq!(counted, DeviceWork { work: *work, claimed: true });
    }
    let bundle = w.client().key_proof(&rewards_keys::epoch(pool, epoch as u32)).unwrap();
    let value = verify_bundle(&bundle, &w.node.genesis).unwrap().value.unwrap();
    assert_eq!(
        EpochTotal::decode(commonware_codec::Copying(value.as_slice())).unwrap().total_work,
        18
    );
    // Nobody is paid twice.
    let again = RewardsCall::Claim { pool, epoch: epoch as u32, device: devices[1].id() };
    w.refused(E, again, "reward_claimed");
}
