//! The state-machine fuzzer.
//!
//! Random sequences of every module's calls, from several accounts, with boundary values
//! (0, 1, MAX - 1, MAX, the protocol's limits and one past them, random) in every numeric
//! field, run through the test chain in blocks with time jumps that cross deadlines,
//! dispute windows and batch ends. After every block the chain checks its conservation and
//! supply invariants; the fuzzer also checks that no call hit a broken invariant (an
//! `internal` outcome) and that no block-level step or settlement failed. Every sequence runs
//! twice and must reach the same state.
//!
//! `cargo test` runs a bounded number of sequences; `MACHINA_FUZZ_CASES=N` runs `N` (each of
//! about 60 calls) and prints how many calls ran.

mod channels;
mod products;

use crate::{
    exec::Applied,
    genesis::{MarketParams, OwnershipParams, Params, RewardsParams},
    modules::{identity::tests::Fixture, market},
    state::MemState,
    testing::{CHAIN, Chain},
};
use commonware_cryptography::{Signer, ed25519::PrivateKey};
use machina_types::{
    Address, BankCall, Call, DataCall, ErrorCode, Event, Hash, IdentityCall, MarketCall, Outcome,
    Reading, RewardsCall, Value,
    data::{Eligibility, state::StreamState},
    device,
    identity::{Approval, SLASH_NAMESPACE, slash_message},
    limits::{
        PRICE_MAX, REWARD_EPOCH_BLOCKS_MAX, REWARD_EPOCHS_MAX, REWARD_WORK_MAX, SEQ_MAX, UNITS_MAX,
    },
    market::{
        ACK_NAMESPACE, Comparison, Component, Delivery, DeliveryProof, Fill, MarketEvent,
        MarketPrice, RECEIPT_NAMESPACE, ResourceKind, StakeKind, ack_message, market_id,
        receipt_message,
    },
    ownership::{Governance, Milestone, OwnershipCall, OwnershipEvent, Tranche},
    rewards::{RewardsEvent, Work},
};
use proptest::prelude::*;

mod wallets;
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::atomic::{AtomicU64, Ordering},
};

/// Accounts: 0 is the validator, 1 the maker; devices belong to 2, 3 and 4.
const ACCOUNTS: usize = 7;
/// Devices onboarded before the sequence starts (serials 1..=3).
const DEVICES: u64 = 3;
/// Blocks per auction batch: small, so sequences cross many batch ends.
const INTERVAL: u64 = 3;

/// Short governance periods, so sequences vote, wait out timelocks and execute.
const RULES: Governance = Governance {
    threshold_bps: 100,
    deposit: 1_000,
    quorum_bps: 1_000,
    approval_bps: 5_001,
    voting_blocks: 3,
    timelock_blocks: 1,
    execution_blocks: 6,
};

/// Calls run by all fuzz cases of this process.
static CALLS: AtomicU64 = AtomicU64::new(0);
/// Transactions whose calls all succeeded.
static SUCCEEDED: AtomicU64 = AtomicU64::new(0);
/// Leases made (a sign the sequences reach deep into the market).
static LEASES: AtomicU64 = AtomicU64::new(0);
/// Machines tokenized, offerings closed and proposals executed (the same for ownership).
static MACHINES: AtomicU64 = AtomicU64::new(0);
static OFFERINGS_CLOSED: AtomicU64 = AtomicU64::new(0);
static EXECUTED: AtomicU64 = AtomicU64::new(0);
/// Reward pools created, pools that paid a device at least once, rewards paid (more than
/// nothing) and pools closed.
static POOLS: AtomicU64 = AtomicU64::new(0);
static POOLS_PAID: AtomicU64 = AtomicU64::new(0);
static REWARDS_PAID: AtomicU64 = AtomicU64::new(0);
static POOLS_CLOSED: AtomicU64 = AtomicU64::new(0);

/// Counts the ownership milestones among `events`.
fn count_ownership(events: &[Event]) {
    for e in events {
        let counter = match e {
            Event::Ownership(OwnershipEvent::Tokenized { .. }) => &MACHINES,
            Event::Ownership(
                OwnershipEvent::OfferingSucceeded { .. } | OwnershipEvent::OfferingFailed { .. },
            ) => &OFFERINGS_CLOSED,
            Event::Ownership(OwnershipEvent::Executed { .. }) => &EXECUTED,
            _ => continue,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A numeric field: boundary values as often as ordinary ones.
fn num() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::MAX - 1),
        Just(u64::MAX),
        Just(UNITS_MAX),
        Just(UNITS_MAX + 1),
        Just(PRICE_MAX),
        Just(PRICE_MAX + 1),
        Just(SEQ_MAX),
        Just(SEQ_MAX + 1),
        1u64..2_000,
        1_000u64..20_000_000,
        any::<u64>(),
    ]
}

/// A small amount the accounts can afford, or a boundary.
fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 1u64..5_000_000, 1 => num()]
}

/// Units or a price: mostly small enough to trade, sometimes a boundary.
fn qty() -> impl Strategy<Value = u64> {
    prop_oneof![6 => 1u64..30, 2 => 30u64..300, 1 => num()]
}

/// An id: mostly one that exists (resolved against the chain's counters when the call is
/// built), sometimes any number.
fn id() -> impl Strategy<Value = Id> {
    prop_oneof![8 => any::<u8>().prop_map(Id::Existing), 1 => num().prop_map(Id::Raw)]
}

/// An id an op names.
#[derive(Clone, Copy, Debug)]
enum Id {
    /// The `n`-th existing one (modulo how many exist).
    Existing(u8),
    /// This number.
    Raw(u64),
    /// The newest one.
    Newest,
    /// The one the next creation gets (a creation earlier in the same block).
    Next,
}

impl Id {
    /// The id, given that ids `1..next` exist.
    fn resolve(self, next: u64) -> u64 {
        match self {
            Id::Existing(n) => 1 + u64::from(n) % next.saturating_sub(1).max(1),
            Id::Raw(id) => id,
            Id::Newest => next.saturating_sub(1).max(1),
            Id::Next => next,
        }
    }
}

fn account() -> impl Strategy<Value = usize> {
    0..ACCOUNTS
}

/// One of the devices; sometimes one past them (an unknown device).
fn device_index() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0..DEVICES as usize, 1 => Just(DEVICES as usize)]
}

/// A resource kind: few, so orders meet.
fn kind_index() -> impl Strategy<Value = u8> {
    prop_oneof![4 => Just(0u8), 2 => Just(2u8), 1 => 0u8..4]
}

/// How far ahead a deadline or expiry is: inside the allowed term, at its edges, or absurd.
fn term() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => Just(0u64),
        1 => Just(1),
        4 => 500u64..5_000,
        8 => 60_000u64..120_000,
        1 => Just(market::TERM_MAX_MS),
        1 => Just(market::TERM_MAX_MS + 1),
        1 => Just(u64::MAX),
    ]
}

