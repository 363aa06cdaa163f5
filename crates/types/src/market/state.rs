//! The market module's stored values.

use crate::{
    Address, Amount, DeviceId, Hash, Height,
    market::{
        BatchId, COMPONENTS_MAX, Component, Delivery, Fill, IntentId, LeaseId, MarketId,
        MarketPrice, OfferId, REGION_LEN_MAX, ResourceKind, SOLUTION_FILLS_MAX,
        SOLUTION_MARKETS_MAX,
    },
    struct_codec,
};
use commonware_codec::{Buf, EncodeSize, Error, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};

/// An account's stake of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Stake {
    /// Bonded (counts toward the minimum; slashable).
    pub bonded: Amount,
    /// Unbonding (slashable until withdrawn).
    pub unbonding: Amount,
    /// Height from which the unbonding amount can be withdrawn.
    pub release_height: Height,
    /// Provider stake held back as the potential slash of the account's open leases: it
    /// cannot be unbonded until they settle.
    pub locked: Amount,
}

struct_codec!(Stake { bonded: plain, unbonding: plain, release_height: plain, locked: plain });

impl Stake {
    /// Bonded stake that may be unbonded now.
    pub fn free(&self) -> Amount {
        self.bonded.saturating_sub(self.locked)
    }
}

/// Where an order stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// In the book.
    Open,
    /// Completely filled (intent) or sold out (offer).
    Filled,
    /// Cancelled (intent) or closed (offer) by its poster.
    Cancelled,
    /// Its deadline (intent) or expiry (offer) passed.
    Expired,
}

impl Write for OrderStatus {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        (*self as u8).write(buf);
    }
}

impl EncodeSize for OrderStatus {
    fn encode_size(&self) -> usize {
        1
    }
}

impl Read for OrderStatus {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(match u8::read(buf)? {
            0 => Self::Open,
            1 => Self::Filled,
            2 => Self::Cancelled,
            3 => Self::Expired,
            tag => return Err(Error::InvalidEnum(tag)),
        })
    }
}

/// An offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Offer {
    /// Its id.
    pub id: OfferId,
    /// Who listed it (and is paid).
    pub seller: Address,
    /// The providing device.
    pub device: DeviceId,
    /// The resource.
    pub kind: ResourceKind,
    /// Where.
    pub region: String,
    /// Its market.
    pub market: MarketId,
    /// Units still for sale.
    pub capacity: u64,
    /// Units sold so far.
    pub sold: u64,
    /// Lowest price per unit.
    pub floor_price: Amount,
    /// How delivery is proven.
    pub delivery: Delivery,
    /// When it lapses (block time, ms).
    pub expiry_ms: u64,
    /// Where it stands.
    pub status: OrderStatus,
    /// Height it was posted at.
    pub created_height: Height,
    /// Its position in the market's book.
    pub slot: u64,
    /// Orders equal in price are taken in order of this hash (of the transaction that
    /// posted it), never in arrival order.
    pub tiebreak: Hash,
    /// Deposit held while the offer is open, returned when it closes.
    pub deposit: Amount,
}

struct_codec!(Offer {
    id: plain,
    seller: plain,
    device: plain,
    kind: plain,
    region: str(REGION_LEN_MAX),
    market: plain,
    capacity: plain,
    sold: plain,
    floor_price: plain,
    delivery: plain,
    expiry_ms: plain,
    status: plain,
    created_height: plain,
    slot: plain,
    tiebreak: plain,
    deposit: plain,
});

/// An intent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Intent {
    /// Its id.
    pub id: IntentId,
    /// Who asks (and pays).
    pub consumer: Address,
    /// Where.
    pub region: String,
    /// The resources per unit.
    pub components: Vec<Component>,
    /// The market of the first component (whose book holds the intent).
    pub market: MarketId,
    /// Units still wanted.
    pub units: u64,
    /// Units filled so far.
    pub filled: u64,
    /// Most paid per unit.
    pub max_price: Amount,
    /// Delivery deadline (block time, ms).
    pub deadline_ms: u64,
    /// Lowest provider reputation accepted (percent).
    pub min_reputation: u8,
    /// Whether it may be filled in part.
    pub partial: bool,
    /// Escrow still held for the units still wanted (`units * max_price`).
    pub escrow: Amount,
    /// Where it stands.
    pub status: OrderStatus,
    /// Height it was posted at.
    pub created_height: Height,
    /// Its position in the market's book.
    pub slot: u64,
    /// Tie-break among equal limits (see [`Offer::tiebreak`]).
    pub tiebreak: Hash,
    /// Deposit held while the intent is open, returned when it closes.
    pub deposit: Amount,
}

