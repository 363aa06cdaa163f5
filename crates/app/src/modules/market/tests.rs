//! The market, end to end on an in-memory chain whose value conservation (escrow, stake,
//! treasury) is checked after every block.

use super::{escrow_account, keys, stake_account, state::*, treasury};
use crate::{
    genesis::{MarketParams, Params},
    modules::identity::{
        self,
        tests::{Fixture, OWNER},
    },
    testing::{CHAIN, Chain},
};
use commonware_cryptography::Signer;
use machina_types::ModuleCall;
use machina_types::{
    Address, DeviceId, ErrorCode, Event, IdentityCall, identity::roles, market::*,
};

/// A second provider.
const RIVAL: usize = 3;
/// Consumers.
const ALICE: usize = 4;
const BOB: usize = 5;
const CAROL: usize = 6;
/// Solvers.
const SOLVER_A: usize = 7;
const SOLVER_B: usize = 8;

const STAKE: u64 = 10_000_000;
/// Blocks per batch: more than any test's setup takes, so orders meet in one batch.
const INTERVAL: u64 = 100;

struct Market {
    f: Fixture,
}

fn compute() -> ResourceKind {
    ResourceKind::Compute
}

impl Market {
    fn new() -> Self {
        Self::with_accounts(9)
    }

    fn with_accounts(accounts: usize) -> Self {
        let params = Params {
            market: MarketParams { auction_interval_blocks: INTERVAL, ..MarketParams::default() },
            ..Params::default()
        };
        let f = Fixture::with_chain(Chain::with_params(accounts, params));
        Self { f }
    }

    fn chain(&mut self) -> &mut Chain {
        &mut self.f.chain
    }

    fn params(&self) -> MarketParams {
        self.f.chain.genesis.params.market.clone()
    }

    fn addr(&self, i: usize) -> Address {
        self.f.chain.addr(i)
    }

    fn balance(&self, i: usize) -> u64 {
        self.f.chain.balance(&self.addr(i))
    }

    /// The protocol fee on a delivered lease of value `escrow` (at least one unit).
    fn fee(&self, escrow: u64) -> u64 {
        (escrow * u64::from(self.params().protocol_fee_bps) / 10_000).max(1)
    }

    /// The deposit every open order holds.
    fn deposit(&self) -> u64 {
        self.params().order_deposit
    }

    /// Onboards device `serial` to `owner` and bonds `owner`'s provider stake (once).
    fn provider(&mut self, serial: u64, owner: usize) -> DeviceId {
        let id = self.f.onboard(serial, owner);
        if self.stake(owner, StakeKind::Provider).bonded == 0 {
            self.chain()
                .run(owner, MarketCall::Stake { kind: StakeKind::Provider, amount: STAKE })
                .unwrap();
        }
        id
    }

    fn stake(&self, i: usize, kind: StakeKind) -> Stake {
        self.f.chain.state.get(&keys::stake(kind, &self.addr(i))).unwrap_or_default()
    }

    fn deadline(&self, in_ms: u64) -> u64 {
        self.f.chain.now_ms + in_ms
    }

    fn offer_call(
        &self,
        device: DeviceId,
        kind: ResourceKind,
        floor: u64,
        capacity: u64,
        delivery: Delivery,
    ) -> MarketCall {
        MarketCall::Offer {
            device,
            kind,
            region: "u33d".into(),
            capacity,
            floor_price: floor,
            delivery,
            expiry_ms: self.deadline(3_600_000),
        }
    }