/// One call, as a template filled in against the chain when it runs.
#[derive(Clone, Debug)]
enum Op {
    /// A payment-channel call.
    Channel(channels::ChannelOp),
    /// A data-product call.
    Product(products::ProductOp),
    Transfer {
        to: usize,
        amount: u64,
    },
    CreateAsset {
        max_supply: Option<u64>,
    },
    MintAsset {
        asset: Id,
        to: usize,
        amount: u64,
    },
    TransferAsset {
        asset: Id,
        to: usize,
        amount: u64,
    },
    BurnAsset {
        asset: Id,
        amount: u64,
    },
    MintNft {
        to: usize,
    },
    TransferNft {
        id: Id,
        to: usize,
    },
    BurnNft {
        id: Id,
    },
    RegisterMaker {
        bond: u64,
    },
    Onboard {
        serial: u64,
    },
    TransferDevice {
        device: usize,
        to: usize,
    },
    RotateKey {
        device: usize,
        seed: u64,
    },
    SetAttribute {
        device: usize,
        value: Option<u8>,
    },
    Status {
        device: usize,
        to: u8,
    },
    GrantRole {
        device: usize,
        to: usize,
        role: u8,
        expiry: Option<u64>,
    },
    RevokeRole {
        device: usize,
        to: usize,
        role: u8,
    },
    AcceptRole {
        device: usize,
        role: u8,
    },
    SlashMaker {
        amount: u64,
        approve: bool,
    },
    Anchor {
        device: usize,
        first: u64,
        last: u64,
        count: u32,
    },
    CreateFeed {
        by: u8,
        min_sources: u8,
        staleness: u64,
    },
    ReportFeed {
        feed: Id,
        device: usize,
        seq: u64,
        age: u64,
        value: i64,
    },
    CloseFeed {
        feed: Id,
    },
    Stake {
        solver: bool,
        amount: u64,
    },
    Unbond {
        solver: bool,
        amount: u64,
    },
    Withdraw {
        solver: bool,
    },
    Offer {
        device: usize,
        kind: u8,
        capacity: u64,
        floor: u64,
        expiry: u64,
        feed: Option<Id>,
    },
    CloseOffer {
        offer: Id,
    },
    Intent {
        kind: u8,
        bundle: bool,
        units: u64,
        max_price: u64,
        deadline: u64,
        partial: bool,
    },
    Cancel {
        intent: Id,
    },
    Solve {
        late: bool,
        price: u64,
        fills: Vec<(Id, Id, u64)>,
    },
    Confirm {
        lease: Id,
    },
    Receipt {
        lease: Id,
        by: usize,
    },
    Ack {
        lease: Id,
        valid: bool,
    },
    Claim {
        lease: Id,
    },
    Dispute {
        lease: Id,
    },
    Tokenize {
        device: usize,
        supply: u64,
        retained: u64,
        reserve_bps: u16,
        own_rules: bool,
    },
    ClaimRevenue {
        machine: Id,
    },
    Configure {
        machine: Id,
        reserve_bps: u16,
    },
    CreateOffering {
        machine: Id,
        shares: u64,
        price: u64,
        min: u64,
        buyer: (u64, u64),
        blocks: u64,
        tranches: u8,
    },
    Buy {
        offering: Id,
        shares: u64,
    },
    ReleaseTranche {
        offering: Id,
        tranche: u8,
    },
    Propose {
        machine: Id,
        action: u8,
        amount: u64,
        to: usize,
    },
    Vote {
        proposal: Id,
        approve: bool,
    },
    Execute {
        proposal: Id,
    },
    CloseProposal {
        proposal: Id,
    },
    MintRight {
        device: usize,
        kind: u8,
        starts: u64,
        length: u64,
        units: u64,
        to: usize,
        price: Option<u64>,
    },
    ListRight {
        right: Id,
        price: Option<u64>,
    },
    BuyRight {
        right: Id,
        max_price: u64,
    },
    UseRight {
        right: Id,
        units: u64,
    },
    MintDataAsset {
        device: usize,
        stream: u32,
        to: usize,
    },
    AnchorNext {
        device: usize,
        count: u32,
    },
    CreatePool {
        asset: bool,
        per_epoch: u64,
        epochs: u32,
        epoch_blocks: u64,
        leases: bool,
        by: u8,
        min_reputation: u8,
        max_work: u64,
    },
    Enroll {
        pool: Id,
        device: usize,
    },
    ReportWork {
        pool: Id,
        device: usize,
    },
    /// `epoch`: the latest whose claims are open if absent.
    ClaimReward {
        pool: Id,
        epoch: Option<u32>,
        device: usize,
    },
    ClosePool {
        pool: Id,
    },
    Wallets(Box<wallets::WalletOp>),
}

/// Basis points: the edges and inside.
fn bps() -> impl Strategy<Value = u16> {
    prop_oneof![Just(0u16), Just(1), Just(9_999), Just(10_000), Just(10_001), 0u16..10_000]
}

/// Ownership calls: machines, offerings, revenue and governance.
fn ownership_op() -> impl Strategy<Value = Op> {
    let shares = || prop_oneof![4 => 1u64..2_000, 1 => num()];
    prop_oneof![
        (device_index(), shares(), shares(), bps(), any::<bool>()).prop_map(
            |(device, supply, retained, reserve_bps, own_rules)| Op::Tokenize {
                device,
                supply,
                retained: retained.min(supply.saturating_add(u64::from(own_rules))),
                reserve_bps,
                own_rules
            }
        ),
        id().prop_map(|machine| Op::ClaimRevenue { machine }),
        (id(), bps()).prop_map(|(machine, reserve_bps)| Op::Configure { machine, reserve_bps }),
        (
            id(),
            shares(),
            qty(),
            shares(),
            (shares(), shares()),
            prop_oneof![Just(0u64), 1u64..8, num()],
            0u8..4
        )
            .prop_map(|(machine, shares, price, min, buyer, blocks, tranches)| {
                Op::CreateOffering { machine, shares, price, min, buyer, blocks, tranches }
            }),
        (id(), shares()).prop_map(|(offering, shares)| Op::Buy { offering, shares }),
        (id(), 0u8..5).prop_map(|(offering, tranche)| Op::ReleaseTranche { offering, tranche }),
        (id(), 0u8..5, amount(), account()).prop_map(|(machine, action, amount, to)| Op::Propose {
            machine,
            action,
            amount,
            to
        }),
        (id(), any::<bool>()).prop_map(|(proposal, approve)| Op::Vote { proposal, approve }),
        id().prop_map(|proposal| Op::Execute { proposal }),
        id().prop_map(|proposal| Op::CloseProposal { proposal }),
        rights_op(),
    ]
}

/// Usage rights and data assets.
fn rights_op() -> impl Strategy<Value = Op> {
    let price = || proptest::option::of(amount());
    prop_oneof![
        (device_index(), kind_index(), term(), term(), qty(), account(), price()).prop_map(
            |(device, kind, starts, length, units, to, price)| Op::MintRight {
                device,
                kind,
                starts,
                length,
                units,
                to,
                price
            }
        ),
        (id(), price()).prop_map(|(right, price)| Op::ListRight { right, price }),
        (id(), amount()).prop_map(|(right, max_price)| Op::BuyRight { right, max_price }),
        (id(), qty()).prop_map(|(right, units)| Op::UseRight { right, units }),
        (device_index(), prop_oneof![Just(0u32), Just(1), Just(u32::MAX)], account())
            .prop_map(|(device, stream, to)| Op::MintDataAsset { device, stream, to }),
    ]
}

/// Mostly a value from `small`, else an edge: 0, the protocol's `limit` and one past it,
/// and the type's `max` and one below.
fn edges(small: std::ops::Range<u64>, limit: u64, max: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => small,
        1 => Just(0u64),
        1 => Just(limit),
        1 => Just(limit + 1),
        1 => Just(max - 1),
        1 => Just(max),
    ]
}