struct_codec!(Intent {
    id: plain,
    consumer: plain,
    region: str(REGION_LEN_MAX),
    components: vec(COMPONENTS_MAX),
    market: plain,
    units: plain,
    filled: plain,
    max_price: plain,
    deadline_ms: plain,
    min_reputation: plain,
    partial: plain,
    escrow: plain,
    status: plain,
    created_height: plain,
    slot: plain,
    tiebreak: plain,
    deposit: plain,
});

impl Intent {
    /// Whether the built-in clearing can fill it: one resource, one unit of it per unit.
    pub fn is_simple(&self) -> bool {
        self.components.len() == 1 && self.components[0].quantity == 1
    }
}

/// A range of book positions: `head..tail`, oldest first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Slots {
    /// First position that may still hold an order.
    pub head: u64,
    /// Next position to fill.
    pub tail: u64,
}

struct_codec!(Slots { head: plain, tail: plain });

impl Slots {
    /// Positions in use or freed but not yet passed by `head`.
    pub fn len(&self) -> u64 {
        self.tail - self.head
    }

    /// Whether no position is in use.
    pub fn is_empty(&self) -> bool {
        self.head == self.tail
    }
}

/// A market: one resource kind in one region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct MarketRecord {
    /// Its id.
    pub id: MarketId,
    /// The resource.
    pub kind: ResourceKind,
    /// The region.
    pub region: String,
    /// Book positions of intents.
    pub intents: Slots,
    /// Book positions of offers.
    pub offers: Slots,
    /// Price of the last batch that traded.
    pub last_price: Option<Amount>,
    /// The last batch that traded.
    pub last_batch: Option<BatchId>,
    /// Units traded so far.
    pub volume: u64,
}

struct_codec!(MarketRecord {
    id: plain,
    kind: plain,
    region: str(REGION_LEN_MAX),
    intents: plain,
    offers: plain,
    last_price: plain,
    last_batch: plain,
    volume: plain,
});

/// Where a lease stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LeaseStatus {
    /// Awaiting delivery.
    Active,
    /// The seller claimed delivery at `at_ms`; the consumer may dispute until the window
    /// closes.
    Claimed {
        /// When (block time, ms).
        at_ms: u64,
    },
    /// The consumer disputed the seller's claim; the lease's feed condition decides at the
    /// deadline.
    Disputed,
    /// Delivered: the seller was paid.
    Delivered,
    /// Not delivered: the consumer was refunded.
    Refunded,
}

impl LeaseStatus {
    /// Whether the lease is still awaiting settlement.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Active | Self::Claimed { .. } | Self::Disputed)
    }
}

impl Write for LeaseStatus {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        match self {
            Self::Active => 0u8.write(buf),
            Self::Claimed { at_ms } => {
                1u8.write(buf);
                at_ms.write(buf);
            }
            Self::Delivered => 2u8.write(buf),
            Self::Refunded => 3u8.write(buf),
            Self::Disputed => 4u8.write(buf),
        }
    }
}

impl EncodeSize for LeaseStatus {
    fn encode_size(&self) -> usize {
        1 + if matches!(self, Self::Claimed { .. }) { 8 } else { 0 }
    }
}

impl Read for LeaseStatus {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(match u8::read(buf)? {
            0 => Self::Active,
            1 => Self::Claimed { at_ms: u64::read(buf)? },
            2 => Self::Delivered,
            3 => Self::Refunded,
            4 => Self::Disputed,
            tag => return Err(Error::InvalidEnum(tag)),
        })
    }
}

/// A lease: units of an offer sold to an intent, with their payment in escrow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Lease {
    /// Its id.
    pub id: LeaseId,
    /// The intent.
    pub intent: IntentId,
    /// The offer.
    pub offer: OfferId,
    /// The batch that made it.
    pub batch: BatchId,
    /// Who pays.
    pub consumer: Address,
    /// Who is paid.
    pub seller: Address,
    /// The providing device.
    pub device: DeviceId,
    /// The resource.
    pub kind: ResourceKind,
    /// Units.
    pub units: u64,
    /// Price per unit.
    pub price: Amount,
    /// Held until settlement (`units * price`).
    pub escrow: Amount,
    /// How delivery is proven.
    pub delivery: Delivery,
    /// Delivery deadline (block time, ms).
    pub deadline_ms: u64,
    /// Where it stands.
    pub status: LeaseStatus,
    /// Height it was made at.
    pub created_height: Height,
    /// Height it was settled at.
    pub settled_height: Option<Height>,
}

