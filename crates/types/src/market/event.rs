//! The market module's events.

use super::*;

/// Something the market module did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum MarketEvent {
    /// Stake was bonded.
    Staked {
        /// The account.
        account: crate::Address,
        /// Which stake.
        kind: StakeKind,
        /// Amount.
        amount: Amount,
    },
    /// Stake started unbonding.
    Unbonding {
        /// The account.
        account: crate::Address,
        /// Which stake.
        kind: StakeKind,
        /// Amount.
        amount: Amount,
        /// Height from which it can be withdrawn.
        release_height: u64,
    },
    /// Unbonded stake was withdrawn.
    Withdrawn {
        /// The account.
        account: crate::Address,
        /// Which stake.
        kind: StakeKind,
        /// Amount.
        amount: Amount,
    },
    /// An offer was posted.
    OfferPosted {
        /// The offer.
        offer: OfferId,
        /// Its market.
        market: MarketId,
        /// The providing device.
        device: DeviceId,
        /// The seller.
        seller: crate::Address,
    },
    /// An offer was closed by its seller.
    OfferClosed {
        /// The offer.
        offer: OfferId,
    },
    /// An intent was posted and its maximum cost escrowed.
    IntentPosted {
        /// The intent.
        intent: IntentId,
        /// The market of its first component.
        market: MarketId,
        /// The consumer.
        consumer: crate::Address,
        /// Escrowed.
        escrow: Amount,
    },
    /// An intent was cancelled and its remaining escrow returned.
    IntentCancelled {
        /// The intent.
        intent: IntentId,
        /// Returned.
        refund: Amount,
    },
    /// A solution was accepted for consideration at the batch's end.
    SolutionSubmitted {
        /// The batch.
        batch: BatchId,
        /// The solver.
        solver: crate::Address,
        /// Its total surplus when submitted (a decimal string in JSON).
        #[serde(with = "crate::codec::u128_string")]
        #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::u128_string))]
        surplus: u128,
    },
    /// A market cleared: leases `first_lease .. first_lease + leases` were made at `price`.
    MarketCleared {
        /// The batch.
        batch: BatchId,
        /// The market.
        market: MarketId,
        /// The uniform price per unit.
        price: Amount,
        /// Units traded.
        units: u64,
        /// The first lease made.
        first_lease: LeaseId,
        /// Leases made.
        leases: u32,
        /// The solver whose solution cleared it (none: the built-in clearing).
        solver: Option<crate::Address>,
    },
    /// A seller claimed delivery; the dispute window opened.
    Claimed {
        /// The lease.
        lease: LeaseId,
    },
    /// A consumer disputed a claimed delivery.
    Disputed {
        /// The lease.
        lease: LeaseId,
    },
    /// A lease was delivered: the seller (or, for a tokenized device, its machine's
    /// treasury) was paid.
    Delivered {
        /// The lease.
        lease: LeaseId,
        /// Who was paid.
        to: crate::Address,
        /// Paid.
        paid: Amount,
        /// Protocol fee.
        fee: Amount,
    },
    /// A lease was not delivered: the consumer was refunded and the seller slashed.
    Refunded {
        /// The lease.
        lease: LeaseId,
        /// Returned to the consumer.
        refund: Amount,
        /// Taken from the seller's provider stake.
        slashed: Amount,
    },
    /// A due lease could not be settled (a broken invariant): it was passed over and stays
    /// open; the other settlements went on.
    SettlementFailed {
        /// The lease.
        lease: LeaseId,
        /// Why.
        code: ErrorCode,
    },
    /// An open offer's floor price or capacity changed.
    OfferAmended {
        /// The offer.
        offer: OfferId,
        /// Its floor price now.
        floor_price: Amount,
        /// The units it may still sell.
        capacity: u64,
    },
}

crate::enum_codec!(MarketEvent {
    0 => Staked { account: plain, kind: plain, amount: plain },
    1 => Unbonding { account: plain, kind: plain, amount: plain, release_height: plain },
    2 => Withdrawn { account: plain, kind: plain, amount: plain },
    3 => OfferPosted { offer: plain, market: plain, device: plain, seller: plain },
    4 => OfferClosed { offer: plain },
    5 => IntentPosted { intent: plain, market: plain, consumer: plain, escrow: plain },
    6 => IntentCancelled { intent: plain, refund: plain },
    7 => SolutionSubmitted { batch: plain, solver: plain, surplus: plain },
    8 => MarketCleared {
        batch: plain,
        market: plain,
        price: plain,
        units: plain,
        first_lease: plain,
        leases: plain,
        solver: plain,
    },
    9 => Claimed { lease: plain },
    10 => Disputed { lease: plain },
    11 => Delivered { lease: plain, to: plain, paid: plain, fee: plain },
    12 => Refunded { lease: plain, refund: plain, slashed: plain },
    13 => SettlementFailed { lease: plain, code: plain },
    14 => OfferAmended { offer: plain, floor_price: plain, capacity: plain },
});