/// A pool's epochs: a few, or the edges of the protocol's limit and of the type.
fn epochs() -> impl Strategy<Value = u32> {
    // Every value is at most u32::MAX, so the cast is exact.
    edges(1..5, u64::from(REWARD_EPOCHS_MAX), u64::from(u32::MAX)).prop_map(|v| v as u32)
}

/// Blocks per epoch: short (so sequences cross epochs), or the edges.
fn epoch_blocks() -> impl Strategy<Value = u64> {
    edges(1..4, REWARD_EPOCH_BLOCKS_MAX, u64::MAX)
}

/// A cap on an epoch's work: small, or the edges.
fn max_work() -> impl Strategy<Value = u64> {
    edges(1..50, REWARD_WORK_MAX, u64::MAX)
}

/// An epoch to claim: the latest claimable one, or any number.
fn claim_epoch() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![
        4 => Just(None),
        1 => prop_oneof![Just(0u32), Just(1), Just(u32::MAX - 1), Just(u32::MAX), 0u32..6]
            .prop_map(Some),
    ]
}

/// Rewards calls: pools, enrollments, reports, claims and closes.
fn rewards_op() -> impl Strategy<Value = Op> {
    let reputation = prop_oneof![Just(0u8), Just(50), Just(51), Just(100), Just(101), Just(255)];
    let per_epoch = prop_oneof![4 => 1u64..10_000, 1 => num()];
    prop_oneof![
        (
            proptest::bool::weighted(0.2),
            per_epoch,
            epochs(),
            epoch_blocks(),
            any::<bool>(),
            0u8..4,
            reputation,
            max_work()
        )
            .prop_map(
                |(asset, per_epoch, epochs, epoch_blocks, leases, by, min_reputation, max_work)| {
                    Op::CreatePool {
                        asset,
                        per_epoch,
                        epochs,
                        epoch_blocks,
                        leases,
                        by,
                        min_reputation,
                        max_work,
                    }
                }
            ),
        (id(), device_index()).prop_map(|(pool, device)| Op::Enroll { pool, device }),
        (id(), device_index()).prop_map(|(pool, device)| Op::ReportWork { pool, device }),
        (id(), claim_epoch(), device_index()).prop_map(|(pool, epoch, device)| Op::ClaimReward {
            pool,
            epoch,
            device
        }),
        id().prop_map(|pool| Op::ClosePool { pool }),
        (device_index(), prop_oneof![4 => 1u32..20, 1 => Just(u32::MAX)])
            .prop_map(|(device, count)| Op::AnchorNext { device, count }),
    ]
}

/// Any op (boxed: the union of every module's ops is too deep a type to build on a test
/// thread's stack otherwise).
fn op() -> BoxedStrategy<Op> {
    let bank = prop_oneof![
        (account(), amount()).prop_map(|(to, amount)| Op::Transfer { to, amount }),
        proptest::option::of(num()).prop_map(|max_supply| Op::CreateAsset { max_supply }),
        (id(), account(), num()).prop_map(|(asset, to, amount)| Op::MintAsset {
            asset,
            to,
            amount
        }),
        (id(), account(), num()).prop_map(|(asset, to, amount)| Op::TransferAsset {
            asset,
            to,
            amount
        }),
        (id(), num()).prop_map(|(asset, amount)| Op::BurnAsset { asset, amount }),
        account().prop_map(|to| Op::MintNft { to }),
        (id(), account()).prop_map(|(id, to)| Op::TransferNft { id, to }),
        id().prop_map(|id| Op::BurnNft { id }),
    ];
    let identity = prop_oneof![
        num().prop_map(|bond| Op::RegisterMaker { bond }),
        (1u64..12).prop_map(|serial| Op::Onboard { serial }),
        (device_index(), account()).prop_map(|(device, to)| Op::TransferDevice { device, to }),
        (device_index(), 0u64..4).prop_map(|(device, seed)| Op::RotateKey { device, seed }),
        (device_index(), proptest::option::of(0u8..3))
            .prop_map(|(device, value)| Op::SetAttribute { device, value }),
        (device_index(), 0u8..3).prop_map(|(device, to)| Op::Status { device, to }),
        (device_index(), account(), 0u8..4, proptest::option::of(num()))
            .prop_map(|(device, to, role, expiry)| Op::GrantRole { device, to, role, expiry }),
        (device_index(), account(), 0u8..4).prop_map(|(device, to, role)| Op::RevokeRole {
            device,
            to,
            role
        }),
        (device_index(), 0u8..4).prop_map(|(device, role)| Op::AcceptRole { device, role }),
        (num(), any::<bool>()).prop_map(|(amount, approve)| Op::SlashMaker { amount, approve }),
    ];
    let data = prop_oneof![
        (device_index(), num(), num(), prop_oneof![Just(0u32), Just(1), Just(u32::MAX), 1u32..8])
            .prop_map(|(device, first, last, count)| Op::Anchor { device, first, last, count }),
        (0u8..4, 0u8..70, num()).prop_map(|(by, min_sources, staleness)| Op::CreateFeed {
            by,
            min_sources,
            staleness
        }),
        (id(), device_index(), num(), prop_oneof![Just(0u64), 1u64..20_000, num()], any::<i64>())
            .prop_map(|(feed, device, seq, age, value)| Op::ReportFeed {
                feed,
                device,
                seq,
                age,
                value
            }),
        id().prop_map(|feed| Op::CloseFeed { feed }),
    ];
    let stake = prop_oneof![
        (any::<bool>(), amount()).prop_map(|(solver, amount)| Op::Stake { solver, amount }),
        (any::<bool>(), amount()).prop_map(|(solver, amount)| Op::Unbond { solver, amount }),
        any::<bool>().prop_map(|solver| Op::Withdraw { solver }),
    ];
    let orders = prop_oneof![
        (device_index(), kind_index(), qty(), qty(), term(), proptest::option::of(id())).prop_map(
            |(device, kind, capacity, floor, expiry, feed)| Op::Offer {
                device,
                kind,
                capacity,
                floor,
                expiry,
                feed
            }
        ),
        id().prop_map(|offer| Op::CloseOffer { offer }),
        (kind_index(), proptest::bool::weighted(0.2), qty(), qty(), term(), any::<bool>())
            .prop_map(|(kind, bundle, units, max_price, deadline, partial)| Op::Intent {
                kind,
                bundle,
                units,
                max_price,
                deadline,
                partial
            }),
        id().prop_map(|intent| Op::Cancel { intent }),
        (any::<bool>(), qty(), proptest::collection::vec((id(), id(), qty()), 1..4))
            .prop_map(|(late, price, fills)| Op::Solve { late, price, fills }),
    ];
    let leases = prop_oneof![
        id().prop_map(|lease| Op::Confirm { lease }),
        (id(), account()).prop_map(|(lease, by)| Op::Receipt { lease, by }),
        (id(), any::<bool>()).prop_map(|(lease, valid)| Op::Ack { lease, valid }),
        id().prop_map(|lease| Op::Claim { lease }),
        id().prop_map(|lease| Op::Dispute { lease }),
    ];
    prop_oneof![
        2 => bank,
        3 => identity,
        2 => data,
        2 => stake,
        6 => orders,
        4 => leases,
        4 => ownership_op(),
        3 => rewards_op(),
        3 => channels::op(),
        3 => products::op(),
        3 => wallets::op(),
    ]
    .boxed()
}

/// Who signs a transaction.
#[derive(Clone, Copy, Debug)]
enum SignedBy {
    /// An account.
    Account(usize),
    /// The current owner of the device the first call names (an account otherwise).
    Owner(usize),
    /// The sponsor of the newest machine (account 2 if there is none).
    Sponsor,
}