struct_codec!(Lease {
    id: plain,
    intent: plain,
    offer: plain,
    batch: plain,
    consumer: plain,
    seller: plain,
    device: plain,
    kind: plain,
    units: plain,
    price: plain,
    escrow: plain,
    delivery: plain,
    deadline_ms: plain,
    status: plain,
    created_height: plain,
    settled_height: plain,
});

/// A solution submitted for a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Solution {
    /// Who submitted it.
    pub solver: Address,
    /// Uniform prices of the markets it trades in.
    pub prices: Vec<MarketPrice>,
    /// The allocation.
    pub fills: Vec<Fill>,
    /// Tie-break among equal surpluses.
    pub tiebreak: Hash,
}

struct_codec!(Solution {
    solver: plain,
    prices: vec(SOLUTION_MARKETS_MAX),
    fills: vec(SOLUTION_FILLS_MAX),
    tiebreak: plain,
});

/// The solutions a batch keeps: one per solver, the best [`SOLUTIONS_PER_BATCH_MAX`] by
/// surplus when submitted; entry `i` describes the solution stored at index `i`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct SolutionIndex {
    /// The solver and surplus of each stored solution.
    pub entries: Vec<SolutionEntry>,
}

/// One stored solution of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct SolutionEntry {
    /// Who submitted it.
    pub solver: Address,
    /// Its surplus when submitted (a decimal string in JSON).
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub surplus: u128,
}

/// Solutions a batch keeps.
pub const SOLUTIONS_PER_BATCH_MAX: usize = 16;

struct_codec!(SolutionEntry { solver: plain, surplus: plain });
struct_codec!(SolutionIndex { entries: vec(SOLUTIONS_PER_BATCH_MAX) });

/// Where the settlement of due leases has got to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct DueCursor {
    /// The second (block time) whose due leases are being settled.
    pub second: u64,
    /// How many of that second's leases are settled.
    pub offset: u64,
}

struct_codec!(DueCursor { second: plain, offset: plain });

/// Running totals of value through the market (decimal strings in JSON); conservation holds
/// between them:
/// `escrowed = paid + fees + refunded + solver_rewards + (escrow held)`,
/// `staked = withdrawn + slashed + (stake held)` and
/// `deposited = deposits_returned + (deposits held)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Totals {
    /// Escrowed by consumers.
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub escrowed: u128,
    /// Paid to sellers.
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub paid: u128,
    /// Protocol fees.
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub fees: u128,
    /// Returned to consumers (cancellations, lapsed units, savings, refunds).
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub refunded: u128,
    /// Paid to solvers.
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub solver_rewards: u128,
    /// Bonded as stake.
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub staked: u128,
    /// Withdrawn from stake.
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub withdrawn: u128,
    /// Slashed from stake.
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub slashed: u128,
    /// Order deposits taken.
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub deposited: u128,
    /// Order deposits returned.
    #[serde(with = "crate::codec::u128_string")]
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
    pub deposits_returned: u128,
}

struct_codec!(Totals {
    escrowed: plain,
    paid: plain,
    fees: plain,
    refunded: plain,
    solver_rewards: plain,
    staked: plain,
    withdrawn: plain,
    slashed: plain,
    deposited: plain,
    deposits_returned: plain,
});

/// The ids the next offer, intent and lease get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Counters {
    /// Next offer id.
    pub next_offer: OfferId,
    /// Next intent id.
    pub next_intent: IntentId,
    /// Next lease id.
    pub next_lease: LeaseId,
}

impl Default for Counters {
    fn default() -> Self {
        Self { next_offer: 1, next_intent: 1, next_lease: 1 }
    }
}

struct_codec!(Counters { next_offer: plain, next_intent: plain, next_lease: plain });

/// Most markets with open orders at once.
pub const ACTIVE_MARKETS_MAX: usize = 1024;

/// The markets with orders in their books.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ActiveMarkets {
    /// Their ids, in the order they became active.
    pub markets: Vec<MarketId>,
}

struct_codec!(ActiveMarkets { markets: vec(ACTIVE_MARKETS_MAX) });

/// Leases in one page of a second's due list.
pub const DUE_PAGE_LEN: u64 = 4096;

/// A page of the leases due in one second.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct DuePage {
    /// The leases, in the order they were added.
    pub leases: Vec<LeaseId>,
}

struct_codec!(DuePage { leases: vec(DUE_PAGE_LEN as usize) });
