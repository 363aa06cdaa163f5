//! The market's routes: the batch schedule and totals, markets and their books, leases,
//! stakes and solutions. Offers, intents and leases by id answer the
//! [`machina_types::market::state`] records themselves.

use machina_types::{
    Address,
    market::{
        MarketId,
        params::MarketParams,
        state::{Intent, Lease, MarketRecord, Offer, Solution, Stake, Totals},
    },
};
use serde::{Deserialize, Serialize};

/// `GET /v1/market`: the batch schedule, parameters, totals and the active markets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarketOverview {
    /// Latest finalized height.
    pub height: u64,
    /// The current batch (height / auction interval).
    pub batch: u64,
    /// Height at which the current batch clears.
    pub next_clearing_height: u64,
    /// Market parameters.
    pub params: MarketParams,
    /// Markets with open orders.
    pub markets: Vec<MarketSummary>,
    /// Value totals.
    pub totals: Totals,
    /// Offers ever placed.
    pub offers: u64,
    /// Intents ever placed.
    pub intents: u64,
    /// Leases ever made.
    pub leases: u64,
}

/// A market: one resource kind in one region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarketSummary {
    /// Its id (the hash of kind and region).
    pub id: MarketId,
    /// The resource kind (`data`, `compute`, ..., `actuation:<command>`, `custom:<name>`).
    pub kind: String,
    /// The region (a geohash prefix).
    pub region: String,
    /// Book positions of intents (open or freed, not yet passed).
    pub intent_slots: u64,
    /// Book positions of offers.
    pub offer_slots: u64,
    /// Price of the last batch that traded.
    pub last_price: Option<u64>,
    /// The last batch that traded.
    pub last_batch: Option<u64>,
    /// Units traded so far.
    pub volume: u64,
}

impl From<&MarketRecord> for MarketSummary {
    fn from(record: &MarketRecord) -> Self {
        Self {
            id: record.id,
            kind: record.kind.to_string(),
            region: record.region.clone(),
            intent_slots: record.intents.len(),
            offer_slots: record.offers.len(),
            last_price: record.last_price,
            last_batch: record.last_batch,
            volume: record.volume,
        }
    }
}

/// `GET /v1/markets/{id}`: a market and its open book: intents (highest limit first) and
/// offers (lowest floor first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarketBook {
    /// The market.
    #[serde(flatten)]
    pub market: MarketSummary,
    /// Open intents, highest limit first.
    pub intents: Vec<Intent>,
    /// Open offers, lowest floor first.
    pub offers: Vec<BookOffer>,
}

/// An open offer in a book, with what a buyer weighs it by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BookOffer {
    /// The offer.
    #[serde(flatten)]
    pub offer: Offer,
    /// The offering device's reputation (0-100), null if the device is gone.
    pub reputation: Option<u8>,
    /// Units of the offer's kind the device's usage rights keep from the market now.
    pub reserved: u64,
    /// Whether the seller may sell now: its device is active, its stake bonded, and not all
    /// its units are reserved.
    pub saleable: bool,
}

/// Query of `GET /v1/accounts/{address}/leases`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeasesQuery {
    /// Most leases (default 50; more than [`LEASES_PER_QUERY_MAX`] count as that many).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// Most leases one query lists.
pub const LEASES_PER_QUERY_MAX: u64 = 500;
/// Leases a query lists when it names no limit.
pub const LEASES_PER_QUERY_DEFAULT: u64 = 50;

/// `GET /v1/accounts/{address}/leases`: the account's leases, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountLeases {
    /// The account.
    pub account: Address,
    /// Leases it ever took part in.
    pub total: u64,
    /// The most recent ones, newest first.
    pub leases: Vec<Lease>,
}

/// `GET /v1/accounts/{address}/stake`: provider and solver stake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountStake {
    /// The account.
    pub account: Address,
    /// Stake as a provider (needed to sell).
    pub provider: Stake,
    /// Stake as a solver (needed to submit solutions).
    pub solver: Stake,
}

/// `GET /v1/market/batches/{batch}/solutions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Solutions {
    /// The batch.
    pub batch: u64,
    /// Solutions submitted for it, in submission order.
    pub solutions: Vec<Solution>,
}