/// A transaction: its signer and its calls.
type TxOps = (SignedBy, Vec<Op>);

/// A block: how much block time passes before it, and its transactions.
#[derive(Clone, Debug)]
struct BlockOps {
    advance_ms: u64,
    txs: Vec<TxOps>,
}

/// An offer and an intent that can meet: the same resource, the intent's limit at or above
/// the offer's floor (the rest of the sequence then delivers, claims, disputes, cancels...).
fn trade() -> impl Strategy<Value = Vec<TxOps>> {
    (device_index(), kind_index(), 1u64..20, 1u64..50, 0u64..50, 1u64..30, 3..ACCOUNTS).prop_map(
        |(device, kind, capacity, floor, extra, units, consumer)| {
            let offer = Op::Offer { device, kind, capacity, floor, expiry: 90_000, feed: None };
            let intent = Op::Intent {
                kind,
                bundle: false,
                units,
                max_price: floor + extra,
                deadline: 60_000,
                partial: units > capacity,
            };
            vec![(SignedBy::Owner(0), vec![offer]), (SignedBy::Account(consumer), vec![intent])]
        },
    )
}

/// A machine tokenized, an offering of its shares opened and bought into, and its sponsor
/// proposing and voting (the random ops then buy, vote, execute, claim and close).
fn machine_flow() -> impl Strategy<Value = Vec<TxOps>> {
    (
        device_index(),
        1u64..300,
        1u64..6,
        proptest::collection::vec((3..ACCOUNTS, 1u64..200), 1..4),
        0u8..5,
    )
        .prop_map(|(device, min, blocks, buyers, action)| {
            let tokenize = Op::Tokenize {
                device,
                supply: 1_000,
                retained: 400,
                reserve_bps: 2_000,
                own_rules: false,
            };
            let offering = Op::CreateOffering {
                machine: Id::Newest,
                shares: 300,
                price: 7,
                min,
                buyer: (1, 300),
                blocks,
                tranches: blocks as u8 % 4,
            };
            let mut txs = vec![
                (SignedBy::Owner(0), vec![tokenize]),
                (SignedBy::Sponsor, vec![offering]),
                (
                    SignedBy::Sponsor,
                    vec![Op::Propose { machine: Id::Newest, action, amount: 10, to: 3 }],
                ),
                (SignedBy::Sponsor, vec![Op::Vote { proposal: Id::Newest, approve: true }]),
            ];
            for (buyer, shares) in buyers {
                txs.push((
                    SignedBy::Account(buyer),
                    vec![Op::Buy { offering: Id::Newest, shares }],
                ));
            }
            txs
        })
}

/// A pool for the maker's devices with short epochs, created and joined by every device in
/// one block (the random ops and [`rewards_round`] then anchor, report, claim and close).
fn rewards_flow() -> impl Strategy<Value = Vec<TxOps>> {
    (3..ACCOUNTS, 1u64..5_000, 1u32..4, 1u64..3, any::<bool>(), 1u64..40).prop_map(
        |(funder, per_epoch, epochs, epoch_blocks, leases, max_work)| {
            let create = Op::CreatePool {
                asset: false,
                per_epoch,
                epochs,
                epoch_blocks,
                leases,
                by: 0,
                min_reputation: 0,
                max_work,
            };
            let mut txs = vec![(SignedBy::Account(funder), vec![create])];
            for device in 0..DEVICES as usize {
                let enroll = Op::Enroll { pool: Id::Next, device };
                txs.push((SignedBy::Account(funder), vec![enroll]));
            }
            txs
        },
    )
}

/// The devices' work for the newest pool: each anchors readings, is reported and claims its
/// latest claimable reward.
fn rewards_round() -> impl Strategy<Value = Vec<TxOps>> {
    (1u32..10, 0..ACCOUNTS).prop_map(|(count, caller)| {
        let mut txs = Vec::new();
        for device in 0..DEVICES as usize {
            txs.push((SignedBy::Owner(0), vec![Op::AnchorNext { device, count }]));
            let report = Op::ReportWork { pool: Id::Newest, device };
            let claim = Op::ClaimReward { pool: Id::Newest, epoch: None, device };
            txs.push((SignedBy::Account(caller), vec![report]));
            txs.push((SignedBy::Account(caller), vec![claim]));
        }
        txs
    })
}

fn block() -> impl Strategy<Value = BlockOps> {
    let advance = prop_oneof![
        8 => Just(0u64),
        3 => Just(1_000u64),
        1 => Just(31_000u64),
        1 => Just(3_700_000u64),
    ];
    let signer = prop_oneof![
        2 => account().prop_map(SignedBy::Account),
        2 => account().prop_map(SignedBy::Owner),
        1 => Just(SignedBy::Sponsor),
    ];
    let calls = prop_oneof![
        4 => proptest::collection::vec(op(), 1..2),
        1 => proptest::collection::vec(op(), 2..4),
    ];
    let trades = proptest::option::weighted(0.3, trade()).prop_map(Option::unwrap_or_default);
    let flows = proptest::option::weighted(0.1, machine_flow()).prop_map(Option::unwrap_or_default);
    let pools = (
        proptest::option::weighted(0.08, rewards_flow()).prop_map(Option::unwrap_or_default),
        proptest::option::weighted(0.4, rewards_round()).prop_map(Option::unwrap_or_default),
        proptest::option::weighted(0.15, channels::flow()).prop_map(Option::unwrap_or_default),
        proptest::option::weighted(0.1, products::flow()).prop_map(Option::unwrap_or_default),
        proptest::option::weighted(0.2, wallets::flow()).prop_map(Option::unwrap_or_default),
        proptest::option::weighted(0.2, wallets::multisig_flow())
            .prop_map(Option::unwrap_or_default),
    );
    // A transaction is sometimes sent twice: the second meets the state the first left
    // (an anchor after an anchor, a claim after a claim), where boundary values bite.
    let tx = (signer, calls, proptest::bool::weighted(0.25));
    (advance, trades, flows, pools, proptest::collection::vec(tx, 0..6)).prop_map(
        |(advance_ms, mut txs, flow, (pool, round, channel, product, wallet, multisig), more)| {
            txs.extend(flow);
            txs.extend(wallet);
            txs.extend(multisig);
            txs.extend(pool);
            txs.extend(round);
            txs.extend(channel);
            txs.extend(product);
            for (signer, calls, twice) in more {
                if twice {
                    txs.push((signer, calls.clone()));
                }
                txs.push((signer, calls));
            }
            BlockOps { advance_ms, txs }
        },
    )
}

/// A fuzz run's chain and what it knows of the devices' keys.
struct Run {
    f: Fixture,
    /// Each device's current key.
    keys: BTreeMap<Hash, PrivateKey>,
    devices: Vec<Hash>,
    /// Reward pools that paid a device (counted once each).
    paid_pools: BTreeSet<u64>,
}

fn kind(k: u8) -> ResourceKind {
    match k {
        0 => ResourceKind::Compute,
        1 => ResourceKind::Energy,
        2 => ResourceKind::Actuation { command: "unlock".into() },
        _ => ResourceKind::Data,
    }
}

fn role(r: u8) -> String {
    ["seller", "gateway", "sensors", machina_types::identity::roles::FEED_SOURCE][r as usize % 4]
        .into()
}