    fn offer(
        &mut self,
        seller: usize,
        device: DeviceId,
        kind: ResourceKind,
        floor: u64,
        capacity: u64,
        delivery: Delivery,
    ) -> OfferId {
        let call = self.offer_call(device, kind, floor, capacity, delivery);
        let events = self.chain().run(seller, call).unwrap();
        match &events[0] {
            Event::Market(MarketEvent::OfferPosted { offer, .. }) => *offer,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn intent_call(
        &self,
        kind: ResourceKind,
        units: u64,
        max_price: u64,
        partial: bool,
    ) -> MarketCall {
        MarketCall::Intent {
            region: "u33d".into(),
            components: vec![Component { kind, quantity: 1 }],
            units,
            max_price,
            deadline_ms: self.deadline(60_000),
            min_reputation: 0,
            partial,
        }
    }

    fn intent(
        &mut self,
        consumer: usize,
        kind: ResourceKind,
        units: u64,
        max_price: u64,
        partial: bool,
    ) -> IntentId {
        let call = self.intent_call(kind, units, max_price, partial);
        self.post(consumer, call)
    }

    fn post(&mut self, consumer: usize, call: MarketCall) -> IntentId {
        let events = self.chain().run(consumer, call).unwrap();
        match &events[0] {
            Event::Market(MarketEvent::IntentPosted { intent, .. }) => *intent,
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Skips to the end of the batch and runs the block that clears it; returns its market
    /// events.
    fn clear(&mut self) -> Vec<MarketEvent> {
        let chain = self.chain();
        assert!(chain.height % INTERVAL != INTERVAL - 1 || chain.height == 0);
        chain.height = (chain.height / INTERVAL + 1) * INTERVAL - 1;
        chain.block(vec![]);
        self.block_market_events()
    }

    fn block_market_events(&self) -> Vec<MarketEvent> {
        self.f
            .chain
            .block_events
            .iter()
            .filter_map(|e| match e {
                Event::Market(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    fn lease(&self, id: LeaseId) -> Lease {
        self.f.chain.state.get(&keys::lease(id)).unwrap()
    }

    fn intent_record(&self, id: IntentId) -> Intent {
        self.f.chain.state.get(&keys::intent(id)).unwrap()
    }

    fn offer_record(&self, id: OfferId) -> Offer {
        self.f.chain.state.get(&keys::offer(id)).unwrap()
    }

    /// Runs blocks past `ms` of block time, until the leases due then are settled.
    fn pass(&mut self, ms: u64) -> Vec<MarketEvent> {
        self.chain().wait(ms + 1_000);
        let mut events = Vec::new();
        for _ in 0..3 {
            self.chain().block(vec![]);
            events.extend(self.block_market_events());
        }
        events
    }
}

fn cleared(events: &[MarketEvent]) -> Vec<(Amount, u64, LeaseId, u32)> {
    events
        .iter()
        .filter_map(|e| match e {
            MarketEvent::MarketCleared { price, units, first_lease, leases, .. } => {
                Some((*price, *units, *first_lease, *leases))
            }
            _ => None,
        })
        .collect()
}

use machina_types::Amount;

#[test]
fn a_device_trades_from_its_own_account_while_it_is_active() {
    let mut m = Market::new();
    let device = m.f.onboard(1, OWNER);
    let own = m.chain().add_account(identity::tests::Fixture::device_key(1));
    let fund = machina_types::BankCall::Transfer { to: m.addr(own), amount: 2 * STAKE };
    m.chain().run(OWNER, fund).unwrap();
    let call = m.offer_call(device, compute(), 10, 5, Delivery::Receipt);
    assert_eq!(m.chain().run(own, call.clone()), Err(ErrorCode::InsufficientStake));
    m.chain().run(own, MarketCall::Stake { kind: StakeKind::Provider, amount: STAKE }).unwrap();
    m.chain().run(own, call).unwrap();
    m.intent(ALICE, compute(), 2, 10, false);
    let [(10, 2, lease, 1)] = cleared(&m.clear())[..] else { panic!() };
    assert_eq!(m.lease(lease).seller, m.addr(own));
    let before = m.balance(own);
    m.chain().run(ALICE, MarketCall::Confirm { lease }).unwrap();
    assert_eq!(m.balance(own) - before, 20 - m.fee(20));
    // It buys too, until its owner decommissions it.
    m.intent(own, ResourceKind::Storage, 1, 10, false);
    m.chain().run(OWNER, IdentityCall::Decommission { device }).unwrap();
    let intent = m.intent_call(ResourceKind::Storage, 1, 10, false);
    assert_eq!(m.chain().run(own, intent), Err(ErrorCode::DeviceDecommissioned));
}

#[test]
fn offering_needs_provider_stake_and_an_active_device_the_seller_may_sell() {
    let mut m = Market::new();
    let device = m.f.onboard(1, OWNER);
    let call = m.offer_call(device, compute(), 10, 5, Delivery::Receipt);
    assert_eq!(m.chain().run(OWNER, call.clone()), Err(ErrorCode::InsufficientStake));
    m.chain().run(OWNER, MarketCall::Stake { kind: StakeKind::Provider, amount: STAKE }).unwrap();
    assert_eq!(m.chain().run(RIVAL, call.clone()), Err(ErrorCode::Unauthorized), "not the owner");
    let grant = IdentityCall::GrantRole {
        device,
        account: m.addr(RIVAL),
        role: roles::SELLER.into(),
        expiry_height: None,
    };
    m.chain().run(OWNER, grant).unwrap();
    m.chain().run(RIVAL, MarketCall::Stake { kind: StakeKind::Provider, amount: STAKE }).unwrap();
    m.chain().run(RIVAL, call.clone()).unwrap();
    m.chain().run(OWNER, call.clone()).unwrap();

    let expired = match call.clone() {
        MarketCall::Offer { device, kind, region, capacity, floor_price, delivery, .. } => {
            MarketCall::Offer {
                device,
                kind,
                region,
                capacity,
                floor_price,
                delivery,
                expiry_ms: 1,
            }
        }
        _ => unreachable!(),
    };
    assert_eq!(m.chain().run(OWNER, expired), Err(ErrorCode::BadDeadline));
    let unknown_feed = m.offer_call(
        device,
        compute(),
        10,
        5,
        Delivery::Feed { feed: 99, comparison: Comparison::AtMost, threshold: 1 },
    );
    assert_eq!(m.chain().run(OWNER, unknown_feed), Err(ErrorCode::UnknownFeed));

    m.chain().run(OWNER, IdentityCall::Decommission { device }).unwrap();
    assert_eq!(m.chain().run(OWNER, call), Err(ErrorCode::DeviceDecommissioned));
}

#[test]
fn an_intent_escrows_its_maximum_cost_and_cancelling_returns_it() {
    let mut m = Market::new();
    let before = m.balance(ALICE);
    let id = m.intent(ALICE, compute(), 4, 250, true);
    let fee = before - m.balance(ALICE) - 1_000;
    assert_eq!(m.f.chain.balance(&escrow_account()), 1_000);
    assert_eq!(m.intent_record(id).escrow, 1_000);
    assert_eq!(m.chain().run(BOB, MarketCall::Cancel { intent: id }), Err(ErrorCode::Unauthorized));
    let events = m.chain().run(ALICE, MarketCall::Cancel { intent: id }).unwrap();
    assert_eq!(
        events,
        vec![Event::Market(MarketEvent::IntentCancelled { intent: id, refund: 1_000 })]
    );
    assert_eq!(m.f.chain.balance(&escrow_account()), 0);
    assert!(before - m.balance(ALICE) < 2 * fee + 1_000, "the escrow came back");
    assert_eq!(m.intent_record(id).status, OrderStatus::Cancelled);
    assert_eq!(
        m.chain().run(ALICE, MarketCall::Cancel { intent: id }),
        Err(ErrorCode::UnknownIntent)
    );
}

#[test]
fn bad_intents_are_refused_and_change_nothing() {
    let mut m = Market::new();
    let broke = m.intent_call(compute(), 1_000_000, 1_000_000_000, true);
    assert_eq!(m.chain().run(ALICE, broke), Err(ErrorCode::InsufficientFunds));
    let mut past = m.intent_call(compute(), 1, 10, true);
    if let MarketCall::Intent { deadline_ms, .. } = &mut past {
        *deadline_ms = 5;
    }
    assert_eq!(m.chain().run(ALICE, past), Err(ErrorCode::BadDeadline));
    let mut duplicate_kinds = m.intent_call(compute(), 1, 10, true);
    if let MarketCall::Intent { components, .. } = &mut duplicate_kinds {
        components.push(Component { kind: compute(), quantity: 2 });
    }
    assert_eq!(m.chain().run(ALICE, duplicate_kinds), Err(ErrorCode::InvalidCall));
    assert_eq!(m.f.chain.balance(&escrow_account()), 0);
    let counters: Counters = m.f.chain.state.get(&keys::counters()).unwrap_or_default();
    assert_eq!(counters.next_intent, 1, "no intent was recorded");
    // Malformed arguments never reach execution.
    assert_eq!(m.intent_call(compute(), 0, 10, true).check(), Err(ErrorCode::InvalidCall));
    let bad_region = MarketCall::Intent {
        region: "AAA".into(),
        components: vec![Component { kind: compute(), quantity: 1 }],
        units: 1,
        max_price: 1,
        deadline_ms: u64::MAX,
        min_reputation: 0,
        partial: true,
    };
    assert_eq!(bad_region.check(), Err(ErrorCode::InvalidCall));
}

#[test]
fn a_batch_clears_each_market_at_one_price_and_returns_the_savings() {
    let mut m = Market::new();
    let d1 = m.provider(1, OWNER);
    let d2 = m.provider(2, RIVAL);
    let cheap = m.offer(OWNER, d1, compute(), 70, 4, Delivery::Receipt);
    let dear = m.offer(RIVAL, d2, compute(), 90, 4, Delivery::Receipt);
    let a = m.intent(ALICE, compute(), 5, 120, true);
    let b = m.intent(BOB, compute(), 5, 100, true);
    let c = m.intent(CAROL, compute(), 5, 80, true);
    let alice_before = m.balance(ALICE);
    let events = m.clear();
    // Volume 8 is feasible at any price in 90..=100; the middle is 95.
    let [(price, units, first, leases)] = cleared(&events)[..] else { panic!("{events:?}") };
    assert_eq!((price, units), (95, 8));
    // Alice (highest limit) first, from the cheapest offer: 4 from it, 1 from the next.
    let l1 = m.lease(first);
    assert_eq!((l1.intent, l1.offer, l1.units, l1.price, l1.escrow), (a, cheap, 4, 95, 380));
    let l2 = m.lease(first + 1);
    assert_eq!((l2.intent, l2.offer, l2.units), (a, dear, 1));
    let l3 = m.lease(first + 2);
    assert_eq!((l3.intent, l3.offer, l3.units), (b, dear, 3));
    assert_eq!(leases, 3);
    // Alice escrowed 5 * 120 and pays 5 * 95: the difference is back already, and so is
    // the deposit of her filled intent.
    assert_eq!(m.balance(ALICE) - alice_before, 5 * (120 - 95) + m.deposit());
    assert_eq!(m.intent_record(a).status, OrderStatus::Filled);
    let bob = m.intent_record(b);
    assert_eq!((bob.units, bob.filled, bob.escrow, bob.status), (2, 3, 200, OrderStatus::Open));
    assert_eq!(m.intent_record(c).filled, 0, "Carol's limit is below the price");
    assert_eq!(m.offer_record(cheap).status, OrderStatus::Filled);
    assert_eq!(m.offer_record(dear).capacity, 0);
}

#[test]
fn permuting_the_transactions_of_a_batch_gives_the_identical_outcome() {
    let outcome = |order: &[usize]| {
        let mut m = Market::new();
        let d1 = m.provider(1, OWNER);
        let d2 = m.provider(2, RIVAL);
        // Everyone's orders in one block, in the given order.
        let calls = [
            (OWNER, m.offer_call(d1, compute(), 70, 6, Delivery::Receipt)),
            (RIVAL, m.offer_call(d2, compute(), 70, 6, Delivery::Receipt)),
            (ALICE, m.intent_call(compute(), 4, 100, true)),
            (BOB, m.intent_call(compute(), 4, 100, true)),
            (CAROL, m.intent_call(compute(), 4, 100, false)),
        ];
        let txs =
            order.iter().map(|&i| m.chain().tx(calls[i].0, vec![calls[i].1.clone()])).collect();
        m.chain().block(txs);
        m.clear();
        let balances: Vec<u64> =
            [OWNER, RIVAL, ALICE, BOB, CAROL].iter().map(|&i| m.balance(i)).collect();
        let counters: Counters = m.f.chain.state.get(&keys::counters()).unwrap();
        let mut leases: Vec<(Address, Address, u64, u64)> = (1..counters.next_lease)
            .map(|id| m.lease(id))
            .map(|l| (l.consumer, l.seller, l.units, l.price))
            .collect();
        leases.sort();
        (balances, leases)
    };
    let reference = outcome(&[0, 1, 2, 3, 4]);
    assert!(!reference.1.is_empty(), "the batch trades");
    for order in [[4, 3, 2, 1, 0], [2, 0, 4, 1, 3], [1, 4, 0, 3, 2]] {
        assert_eq!(outcome(&order), reference, "order {order:?}");
    }
}

#[test]
fn a_consumer_receipt_pays_the_seller_less_the_protocol_fee() {
    let mut m = Market::new();
    let device = m.provider(1, OWNER);
    m.offer(OWNER, device, ResourceKind::Data, 100, 10, Delivery::Receipt);
    m.intent(ALICE, ResourceKind::Data, 2, 100, false);
    m.intent(BOB, ResourceKind::Data, 3, 100, false);
    let [(_, _, first, 2)] = cleared(&m.clear())[..] else { panic!() };
    let (alices, bobs) = match m.lease(first).consumer == m.addr(ALICE) {
        true => (first, first + 1),
        false => (first + 1, first),
    };
    let value = m.lease(alices).escrow;
    let seller_before = m.balance(OWNER);
    assert_eq!(
        m.chain().run(BOB, MarketCall::Confirm { lease: alices }),
        Err(ErrorCode::Unauthorized)
    );
    m.chain().run(ALICE, MarketCall::Confirm { lease: alices }).unwrap();
    let fee = m.fee(value);
    assert_eq!(m.balance(OWNER) - seller_before, value - fee);
    assert_eq!(m.f.chain.balance(&treasury()), fee);
    assert_eq!(m.lease(alices).status, LeaseStatus::Delivered);
    assert_eq!(
        m.chain().run(ALICE, MarketCall::Confirm { lease: alices }),
        Err(ErrorCode::LeaseSettled)
    );

    // Bob signs a receipt off chain; the seller relays it.
    let bob_key = m.f.chain.keys[BOB].clone();
    let second = bobs;
    let signature = bob_key.sign(RECEIPT_NAMESPACE, &receipt_message(CHAIN, second));
    let forged = m.f.chain.keys[CAROL].sign(RECEIPT_NAMESPACE, &receipt_message(CHAIN, second));
    let deliver = |signature| MarketCall::Deliver {
        lease: second,
        proof: DeliveryProof::ConsumerReceipt { signature },
    };
    assert_eq!(m.chain().run(OWNER, deliver(forged)), Err(ErrorCode::BadDeliveryProof));
    m.chain().run(OWNER, deliver(signature)).unwrap();
    assert_eq!(m.lease(second).status, LeaseStatus::Delivered);
    let device = m.f.device(&device);
    assert_eq!(device.reputation.good, 2);
}

#[test]
fn a_lease_past_its_deadline_refunds_the_consumer_and_slashes_the_seller() {
    let mut m = Market::new();
    let device = m.provider(1, OWNER);
    m.offer(OWNER, device, compute(), 1_000, 10, Delivery::Receipt);
    m.intent(ALICE, compute(), 4, 1_000, false);
    let [(_, _, lease, 1)] = cleared(&m.clear())[..] else { panic!() };
    let alice_before = m.balance(ALICE);
    let events = m.pass(60_000);
    let slashed = 4_000 * u64::from(m.params().slash_bps) / 10_000;
    assert!(
        events.contains(&MarketEvent::Refunded { lease, refund: 4_000, slashed }),
        "{events:?}"
    );
    assert_eq!(m.balance(ALICE) - alice_before, 4_000);
    assert_eq!(m.stake(OWNER, StakeKind::Provider).bonded, STAKE - slashed);
    assert_eq!(m.f.chain.balance(&treasury()), slashed);
    assert_eq!(m.lease(lease).status, LeaseStatus::Refunded);
    assert_eq!(m.f.device(&device).reputation.bad, 1);
    assert_eq!(m.chain().run(ALICE, MarketCall::Confirm { lease }), Err(ErrorCode::LeaseSettled));
}

#[test]
fn an_actuation_is_paid_on_the_devices_signed_acknowledgement() {
    let mut m = Market::new();
    let lock = m.provider(1, OWNER);
    let unlock = ResourceKind::Actuation { command: "unlock".into() };
    m.offer(OWNER, lock, unlock.clone(), 50, 1, Delivery::DeviceAck);
    m.intent(ALICE, unlock, 1, 80, false);
    let [(price, 1, lease, 1)] = cleared(&m.clear())[..] else { panic!() };
    assert_eq!(price, 65);
    let lock_key = Fixture::device_key(1);
    let wrong = lock_key.sign(ACK_NAMESPACE, &ack_message(CHAIN, lease, "lock"));
    let deliver =
        |signature| MarketCall::Deliver { lease, proof: DeliveryProof::DeviceAck { signature } };
    assert_eq!(m.chain().run(BOB, deliver(wrong)), Err(ErrorCode::BadDeliveryProof));
    assert_eq!(m.chain().run(OWNER, MarketCall::Claim { lease }), Err(ErrorCode::WrongDelivery));
    let ack = lock_key.sign(ACK_NAMESPACE, &ack_message(CHAIN, lease, "unlock"));
    let seller_before = m.balance(OWNER);
    m.chain().run(BOB, deliver(ack)).unwrap();
    assert_eq!(m.balance(OWNER) - seller_before, 65 - m.fee(65));
}

#[test]
fn a_claimed_delivery_pays_after_the_window_unless_the_consumer_disputes() {
    let mut m = Market::new();
    let device = m.provider(1, OWNER);
    m.offer(OWNER, device, ResourceKind::Storage, 10, 10, Delivery::Receipt);
    m.intent(ALICE, ResourceKind::Storage, 1, 10, false);
    m.intent(BOB, ResourceKind::Storage, 1, 10, false);
    let [(_, _, first, 2)] = cleared(&m.clear())[..] else { panic!() };
    let (undisputed, disputed) = if m.lease(first).consumer == m.addr(ALICE) {
        (first, first + 1)
    } else {
        (first + 1, first)
    };
    assert_eq!(
        m.chain().run(ALICE, MarketCall::Claim { lease: undisputed }),
        Err(ErrorCode::Unauthorized)
    );
    m.chain().run(OWNER, MarketCall::Claim { lease: undisputed }).unwrap();
    m.chain().run(OWNER, MarketCall::Claim { lease: disputed }).unwrap();
    assert_eq!(
        m.chain().run(ALICE, MarketCall::Dispute { lease: disputed }),
        Err(ErrorCode::Unauthorized)
    );
    let bob_before = m.balance(BOB);
    m.chain().run(BOB, MarketCall::Dispute { lease: disputed }).unwrap();
    assert_eq!(m.lease(disputed).status, LeaseStatus::Refunded);
    assert!(m.balance(BOB) + 1_000 > bob_before + 10, "refunded (less the fee)");
    assert_eq!(
        m.stake(OWNER, StakeKind::Provider).bonded,
        STAKE,
        "a dispute without evidence slashes nobody"
    );
    let events = m.pass(m.params().dispute_window_ms);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, MarketEvent::Delivered { lease, .. } if *lease == undisputed))
    );
    assert_eq!(
        m.chain().run(ALICE, MarketCall::Dispute { lease: undisputed }),
        Err(ErrorCode::LeaseSettled)
    );
}

#[test]
fn a_feed_condition_decides_delivery_at_the_deadline_and_settles_disputed_claims() {
    use crate::modules::data::{
        self,
        state::{Feed, FeedValue},
    };
    let mut m = Market::new();
    let cooler = m.provider(1, OWNER);
    m.chain()
        .run(
            OWNER,
            machina_types::DataCall::CreateFeed {
                name: "warehouse".into(),
                stream: 1,
                eligibility: machina_types::data::Eligibility::Devices { devices: vec![cooler] },
                min_sources: 1,
                max_staleness_ms: 3_600_000,
                unit: "C".into(),
                decimals: 1,
            },
        )
        .unwrap();
    let feed_id = 1;
    let chill = Delivery::Feed { feed: feed_id, comparison: Comparison::AtMost, threshold: 180 };
    m.offer(OWNER, cooler, ResourceKind::Energy, 10, 10, chill);
    // Alice's and Bob's deadlines are in 60 s, Carol's in 120 s.
    m.intent(ALICE, ResourceKind::Energy, 1, 10, false);
    m.intent(BOB, ResourceKind::Energy, 1, 10, false);
    let mut call = m.intent_call(ResourceKind::Energy, 1, 10, false);
    if let MarketCall::Intent { deadline_ms, .. } = &mut call {
        *deadline_ms = m.deadline(120_000);
    }
    m.post(CAROL, call);
    let [(_, _, first, 3)] = cleared(&m.clear())[..] else { panic!() };
    let lease_of = |m: &Market, who: usize| {
        (first..first + 3).find(|id| m.lease(*id).consumer == m.addr(who)).unwrap()
    };
    let (alice, bob, carol) = (lease_of(&m, ALICE), lease_of(&m, BOB), lease_of(&m, CAROL));
    let set_feed = |m: &mut Market, value: i64| {
        let mut feed: Feed = m.f.chain.state.get(&data::keys::feed(feed_id)).unwrap();
        feed.value = Some(FeedValue {
            value,
            sources: 1,
            oldest_ms: m.f.chain.now_ms,
            height: m.f.chain.height,
        });
        let mut writes = crate::state::Writes::new();
        writes.insert(data::keys::feed(feed_id), Some(crate::state::encode_value(&feed)));
        m.f.chain.state.apply(&writes);
    };
    // The feed reads 21.0 C: a claim now is refused.
    set_feed(&mut m, 210);
    assert_eq!(
        m.chain().run(OWNER, MarketCall::Claim { lease: alice }),
        Err(ErrorCode::ConditionUnmet)
    );
    // At 17.5 C the seller claims all three; Bob and Carol dispute.
    set_feed(&mut m, 175);
    for lease in [alice, bob, carol] {
        m.chain().run(OWNER, MarketCall::Claim { lease }).unwrap();
    }
    for (who, lease) in [(BOB, bob), (CAROL, carol)] {
        m.chain().run(who, MarketCall::Dispute { lease }).unwrap();
        assert_eq!(m.lease(lease).status, LeaseStatus::Disputed);
    }
    // The undisputed claim pays when the window closes; the disputed ones wait for the feed.
    let events = m.pass(m.params().dispute_window_ms);
    assert!(
        events.iter().any(|e| matches!(e, MarketEvent::Delivered { lease, .. } if *lease == alice)),
        "{events:?}"
    );
    assert_eq!(m.lease(bob).status, LeaseStatus::Disputed);
    // Back at 21.0 C at Bob's deadline: his lease is refunded and the seller slashed.
    set_feed(&mut m, 210);
    let staked = m.stake(OWNER, StakeKind::Provider).bonded;
    let events = m.pass(30_000);
    assert!(
        events.iter().any(|e| matches!(e, MarketEvent::Refunded { lease, slashed, .. } if *lease == bob && *slashed > 0)),
        "{events:?}"
    );
    assert!(m.stake(OWNER, StakeKind::Provider).bonded < staked);
    assert_eq!(m.lease(carol).status, LeaseStatus::Disputed);
    // At 17.0 C at Carol's deadline the feed holds: the seller is paid despite the dispute.
    set_feed(&mut m, 170);
    let seller_before = m.balance(OWNER);
    let events = m.pass(60_000);
    assert!(
        events.iter().any(|e| matches!(e, MarketEvent::Delivered { lease, .. } if *lease == carol)),
        "{events:?}"
    );
    assert!(m.balance(OWNER) > seller_before);
}

/// Two offers of 5 units and three indivisible intents in one market, for the solver tests.
/// The built-in clearing serves the highest limit first (6 units: surplus 6 * 40) and then
/// neither 5-unit intent fits; serving the two 5-unit intents instead trades all 10 units
/// (surplus 10 * 35).
struct SolverMarket {
    o1: OfferId,
    o2: OfferId,
    big: IntentId,
    b1: IntentId,
    b2: IntentId,
}

fn solver_market(m: &mut Market) -> SolverMarket {
    let d1 = m.provider(1, OWNER);
    let d2 = m.provider(2, RIVAL);
    let o1 = m.offer(OWNER, d1, compute(), 10, 5, Delivery::Receipt);
    let o2 = m.offer(RIVAL, d2, compute(), 10, 5, Delivery::Receipt);
    let big = m.intent(ALICE, compute(), 6, 50, false);
    let b1 = m.intent(BOB, compute(), 5, 45, false);
    let b2 = m.intent(CAROL, compute(), 5, 45, false);
    for solver in [SOLVER_A, SOLVER_B] {
        m.chain()
            .run(solver, MarketCall::Stake { kind: StakeKind::Solver, amount: STAKE })
            .unwrap();
    }
    SolverMarket { o1, o2, big, b1, b2 }
}

fn solve(m: &Market, price: u64, fills: Vec<Fill>) -> MarketCall {
    let batch = m.f.chain.height / INTERVAL;
    MarketCall::Solve {
        batch,
        prices: vec![MarketPrice { market: market_id(&compute(), "u33d"), price }],
        fills,
    }
}

#[test]
fn two_solvers_compete_and_the_larger_surplus_wins() {
    let mut m = Market::new();
    let SolverMarket { o1, o2, big, b1, b2 } = solver_market(&mut m);
    // Solver A proposes what the built-in clearing does; solver B the better allocation.
    let a = solve(
        &m,
        20,
        vec![Fill { intent: big, offer: o1, units: 5 }, Fill { intent: big, offer: o2, units: 1 }],
    );
    let b = solve(
        &m,
        20,
        vec![Fill { intent: b1, offer: o1, units: 5 }, Fill { intent: b2, offer: o2, units: 5 }],
    );
    let events = m.chain().run(SOLVER_A, a).unwrap();
    assert!(matches!(
        events[0],
        Event::Market(MarketEvent::SolutionSubmitted { surplus: 240, .. })
    ));
    let events = m.chain().run(SOLVER_B, b).unwrap();
    assert!(matches!(
        events[0],
        Event::Market(MarketEvent::SolutionSubmitted { surplus: 350, .. })
    ));
    let (solver_before, bob_before) = (m.balance(SOLVER_B), m.balance(BOB));
    let events = m.clear();
    let winner = events.iter().find_map(|e| match e {
        MarketEvent::MarketCleared { solver, units, price, .. } => Some((*solver, *units, *price)),
        _ => None,
    });
    assert_eq!(winner, Some((Some(m.addr(SOLVER_B)), 10, 20)));
    assert_eq!(m.intent_record(b1).status, OrderStatus::Filled);
    assert_eq!(m.intent_record(b2).status, OrderStatus::Filled);
    assert_eq!(m.intent_record(big).status, OrderStatus::Open);
    // B added 350 - 240 of surplus and earns its share, taken from the consumers' savings.
    let reward = (350 - 240) * u64::from(m.params().solver_reward_bps) / 10_000;
    assert_eq!(m.balance(SOLVER_B) - solver_before, reward);
    assert_eq!(m.balance(BOB) - bob_before, 5 * (45 - 20) - reward / 2 + m.deposit());
}

#[test]
fn without_a_better_solution_the_built_in_clearing_stands() {
    let mut m = Market::new();
    let SolverMarket { o1, o2, big, .. } = solver_market(&mut m);
    let same = solve(
        &m,
        20,
        vec![Fill { intent: big, offer: o1, units: 5 }, Fill { intent: big, offer: o2, units: 1 }],
    );
    m.chain().run(SOLVER_A, same).unwrap();
    let events = m.clear();
    let winner = events.iter().find_map(|e| match e {
        MarketEvent::MarketCleared { solver, units, .. } => Some((*solver, *units)),
        _ => None,
    });
    assert_eq!(winner, Some((None, 6)));
}

#[test]
fn a_solution_that_breaks_a_capacity_limit_or_floor_is_refused_with_its_reason() {
    let mut m = Market::new();
    let SolverMarket { o1, o2, big, b1, .. } = solver_market(&mut m);
    let over_capacity = solve(&m, 20, vec![Fill { intent: big, offer: o1, units: 6 }]);
    assert_eq!(m.chain().run(SOLVER_A, over_capacity), Err(ErrorCode::CapacityExceeded));
    let over_limit = solve(&m, 46, vec![Fill { intent: b1, offer: o1, units: 5 }]);
    assert_eq!(m.chain().run(SOLVER_A, over_limit), Err(ErrorCode::LimitExceeded));
    let below_floor = solve(&m, 5, vec![Fill { intent: b1, offer: o1, units: 5 }]);
    assert_eq!(m.chain().run(SOLVER_A, below_floor), Err(ErrorCode::BelowFloor));
    let split = solve(&m, 20, vec![Fill { intent: b1, offer: o1, units: 2 }]);
    assert_eq!(m.chain().run(SOLVER_A, split), Err(ErrorCode::FillMismatch));
    let unstaked = solve(&m, 20, vec![Fill { intent: b1, offer: o2, units: 5 }]);
    assert_eq!(m.chain().run(ALICE, unstaked.clone()), Err(ErrorCode::InsufficientStake));
    let wrong_batch = match unstaked {
        MarketCall::Solve { batch, prices, fills } => {
            MarketCall::Solve { batch: batch + 7, prices, fills }
        }
        _ => unreachable!(),
    };
    assert_eq!(m.chain().run(SOLVER_A, wrong_batch), Err(ErrorCode::WrongBatch));
    let index: Option<SolutionIndex> =
        m.f.chain.state.get(&keys::solution_index(m.f.chain.height / INTERVAL));
    assert_eq!(index, None, "no refused solution was kept");
}

#[test]
fn a_bundle_intent_is_filled_only_by_a_solver_across_markets() {
    let mut m = Market::new();
    let cooler = m.provider(1, OWNER);
    let sensor = m.provider(2, RIVAL);
    let cooling = m.offer(OWNER, cooler, ResourceKind::Energy, 30, 5, Delivery::Receipt);
    let data = m.offer(RIVAL, sensor, ResourceKind::Data, 5, 5, Delivery::Receipt);
    let chill = m.post(
        ALICE,
        MarketCall::Intent {
            region: "u33d".into(),
            components: vec![
                Component { kind: ResourceKind::Energy, quantity: 2 },
                Component { kind: ResourceKind::Data, quantity: 1 },
            ],
            units: 1,
            max_price: 100,
            deadline_ms: m.deadline(60_000),
            min_reputation: 0,
            partial: false,
        },
    );
    assert!(cleared(&m.clear()).is_empty(), "the built-in clearing does not fill bundles");
    m.chain().run(SOLVER_A, MarketCall::Stake { kind: StakeKind::Solver, amount: STAKE }).unwrap();
    let batch = m.f.chain.height / INTERVAL;
    let solution = MarketCall::Solve {
        batch,
        prices: vec![
            MarketPrice { market: market_id(&ResourceKind::Energy, "u33d"), price: 40 },
            MarketPrice { market: market_id(&ResourceKind::Data, "u33d"), price: 10 },
        ],
        fills: vec![
            Fill { intent: chill, offer: cooling, units: 2 },
            Fill { intent: chill, offer: data, units: 1 },
        ],
    };
    m.chain().run(SOLVER_A, solution).unwrap();
    let events = m.clear();
    assert_eq!(cleared(&events).len(), 2, "{events:?}");
    let intent = m.intent_record(chill);
    assert_eq!((intent.filled, intent.status), (1, OrderStatus::Filled));
}

#[test]
fn stake_unbonds_after_the_delay_and_stays_slashable_until_withdrawn() {
    let mut m = Market::new();
    m.chain().run(OWNER, MarketCall::Stake { kind: StakeKind::Provider, amount: STAKE }).unwrap();
    assert_eq!(
        m.chain().run(OWNER, MarketCall::Unbond { kind: StakeKind::Provider, amount: STAKE + 1 }),
        Err(ErrorCode::InsufficientStake)
    );
    m.chain().run(OWNER, MarketCall::Unbond { kind: StakeKind::Provider, amount: STAKE }).unwrap();
    assert_eq!(
        m.chain().run(OWNER, MarketCall::Withdraw { kind: StakeKind::Provider }),
        Err(ErrorCode::NothingToWithdraw)
    );
    for _ in 0..m.params().unbonding_blocks {
        m.chain().block(vec![]);
    }
    let before = m.balance(OWNER);
    m.chain().run(OWNER, MarketCall::Withdraw { kind: StakeKind::Provider }).unwrap();
    assert!(m.balance(OWNER) > before + STAKE - 1_000);
    assert_eq!(m.f.chain.balance(&stake_account()), 0);
}

#[test]
fn offers_of_a_decommissioned_device_stop_selling() {
    let mut m = Market::new();
    let device = m.provider(1, OWNER);
    m.offer(OWNER, device, compute(), 10, 5, Delivery::Receipt);
    m.chain().run(OWNER, IdentityCall::Decommission { device }).unwrap();
    m.intent(ALICE, compute(), 1, 20, false);
    assert!(cleared(&m.clear()).is_empty());
    let _ = identity::keys::device(&device);
}

#[test]
fn one_account_cannot_fill_a_book_beyond_its_open_order_cap_and_each_order_holds_a_deposit() {
    let mut m = Market::new();
    let before = m.balance(ALICE);
    let cap = super::OPEN_ORDERS_PER_ACCOUNT_MAX as u64;
    let mut last = 0;
    for _ in 0..cap {
        last = m.intent(ALICE, compute(), 1, 1, true);
    }
    let one_more = m.intent_call(compute(), 1, 1, true);
    assert_eq!(m.chain().run(ALICE, one_more.clone()), Err(ErrorCode::OrderLimit));
    assert_eq!(m.f.chain.balance(&super::deposits_account()), cap * m.deposit());
    // Another account still gets a slot; cancelling frees one and returns the deposit.
    m.intent(BOB, compute(), 1, 1, true);
    m.chain().run(ALICE, MarketCall::Cancel { intent: last }).unwrap();
    m.chain().run(ALICE, one_more).unwrap();
    let escrow_and_deposits = cap * (1 + m.deposit());
    assert!(before - m.balance(ALICE) >= escrow_and_deposits, "each open order is paid for");
}

#[test]
fn a_better_solution_takes_the_worst_slot_when_the_batch_is_full() {
    let slots = super::SOLUTIONS_PER_BATCH_MAX;
    let mut m = Market::with_accounts(10 + slots + 1);
    let SolverMarket { o1, o2, big, b1, b2 } = solver_market(&mut m);
    let weak = |m: &Market| {
        solve(
            m,
            20,
            vec![
                Fill { intent: big, offer: o1, units: 5 },
                Fill { intent: big, offer: o2, units: 1 },
            ],
        )
    };
    // Every slot taken first by solutions of the built-in clearing's surplus...
    for solver in 10..10 + slots {
        m.chain()
            .run(solver, MarketCall::Stake { kind: StakeKind::Solver, amount: STAKE })
            .unwrap();
        let call = weak(&m);
        m.chain().run(solver, call).unwrap();
    }
    let late = 10 + slots;
    m.chain().run(late, MarketCall::Stake { kind: StakeKind::Solver, amount: STAKE }).unwrap();
    // ... an equal one finds no slot, a better one takes the worst, and wins the batch.
    let call = weak(&m);
    assert_eq!(m.chain().run(late, call), Err(ErrorCode::SolutionLimit));
    let better = solve(
        &m,
        20,
        vec![Fill { intent: b1, offer: o1, units: 5 }, Fill { intent: b2, offer: o2, units: 5 }],
    );
    m.chain().run(late, better).unwrap();
    let index: SolutionIndex =
        m.f.chain.state.get(&keys::solution_index(m.f.chain.height / INTERVAL)).unwrap();
    assert_eq!(index.entries.len(), slots);
    assert!(index.entries.iter().any(|e| e.solver == m.addr(late)));
    // A solver keeps one slot: a second, no better solution of its own is refused.
    let again = solve(
        &m,
        21,
        vec![Fill { intent: b1, offer: o1, units: 5 }, Fill { intent: b2, offer: o2, units: 5 }],
    );
    assert_eq!(m.chain().run(late, again), Err(ErrorCode::NoImprovement));
    let winner = m.clear().iter().find_map(|e| match e {
        MarketEvent::MarketCleared { solver, .. } => Some(*solver),
        _ => None,
    });
    assert_eq!(winner, Some(Some(m.addr(late))));
}

#[test]
fn self_trades_never_move_reputation() {
    let mut m = Market::new();
    let device = m.provider(1, OWNER);
    m.offer(OWNER, device, compute(), 10, 4, Delivery::Receipt);
    // The owner buys its own device's resource and confirms: no reputation gained.
    m.intent(OWNER, compute(), 2, 10, false);
    let [(_, _, lease, 1)] = cleared(&m.clear())[..] else { panic!() };
    m.chain().run(OWNER, MarketCall::Confirm { lease }).unwrap();
    let d = m.f.device(&device);
    assert_eq!((d.reputation.good, d.reputation.bad), (0, 0));
    // A real consumer's confirmation counts.
    m.intent(ALICE, compute(), 2, 10, false);
    let [(_, _, lease, 1)] = cleared(&m.clear())[..] else { panic!() };
    m.chain().run(ALICE, MarketCall::Confirm { lease }).unwrap();
    assert_eq!(m.f.device(&device).reputation.good, 1);
}

#[test]
fn the_protocol_fee_is_at_least_one_unit_however_small_the_lease() {
    let mut m = Market::new();
    let device = m.provider(1, OWNER);
    m.offer(OWNER, device, compute(), 1, 50, Delivery::Receipt);
    m.intent(ALICE, compute(), 1, 1, false);
    let [(1, 1, lease, 1)] = cleared(&m.clear())[..] else { panic!() };
    let treasury_before = m.f.chain.balance(&treasury());
    m.chain().run(ALICE, MarketCall::Confirm { lease }).unwrap();
    assert_eq!(m.f.chain.balance(&treasury()) - treasury_before, 1);
}

#[test]
fn a_seller_cannot_unbond_the_stake_its_open_leases_may_be_slashed() {
    let mut m = Market::new();
    let device = m.provider(1, OWNER);
    m.offer(OWNER, device, compute(), 1_000_000, 10, Delivery::Receipt);
    m.intent(ALICE, compute(), 10, 1_000_000, false);
    let [(_, 10, lease, 1)] = cleared(&m.clear())[..] else { panic!() };
    let locked = m.stake(OWNER, StakeKind::Provider).locked;
    let escrow = m.lease(lease).escrow;
    assert_eq!(locked, escrow * u64::from(m.params().slash_bps) / 10_000);
    let all = MarketCall::Unbond { kind: StakeKind::Provider, amount: STAKE };
    assert_eq!(m.chain().run(OWNER, all), Err(ErrorCode::StakeLocked));
    let free = MarketCall::Unbond { kind: StakeKind::Provider, amount: STAKE - locked };
    m.chain().run(OWNER, free).unwrap();
    // Past the deadline undelivered: the slash comes out of the locked stake.
    let events = m.pass(60_000);
    let slashed = events.iter().find_map(|e| match e {
        MarketEvent::Refunded { slashed, .. } => Some(*slashed),
        _ => None,
    });
    assert_eq!(slashed, Some(locked));
    assert_eq!(m.stake(OWNER, StakeKind::Provider).locked, 0);
}

#[test]
fn a_sellers_role_ends_when_the_device_changes_owner() {
    let mut m = Market::new();
    let device = m.provider(1, OWNER);
    let grant = IdentityCall::GrantRole {
        device,
        account: m.addr(BOB),
        role: machina_types::identity::roles::SELLER.into(),
        expiry_height: None,
    };
    m.chain().run(OWNER, grant).unwrap();
    m.chain().run(BOB, MarketCall::Stake { kind: StakeKind::Provider, amount: STAKE }).unwrap();
    let offer = m.offer_call(device, compute(), 10, 5, Delivery::Receipt);
    m.chain().run(BOB, offer.clone()).unwrap();
    let to = m.addr(CAROL);
    m.chain().run(OWNER, IdentityCall::TransferDevice { device, to }).unwrap();
    assert_eq!(m.chain().run(BOB, offer), Err(ErrorCode::Unauthorized));
    // Its open offer no longer sells either.
    m.intent(ALICE, compute(), 1, 20, false);
    assert!(cleared(&m.clear()).is_empty());
}

#[test]
fn orders_with_values_past_the_protocol_limits_are_refused_before_execution() {
    use machina_types::limits::{PRICE_MAX, UNITS_MAX};
    let m = Market::new();
    let device = Default::default();
    let offer = |capacity, floor_price| MarketCall::Offer {
        device,
        kind: compute(),
        region: "u33d".into(),
        capacity,
        floor_price,
        delivery: Delivery::Receipt,
        expiry_ms: 1,
    };
    assert!(offer(UNITS_MAX, PRICE_MAX).check().is_ok());
    assert_eq!(offer(UNITS_MAX + 1, 1).check(), Err(ErrorCode::InvalidCall));
    assert_eq!(offer(1, PRICE_MAX + 1).check(), Err(ErrorCode::InvalidCall));
    assert_eq!(offer(u64::MAX, u64::MAX).check(), Err(ErrorCode::InvalidCall));
    let intent = |units, max_price| MarketCall::Intent {
        region: "u33d".into(),
        components: vec![Component { kind: compute(), quantity: 1 }],
        units,
        max_price,
        deadline_ms: 1,
        min_reputation: 0,
        partial: true,
    };
    assert_eq!(intent(u64::MAX, 1).check(), Err(ErrorCode::InvalidCall));
    assert_eq!(intent(2, u64::MAX).check(), Err(ErrorCode::InvalidCall));
    let _ = m;
}
