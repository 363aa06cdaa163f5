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
    /// A lease was delivered: the seller was paid.
    Delivered {
        /// The lease.
        lease: LeaseId,
        /// Paid to the seller.
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
}

impl Write for MarketEvent {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        match self {
            Self::Staked { account, kind, amount } => {
                0u8.write(buf);
                account.write(buf);
                kind.write(buf);
                amount.write(buf);
            }
            Self::Unbonding { account, kind, amount, release_height } => {
                1u8.write(buf);
                account.write(buf);
                kind.write(buf);
                amount.write(buf);
                release_height.write(buf);
            }
            Self::Withdrawn { account, kind, amount } => {
                2u8.write(buf);
                account.write(buf);
                kind.write(buf);
                amount.write(buf);
            }
            Self::OfferPosted { offer, market, device, seller } => {
                3u8.write(buf);
                offer.write(buf);
                market.write(buf);
                device.write(buf);
                seller.write(buf);
            }
            Self::OfferClosed { offer } => {
                4u8.write(buf);
                offer.write(buf);
            }
            Self::IntentPosted { intent, market, consumer, escrow } => {
                5u8.write(buf);
                intent.write(buf);
                market.write(buf);
                consumer.write(buf);
                escrow.write(buf);
            }
            Self::IntentCancelled { intent, refund } => {
                6u8.write(buf);
                intent.write(buf);
                refund.write(buf);
            }
            Self::SolutionSubmitted { batch, solver, surplus } => {
                7u8.write(buf);
                batch.write(buf);
                solver.write(buf);
                surplus.write(buf);
            }
            Self::MarketCleared { batch, market, price, units, first_lease, leases, solver } => {
                8u8.write(buf);
                batch.write(buf);
                market.write(buf);
                price.write(buf);
                units.write(buf);
                first_lease.write(buf);
                leases.write(buf);
                solver.write(buf);
            }
            Self::Claimed { lease } => {
                9u8.write(buf);
                lease.write(buf);
            }
            Self::Disputed { lease } => {
                10u8.write(buf);
                lease.write(buf);
            }
            Self::Delivered { lease, paid, fee } => {
                11u8.write(buf);
                lease.write(buf);
                paid.write(buf);
                fee.write(buf);
            }
            Self::Refunded { lease, refund, slashed } => {
                12u8.write(buf);
                lease.write(buf);
                refund.write(buf);
                slashed.write(buf);
            }
            Self::SettlementFailed { lease, code } => {
                13u8.write(buf);
                lease.write(buf);
                code.write(buf);
            }
        }
    }
}

impl EncodeSize for MarketEvent {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Staked { .. } | Self::Withdrawn { .. } => 32 + 1 + 8,
            Self::Unbonding { .. } => 32 + 1 + 8 + 8,
            Self::OfferPosted { .. } => 8 + 32 + 32 + 32,
            Self::IntentPosted { .. } => 8 + 32 + 32 + 8,
            Self::IntentCancelled { .. } => 8 + 8,
            Self::SolutionSubmitted { .. } => 8 + 32 + 16,
            Self::MarketCleared { solver, .. } => 8 + 32 + 8 + 8 + 8 + 4 + solver.encode_size(),
            Self::OfferClosed { .. } | Self::Claimed { .. } | Self::Disputed { .. } => 8,
            Self::Delivered { .. } | Self::Refunded { .. } => 8 + 8 + 8,
            Self::SettlementFailed { .. } => 8 + 2,
        }
    }
}

impl Read for MarketEvent {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        use crate::Address;
        Ok(match u8::read(buf)? {
            0 => Self::Staked {
                account: Address::read(buf)?,
                kind: StakeKind::read(buf)?,
                amount: u64::read(buf)?,
            },
            1 => Self::Unbonding {
                account: Address::read(buf)?,
                kind: StakeKind::read(buf)?,
                amount: u64::read(buf)?,
                release_height: u64::read(buf)?,
            },
            2 => Self::Withdrawn {
                account: Address::read(buf)?,
                kind: StakeKind::read(buf)?,
                amount: u64::read(buf)?,
            },
            3 => Self::OfferPosted {
                offer: u64::read(buf)?,
                market: Hash::read(buf)?,
                device: DeviceId::read(buf)?,
                seller: Address::read(buf)?,
            },
            4 => Self::OfferClosed { offer: u64::read(buf)? },
            5 => Self::IntentPosted {
                intent: u64::read(buf)?,
                market: Hash::read(buf)?,
                consumer: Address::read(buf)?,
                escrow: u64::read(buf)?,
            },
            6 => Self::IntentCancelled { intent: u64::read(buf)?, refund: u64::read(buf)? },
            7 => Self::SolutionSubmitted {
                batch: u64::read(buf)?,
                solver: Address::read(buf)?,
                surplus: u128::read(buf)?,
            },
            8 => Self::MarketCleared {
                batch: u64::read(buf)?,
                market: Hash::read(buf)?,
                price: u64::read(buf)?,
                units: u64::read(buf)?,
                first_lease: u64::read(buf)?,
                leases: u32::read(buf)?,
                solver: Option::<Address>::read(buf)?,
            },
            9 => Self::Claimed { lease: u64::read(buf)? },
            10 => Self::Disputed { lease: u64::read(buf)? },
            11 => Self::Delivered {
                lease: u64::read(buf)?,
                paid: u64::read(buf)?,
                fee: u64::read(buf)?,
            },
            12 => Self::Refunded {
                lease: u64::read(buf)?,
                refund: u64::read(buf)?,
                slashed: u64::read(buf)?,
            },
            13 => Self::SettlementFailed { lease: u64::read(buf)?, code: ErrorCode::read(buf)? },
            tag => return Err(Error::InvalidEnum(tag)),
        })
    }
}