impl Run {
    fn new() -> Self {
        let params = Params {
            market: MarketParams {
                auction_interval_blocks: INTERVAL,
                min_provider_stake: 1_000,
                min_solver_stake: 1_000,
                unbonding_blocks: 5,
                ..MarketParams::default()
            },
            ownership: OwnershipParams { governance: RULES },
            rewards: RewardsParams { claim_window_epochs: 1, ..RewardsParams::default() },
            ..Params::default()
        };
        let mut f = Fixture::with_chain(Chain::with_params(ACCOUNTS, params));
        let mut keys = BTreeMap::new();
        let mut devices = Vec::new();
        for serial in 1..=DEVICES {
            let owner = 1 + serial as usize;
            let id = f.onboard(serial, owner);
            keys.insert(id, Fixture::device_key(serial));
            devices.push(id);
            let stake = MarketCall::Stake { kind: StakeKind::Provider, amount: 1_000_000 };
            f.chain.run(owner, stake).expect("provider stake");
        }
        let stake = MarketCall::Stake { kind: StakeKind::Solver, amount: 1_000_000 };
        f.chain.run(5, stake).expect("solver stake");
        let feed = DataCall::CreateFeed {
            name: "fuzz feed".into(),
            stream: 1,
            eligibility: Eligibility::Maker { maker: f.chain.addr(1) },
            min_sources: 1,
            max_staleness_ms: 60_000,
            unit: "C".into(),
            decimals: 1,
        };
        f.chain.run(6, feed).expect("a feed");
        Self { f, keys, devices, paid_pools: BTreeSet::new() }
    }

    fn chain(&self) -> &Chain {
        &self.f.chain
    }

    fn addr(&self, i: usize) -> Address {
        self.f.chain.addr(i)
    }

    /// Device `i` (one past the onboarded ones names an unknown device).
    fn device(&self, i: usize) -> Hash {
        self.devices.get(i).copied().unwrap_or(Hash([0xee; 32]))
    }

    /// Ids the chain has given so far, per kind: `1..next` exist (or existed).
    fn next_asset(&self) -> u64 {
        self.chain().state.get(&crate::modules::bank::keys::next_asset_id()).unwrap_or(1)
    }

    fn next_nft(&self) -> u64 {
        self.chain().state.get(&crate::modules::bank::keys::next_nft_id()).unwrap_or(1)
    }

    fn next_feed(&self) -> u64 {
        self.chain().state.get(&crate::modules::data::keys::next_feed_id()).unwrap_or(1)
    }

    fn next_pool(&self) -> u64 {
        self.chain().state.get(&crate::modules::rewards::keys::next_pool_id()).unwrap_or(1)
    }

    fn counters(&self) -> market::state::Counters {
        self.chain().state.get(&market::keys::counters()).unwrap_or_default()
    }

    fn lease(&self, id: u64) -> Option<market::state::Lease> {
        self.chain().state.get(&market::keys::lease(id))
    }

    fn now(&self) -> u64 {
        self.chain().now_ms + crate::testing::BLOCK_MS
    }

    /// The call an op stands for, against the chain as it is.
    fn call(&mut self, signer: usize, op: &Op) -> Call {
        let now = self.now();
        match op.clone() {
            Op::Transfer { to, amount } => BankCall::Transfer { to: self.addr(to), amount }.into(),
            Op::CreateAsset { max_supply } => BankCall::CreateAsset {
                symbol: "KWH".into(),
                name: "Kilowatt hours".into(),
                decimals: 3,
                max_supply,
                metadata: Vec::new(),
            }
            .into(),
            Op::MintAsset { asset, to, amount } => {
                let asset = asset.resolve(self.next_asset());
                BankCall::MintAsset { asset, to: self.addr(to), amount }.into()
            }
            Op::TransferAsset { asset, to, amount } => {
                let asset = asset.resolve(self.next_asset());
                BankCall::TransferAsset { asset, to: self.addr(to), amount }.into()
            }
            Op::BurnAsset { asset, amount } => {
                BankCall::BurnAsset { asset: asset.resolve(self.next_asset()), amount }.into()
            }
            Op::MintNft { to } => {
                BankCall::MintNft { to: self.addr(to), metadata_hash: Hash([3; 32]) }.into()
            }
            Op::TransferNft { id, to } => {
                BankCall::TransferNft { id: id.resolve(self.next_nft()), to: self.addr(to) }.into()
            }
            Op::BurnNft { id } => BankCall::BurnNft { id: id.resolve(self.next_nft()) }.into(),
            Op::Channel(op) => self.channel_call(&op),
            Op::Product(op) => self.product_call(&op),
            op => self
                .identity_call(signer, op, now)
                .or_else(|op| self.ownership_call(op))
                .or_else(|op| self.rewards_call(op))
                .or_else(|op| self.wallets_call(signer, op))
                .unwrap_or_else(|op| self.market_call(op, now)),
        }
    }

    fn identity_call(&mut self, signer: usize, op: Op, now: u64) -> Result<Call, Op> {
        Ok(match op {
            Op::RegisterMaker { bond } => IdentityCall::RegisterMaker {
                name: "Fuzz Makers".into(),
                maker_key: Address::of(&PrivateKey::from_seed(900 + signer as u64).public_key()),
                bond,
            }
            .into(),
            Op::Onboard { serial } => {
                let certificate = self.f.certificate(serial);
                let id = certificate.device_id();
                let message = device::claim_message(CHAIN, &id, &self.addr(signer));
                let key = Fixture::device_key(serial);
                let claim_signature = key.sign(device::CLAIM_NAMESPACE, &message);
                self.keys.entry(id).or_insert(key);
                IdentityCall::OnboardDevice { certificate, claim_signature }.into()
            }
            Op::TransferDevice { device, to } => {
                IdentityCall::TransferDevice { device: self.device(device), to: self.addr(to) }
                    .into()
            }
            Op::RotateKey { device, seed } => {
                let id = self.device(device);
                let new = PrivateKey::from_seed(1_000 + seed * 10 + device as u64);
                let new_key = Address::of(&new.public_key());
                let d: Option<crate::modules::identity::state::Device> =
                    self.chain().state.get(&crate::modules::identity::keys::device(&id));
                let epoch = d.map_or(0, |d| d.key_epoch);
                let message = device::rotation_message(CHAIN, &id, &new_key, epoch);
                let signature = match self.keys.get(&id) {
                    Some(current) => current.sign(device::ROTATION_NAMESPACE, &message),
                    None => new.sign(device::ROTATION_NAMESPACE, &message),
                };
                // The rotation may fail; the runner learns the outcome from the state.
                self.keys.insert(Hash([0; 32]), new);
                IdentityCall::RotateKey { device: id, new_key, signature }.into()
            }
            Op::SetAttribute { device, value } => IdentityCall::SetAttribute {
                device: self.device(device),
                key: "city".into(),
                value: value.map(|v| ["berlin", "lagos", ""][v as usize].into()),
            }
            .into(),
            Op::Status { device, to } => {
                let device = self.device(device);
                match to {
                    0 => IdentityCall::Suspend { device },
                    1 => IdentityCall::Resume { device },
                    _ => IdentityCall::Decommission { device },
                }
                .into()
            }
            Op::GrantRole { device, to, role: r, expiry } => IdentityCall::GrantRole {
                device: self.device(device),
                account: self.addr(to),
                role: role(r),
                expiry_height: expiry,
            }
            .into(),
            Op::RevokeRole { device, to, role: r } => IdentityCall::RevokeRole {
                device: self.device(device),
                account: self.addr(to),
                role: role(r),
            }
            .into(),
            Op::AcceptRole { device, role: r } => {
                IdentityCall::AcceptRole { device: self.device(device), role: role(r) }.into()
            }
            Op::SlashMaker { amount, approve } => {
                let maker = self.addr(1);
                let record: Option<crate::modules::identity::state::Maker> =
                    self.chain().state.get(&crate::modules::identity::keys::maker(&maker));
                let slashed = record.map_or(0, |m| m.slashed);
                let validator = &self.chain().keys[0];
                let signed_amount = if approve { amount } else { amount.wrapping_add(1) };
                let message = slash_message(CHAIN, &maker, signed_amount, slashed);
                let approval = Approval {
                    validator: Address::of(&validator.public_key()),
                    signature: validator.sign(SLASH_NAMESPACE, &message),
                };
                IdentityCall::SlashMaker { maker, amount, approvals: vec![approval] }.into()
            }
            Op::Anchor { device, first, last, count } => {
                let id = self.device(device);
                let key = self.keys.get(&id).map(|k| Address::of(&k.public_key()));
                DataCall::Anchor {
                    device: id,
                    stream: 1,
                    first_seq: first,
                    last_seq: last,
                    count,
                    root: Hash([9; 32]),
                    device_key: key.unwrap_or(Address([1; 32])),
                }
                .into()
            }
            Op::AnchorNext { device, count } => {
                let id = self.device(device);
                let key = self.keys.get(&id).map(|k| Address::of(&k.public_key()));
                let stream: Option<StreamState> =
                    self.chain().state.get(&crate::modules::data::keys::stream(&id, 1));
                let first_seq = stream.and_then(|s| s.last_seq).map_or(0, |s| s.saturating_add(1));
                DataCall::Anchor {
                    device: id,
                    stream: 1,
                    first_seq,
                    last_seq: first_seq.saturating_add(u64::from(count) - 1),
                    count,
                    root: Hash([9; 32]),
                    device_key: key.unwrap_or(Address([1; 32])),
                }
                .into()
            }
            Op::CreateFeed { by, min_sources, staleness } => DataCall::CreateFeed {
                name: "fuzz feed".into(),
                stream: 1,
                eligibility: self.eligibility(by),
                min_sources,
                max_staleness_ms: staleness,
                unit: "C".into(),
                decimals: 1,
            }
            .into(),
            Op::ReportFeed { feed, device, seq, age, value } => {
                let id = self.device(device);
                let reading = Reading {
                    device: id,
                    stream: 1,
                    seq,
                    timestamp_ms: now.saturating_sub(age),
                    value: Value::Numeric { value, decimals: 1, unit: "C".into() },
                };
                let key = self.keys.get(&id).cloned().unwrap_or(PrivateKey::from_seed(5));
                let feed = feed.resolve(self.next_feed());
                DataCall::ReportFeed { feed, readings: vec![reading.sign(&key)] }.into()
            }
            Op::CloseFeed { feed } => {
                DataCall::CloseFeed { feed: feed.resolve(self.next_feed()) }.into()
            }
            other => return Err(other),
        })
    }

    /// An eligibility rule: the maker's devices, the devices listed, a role or an attribute.
    fn eligibility(&self, by: u8) -> Eligibility {
        match by {
            0 => Eligibility::Maker { maker: self.addr(1) },
            1 => Eligibility::Devices { devices: self.devices.clone() },
            2 => Eligibility::Role { role: "sensors".into() },
            _ => Eligibility::Attribute { key: "city".into(), value: "berlin".into() },
        }
    }

    fn rewards_call(&self, op: Op) -> Result<Call, Op> {
        let next = self.next_pool();
        Ok(match op {
            Op::CreatePool {
                asset,
                per_epoch,
                epochs,
                epoch_blocks,
                leases,
                by,
                min_reputation,
                max_work,
            } => RewardsCall::CreatePool {
                asset: asset.then(|| Id::Newest.resolve(self.next_asset())),
                per_epoch,
                epochs,
                epoch_blocks,
                work: match leases {
                    true => Work::LeasesDelivered {},
                    false => Work::AnchoredReadings { stream: 1 },
                },
                eligibility: self.eligibility(by),
                min_reputation,
                max_work_per_epoch: max_work,
            },
            Op::Enroll { pool, device } => {
                RewardsCall::Enroll { pool: pool.resolve(next), device: self.device(device) }
            }
            Op::ReportWork { pool, device } => {
                RewardsCall::Report { pool: pool.resolve(next), device: self.device(device) }
            }
            Op::ClaimReward { pool, epoch, device } => {
                let pool = pool.resolve(next);
                let epoch = epoch.unwrap_or_else(|| {
                    let p: Option<crate::modules::rewards::state::Pool> =
                        self.chain().state.get(&crate::modules::rewards::keys::pool(pool));
                    // The latest epoch whose reporting closed before the next block.
                    p.and_then(|p| {
                        let latest = p.epoch_at(self.chain().height + 1)?.checked_sub(2)?;
                        u32::try_from(latest.min(u64::from(p.epochs) - 1)).ok()
                    })
                    .unwrap_or(0)
                });
                RewardsCall::Claim { pool, epoch, device: self.device(device) }
            }
            Op::ClosePool { pool } => RewardsCall::Close { pool: pool.resolve(next) },
            other => return Err(other),
        }
        .into())
    }

    fn ownership(&self) -> crate::modules::ownership::state::Counters {
        let key = crate::modules::ownership::keys::counters();
        self.chain().state.get(&key).unwrap_or_default()
    }

    fn ownership_call(&self, op: Op) -> Result<Call, Op> {
        let c = self.ownership();
        let height = self.chain().height + 1;
        Ok(match op {
            Op::Tokenize { device, supply, retained, reserve_bps, own_rules } => {
                OwnershipCall::Tokenize {
                    devices: vec![self.device(device)],
                    symbol: "SHARE".into(),
                    name: "Fuzz machine".into(),
                    supply,
                    retained,
                    reserve_bps,
                    governance: own_rules.then_some(Governance { voting_blocks: 2, ..RULES }),
                }
            }
            Op::ClaimRevenue { machine } => {
                OwnershipCall::Claim { machine: machine.resolve(c.machine) }
            }
            Op::Configure { machine, reserve_bps } => OwnershipCall::Configure {
                machine: machine.resolve(c.machine),
                reserve_bps,
                governance: RULES,
            },
            Op::CreateOffering { machine, shares, price, min, buyer, blocks, tranches } => {
                let milestones = [
                    Milestone::Close {},
                    Milestone::DevicesActive {},
                    Milestone::FirstAnchor { stream: 1 },
                    Milestone::LeasesDelivered { count: 1 },
                ];
                let tranches = match tranches {
                    0 => vec![],
                    n => (0..n)
                        .map(|i| Tranche {
                            bps: if i + 1 == n { 10_000 - 1_000 * u16::from(n - 1) } else { 1_000 },
                            milestone: milestones[usize::from(i)],
                        })
                        .collect(),
                };
                let deadline = height.saturating_add(blocks);
                OwnershipCall::CreateOffering {
                    machine: machine.resolve(c.machine),
                    shares,
                    price,
                    asset: None,
                    min_shares: min,
                    buyer_min: buyer.0,
                    buyer_max: buyer.1,
                    deadline,
                    beneficiary: self.addr(2),
                    tranches,
                    milestones_by: deadline.saturating_add(4),
                }
            }
            Op::Buy { offering, shares } => {
                OwnershipCall::Buy { offering: offering.resolve(c.offering), shares }
            }
            Op::ReleaseTranche { offering, tranche } => {
                OwnershipCall::ReleaseTranche { offering: offering.resolve(c.offering), tranche }
            }
            Op::Propose { machine, action, amount, to } => {
                let machine = machine.resolve(c.machine);
                let m: Option<crate::modules::ownership::state::Machine> =
                    self.chain().state.get(&crate::modules::ownership::keys::machine(machine));
                let device = m.map_or(self.device(0), |m| m.devices[0]);
                let to = self.addr(to);
                let call: Call = match action {
                    0 => BankCall::Transfer { to, amount }.into(),
                    1 => {
                        OwnershipCall::Configure { machine, reserve_bps: 5_000, governance: RULES }
                            .into()
                    }
                    2 => IdentityCall::TransferDevice { device, to }.into(),
                    3 => IdentityCall::GrantRole {
                        device,
                        account: to,
                        role: "seller".into(),
                        expiry_height: None,
                    }
                    .into(),
                    _ => OwnershipCall::Claim { machine }.into(),
                };
                OwnershipCall::Propose { machine, calls: vec![call], description: Hash([4; 32]) }
            }
            Op::Vote { proposal, approve } => {
                OwnershipCall::Vote { proposal: proposal.resolve(c.proposal), approve }
            }
            Op::Execute { proposal } => {
                OwnershipCall::Execute { proposal: proposal.resolve(c.proposal) }
            }
            Op::CloseProposal { proposal } => {
                OwnershipCall::Close { proposal: proposal.resolve(c.proposal) }
            }
            Op::MintRight { device, kind: k, starts, length, units, to, price } => {
                let starts_ms = self.now().saturating_add(starts);
                OwnershipCall::MintRight {
                    device: self.device(device),
                    kind: kind(k),
                    starts_ms,
                    ends_ms: starts_ms.saturating_add(length),
                    units,
                    to: self.addr(to),
                    price,
                }
            }
            Op::ListRight { right, price } => {
                OwnershipCall::ListRight { right: right.resolve(self.next_nft()), price }
            }
            Op::BuyRight { right, max_price } => {
                OwnershipCall::BuyRight { right: right.resolve(self.next_nft()), max_price }
            }
            Op::UseRight { right, units } => {
                OwnershipCall::UseRight { right: right.resolve(self.next_nft()), units }
            }
            Op::MintDataAsset { device, stream, to } => OwnershipCall::MintDataAsset {
                device: self.device(device),
                stream,
                to: self.addr(to),
            },
            other => return Err(other),
        }
        .into())
    }

    fn market_call(&self, op: Op, now: u64) -> Call {
        let stake_kind = |solver| if solver { StakeKind::Solver } else { StakeKind::Provider };
        let next_lease = self.counters().next_lease;
        match op {
            Op::Stake { solver, amount } => MarketCall::Stake { kind: stake_kind(solver), amount },
            Op::Unbond { solver, amount } => {
                MarketCall::Unbond { kind: stake_kind(solver), amount }
            }
            Op::Withdraw { solver } => MarketCall::Withdraw { kind: stake_kind(solver) },
            Op::Offer { device, kind: k, capacity, floor, expiry, feed } => {
                let kind = kind(k);
                let delivery = match (&kind, feed) {
                    (ResourceKind::Actuation { .. }, _) => Delivery::DeviceAck,
                    (_, Some(feed)) => Delivery::Feed {
                        feed: feed.resolve(self.next_feed()),
                        comparison: Comparison::AtMost,
                        threshold: 250,
                    },
                    (_, None) => Delivery::Receipt,
                };
                MarketCall::Offer {
                    device: self.device(device),
                    kind,
                    region: "u33d".into(),
                    capacity,
                    floor_price: floor,
                    delivery,
                    expiry_ms: now.saturating_add(expiry),
                }
            }
            Op::CloseOffer { offer } => {
                MarketCall::CloseOffer { offer: offer.resolve(self.counters().next_offer) }
            }
            Op::Intent { kind: k, bundle, units, max_price, deadline, partial } => {
                let mut components = vec![Component { kind: kind(k), quantity: 1 }];
                if bundle {
                    components.push(Component { kind: kind(k + 1), quantity: 2 });
                }
                MarketCall::Intent {
                    region: "u33d".into(),
                    components,
                    units,
                    max_price,
                    deadline_ms: now.saturating_add(deadline),
                    min_reputation: 0,
                    partial,
                }
            }
            Op::Cancel { intent } => {
                MarketCall::Cancel { intent: intent.resolve(self.counters().next_intent) }
            }
            Op::Solve { late, price, fills } => {
                let batch = self.chain().height.div_ceil(INTERVAL) + u64::from(late);
                let prices = (0..4)
                    .map(|k| MarketPrice { market: market_id(&kind(k), "u33d"), price })
                    .take(1 + (price % 4) as usize)
                    .collect();
                let c = self.counters();
                let fills = fills
                    .into_iter()
                    .map(|(intent, offer, units)| Fill {
                        intent: intent.resolve(c.next_intent),
                        offer: offer.resolve(c.next_offer),
                        units,
                    })
                    .collect();
                MarketCall::Solve { batch, prices, fills }
            }
            Op::Confirm { lease } => MarketCall::Confirm { lease: lease.resolve(next_lease) },
            Op::Receipt { lease, by } => {
                let lease = lease.resolve(next_lease);
                let key = &self.chain().keys[by];
                let signature = key.sign(RECEIPT_NAMESPACE, &receipt_message(CHAIN, lease));
                MarketCall::Deliver { lease, proof: DeliveryProof::ConsumerReceipt { signature } }
            }
            Op::Ack { lease, valid } => {
                let lease = lease.resolve(next_lease);
                let l = self.lease(lease);
                let command = match l.as_ref().map(|l| &l.kind) {
                    Some(ResourceKind::Actuation { command }) if valid => command.clone(),
                    _ => "open".into(),
                };
                let key = l
                    .and_then(|l| self.keys.get(&l.device).cloned())
                    .unwrap_or(PrivateKey::from_seed(6));
                let signature = key.sign(ACK_NAMESPACE, &ack_message(CHAIN, lease, &command));
                MarketCall::Deliver { lease, proof: DeliveryProof::DeviceAck { signature } }
            }
            Op::Claim { lease } => MarketCall::Claim { lease: lease.resolve(next_lease) },
            Op::Dispute { lease } => MarketCall::Dispute { lease: lease.resolve(next_lease) },
            other => unreachable!("not a market op: {other:?}"),
        }
        .into()
    }

    /// The account that signs: for [`SignedBy::Owner`], the owner of the device the op names.
    fn signer(&self, signer: SignedBy, op: &Op) -> usize {
        let (fallback, device) = match signer {
            SignedBy::Account(i) => return i,
            SignedBy::Owner(i) => (i, op_device(op)),
            SignedBy::Sponsor => {
                let newest = Id::Newest.resolve(self.ownership().machine);
                let m: Option<crate::modules::ownership::state::Machine> =
                    self.chain().state.get(&crate::modules::ownership::keys::machine(newest));
                let sponsor = m.map(|m| m.sponsor);
                return sponsor
                    .and_then(|s| (0..ACCOUNTS).find(|i| self.addr(*i) == s))
                    .unwrap_or(2);
            }
        };
        let owner = device.and_then(|d| {
            let id = self.device(d);
            let d: Option<crate::modules::identity::state::Device> =
                self.chain().state.get(&crate::modules::identity::keys::device(&id));
            d.map(|d| d.owner)
        });
        owner.and_then(|o| (0..ACCOUNTS).find(|i| self.addr(*i) == o)).unwrap_or(fallback)
    }

    /// Learns each device's current key from the state (after rotations).
    fn sync_keys(&mut self) {
        let rotated = self.keys.remove(&Hash([0; 32]));
        let ids: Vec<Hash> = self.keys.keys().copied().collect();
        for id in ids {
            let d: Option<crate::modules::identity::state::Device> =
                self.chain().state.get(&crate::modules::identity::keys::device(&id));
            let Some(d) = d else { continue };
            if Address::of(&self.keys[&id].public_key()) != d.current_key()
                && let Some(new) =
                    rotated.as_ref().filter(|k| Address::of(&k.public_key()) == d.current_key())
            {
                self.keys.insert(id, new.clone());
            }
        }
    }

    /// Counts the rewards milestones among `events`.
    fn count_rewards(&mut self, events: &[Event]) {
        for e in events {
            let Event::Rewards(e) = e else { continue };
            let counter = match e {
                RewardsEvent::PoolCreated { .. } => &POOLS,
                RewardsEvent::Paid { pool, amount, .. } if *amount > 0 => {
                    if self.paid_pools.insert(*pool) {
                        POOLS_PAID.fetch_add(1, Ordering::Relaxed);
                    }
                    &REWARDS_PAID
                }
                RewardsEvent::Closed { .. } => &POOLS_CLOSED,
                _ => continue,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Runs one block of the sequence and checks that nothing hit a broken invariant.
    fn block(&mut self, ops: &BlockOps) -> Result<(), TestCaseError> {
        self.f.chain.wait(ops.advance_ms);
        let mut nonces: BTreeMap<usize, u64> = BTreeMap::new();
        let mut txs = Vec::new();
        for (signer, calls) in &ops.txs {
            let signer = self.signer(*signer, &calls[0]);
            let signer = &signer;
            let calls: Vec<Call> = calls.iter().map(|op| self.call(*signer, op)).collect();
            let nonce = nonces
                .entry(*signer)
                .or_insert_with(|| self.f.chain.account(&self.f.chain.addr(*signer)).nonce);
            txs.push(self.f.chain.tx_with_nonce(*signer, *nonce, calls));
            *nonce += 1;
            CALLS.fetch_add(txs.last().map_or(0, |t| t.tx.calls.len() as u64), Ordering::Relaxed);
        }
        let results = self.f.chain.block(txs);
        for result in &results {
            if let Applied::Included(r) = result
                && r.outcome == Outcome::Success
            {
                SUCCEEDED.fetch_add(1, Ordering::Relaxed);
                count_ownership(&r.events);
                self.count_rewards(&r.events);
                channels::count(&r.events);
                products::count(&r.events);
                wallets::count(&r.events);
            }
            if let Applied::Included(r) = result {
                prop_assert!(
                    !matches!(r.outcome, Outcome::Failed { code: ErrorCode::Internal, .. }),
                    "a call hit a broken invariant at height {}: {:?}",
                    self.chain().height,
                    r
                );
            }
        }
        count_ownership(&self.chain().block_events);
        for event in &self.chain().block_events {
            if let Event::Market(MarketEvent::MarketCleared { leases, .. }) = event {
                LEASES.fetch_add(u64::from(*leases), Ordering::Relaxed);
            }
            prop_assert!(
                !matches!(
                    event,
                    Event::BlockStepFailed { .. }
                        | Event::Market(MarketEvent::SettlementFailed { .. })
                ),
                "a block-level step failed at height {}: {event:?}",
                self.chain().height
            );
        }
        self.sync_keys();
        Ok(())
    }
}

/// The device an op names, if any.
fn op_device(op: &Op) -> Option<usize> {
    match op {
        Op::TransferDevice { device, .. }
        | Op::RotateKey { device, .. }
        | Op::SetAttribute { device, .. }
        | Op::Status { device, .. }
        | Op::GrantRole { device, .. }
        | Op::RevokeRole { device, .. }
        | Op::AcceptRole { device, .. }
        | Op::Anchor { device, .. }
        | Op::ReportFeed { device, .. }
        | Op::Offer { device, .. }
        | Op::Tokenize { device, .. }
        | Op::MintRight { device, .. }
        | Op::MintDataAsset { device, .. }
        | Op::AnchorNext { device, .. } => Some(*device),
        Op::Product(op) => products::device(op),
        _ => None,
    }
}

/// Runs a sequence on a fresh chain, then empty blocks that reach the next batch end, a
/// dispute window's end and every deadline, so that what the sequence left open clears and
/// settles; returns the final state.
fn run(blocks: &[BlockOps]) -> Result<MemState, TestCaseError> {
    let mut run = Run::new();
    for ops in blocks {
        run.block(ops)?;
    }
    let tail = [0, 0, 0, 31_000, 0, market::TERM_MAX_MS, 0, 0];
    for advance_ms in tail {
        run.block(&BlockOps { advance_ms, txs: Vec::new() })?;
    }
    Ok(run.f.chain.state)
}

fn cases() -> u32 {
    std::env::var("MACHINA_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)
}

#[test]
fn random_calls_with_boundary_values_never_break_an_invariant_and_replay_identically() {
    let config = ProptestConfig { cases: cases(), max_shrink_iters: 2_000, ..Default::default() };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let calls_before = CALLS.load(Ordering::Relaxed);
    let result = runner.run(&proptest::collection::vec(block(), 1..40), |blocks| {
        let first = run(&blocks)?;
        let second = run(&blocks)?;
        prop_assert!(first == second, "the same sequence reached two different states");
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    // Each sequence ran twice.
    let calls = (CALLS.load(Ordering::Relaxed) - calls_before) / 2;
    let succeeded = SUCCEEDED.load(Ordering::Relaxed) / 2;
    let leases = LEASES.load(Ordering::Relaxed) / 2;
    let [machines, offerings, executed] =
        [&MACHINES, &OFFERINGS_CLOSED, &EXECUTED].map(|c| c.load(Ordering::Relaxed) / 2);
    let [pools, pools_paid, rewards, pools_closed] =
        [&POOLS, &POOLS_PAID, &REWARDS_PAID, &POOLS_CLOSED].map(|c| c.load(Ordering::Relaxed) / 2);
    let [opened, payments, closed] = [&channels::OPENED, &channels::PAYMENTS, &channels::CLOSED]
        .map(|c| c.load(Ordering::Relaxed) / 2);
    let [listed, subscribed, ended, keys] =
        [&products::LISTED, &products::SUBSCRIBED, &products::ENDED, &products::KEYS]
            .map(|c| c.load(Ordering::Relaxed) / 2);
    eprintln!(
        "state-machine fuzzer: {} sequences, {calls} calls ({succeeded} transactions succeeded, \
         {leases} leases made, {machines} machines tokenized, {offerings} offerings closed, \
         {executed} proposals executed, {pools} reward pools created, {pools_paid} pools paid \
         ({rewards} rewards), {pools_closed} pools closed, {opened} channels opened, \
         {payments} channel payments, {closed} channels closed, {listed} products listed, \
         {subscribed} subscriptions, {ended} ended early, {keys} key publications), no \
         invariant broken",
        cases()
    );
    wallets::report();
    assert!(calls > 0);
}
