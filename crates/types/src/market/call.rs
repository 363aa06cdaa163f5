//! The market module's calls and their stateless checks.

use super::*;

/// A call to the market module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MarketCall {
    /// Bond native tokens as provider or solver stake.
    Stake {
        /// Which stake.
        kind: StakeKind,
        /// Amount bonded.
        amount: Amount,
    },
    /// Start unbonding stake (withdrawable after the unbonding delay, slashable until then).
    Unbond {
        /// Which stake.
        kind: StakeKind,
        /// Amount.
        amount: Amount,
    },
    /// Withdraw unbonded stake whose delay has passed.
    Withdraw {
        /// Which stake.
        kind: StakeKind,
    },
    /// Offer a device's resource. Signer: the device's owner or a holder of its `seller`
    /// role, with provider stake bonded; the signer is paid.
    Offer {
        /// The providing device.
        device: DeviceId,
        /// The resource.
        kind: ResourceKind,
        /// Where (a geohash prefix; empty for anywhere).
        region: String,
        /// Units on offer.
        capacity: u64,
        /// Lowest price per unit.
        floor_price: Amount,
        /// How delivery is proven.
        delivery: Delivery,
        /// When the offer lapses (block time, ms).
        expiry_ms: u64,
    },
    /// Close an offer (its seller); leases already made stand.
    CloseOffer {
        /// The offer.
        offer: OfferId,
    },
    /// Ask for resources; escrows `units * max_price` from the signer.
    Intent {
        /// Where (a geohash prefix; empty for anywhere); every component trades here.
        region: String,
        /// The resources per unit of the intent: one for a plain intent, up to
        /// [`COMPONENTS_MAX`] for a bundle (bundles are filled only by solvers).
        components: Vec<Component>,
        /// Units wanted.
        units: u64,
        /// Most paid per unit (for a bundle: per unit of the whole bundle).
        max_price: Amount,
        /// Delivery deadline (block time, ms); unfilled units lapse then.
        deadline_ms: u64,
        /// Lowest provider reputation accepted (percent, see the market module).
        min_reputation: u8,
        /// Whether part of the units may be filled.
        partial: bool,
    },
    /// Cancel the unfilled part of an intent (its consumer); the escrow is returned.
    Cancel {
        /// The intent.
        intent: IntentId,
    },
    /// Propose an allocation for the open batch (needs solver stake). At the batch's end,
    /// the valid solution adding the most surplus over the built-in clearing of the markets
    /// it prices replaces it there.
    Solve {
        /// The batch.
        batch: BatchId,
        /// One uniform price per market the solution trades in.
        prices: Vec<MarketPrice>,
        /// The allocation.
        fills: Vec<Fill>,
    },
    /// Confirm a lease was delivered (its consumer): pays the provider.
    Confirm {
        /// The lease.
        lease: LeaseId,
    },
    /// Prove a lease was delivered (anyone may relay the proof): pays the provider.
    Deliver {
        /// The lease.
        lease: LeaseId,
        /// The proof.
        proof: DeliveryProof,
    },
    /// Claim a lease was delivered (its seller): pays at the end of the dispute window
    /// unless the consumer disputes.
    Claim {
        /// The lease.
        lease: LeaseId,
    },
    /// Contest a claimed delivery within the dispute window (its consumer).
    Dispute {
        /// The lease.
        lease: LeaseId,
    },
}

impl crate::call::ModuleCall for MarketCall {
    const MODULE: &'static str = "market";
    const TAG: u8 = 4;
    const ERRORS: core::ops::RangeInclusive<u16> = 400..=499;

    /// Stateless validity of the arguments.
    fn check(&self) -> Result<(), ErrorCode> {
        let units_ok = |u: u64| (1..=UNITS_MAX).contains(&u);
        let price_ok = |p: Amount| p <= PRICE_MAX;
        let ok = match self {
            Self::Stake { amount, .. } | Self::Unbond { amount, .. } => *amount > 0,
            Self::Offer { kind, region, capacity, floor_price, delivery, .. } => {
                kind.is_valid()
                    && region_is_valid(region)
                    && units_ok(*capacity)
                    && price_ok(*floor_price)
                    && (*delivery == Delivery::DeviceAck)
                        == matches!(kind, ResourceKind::Actuation { .. })
            }
            Self::Intent { region, components, units, max_price, min_reputation, .. } => {
                region_is_valid(region)
                    && !components.is_empty()
                    && components.len() <= COMPONENTS_MAX
                    && components.iter().all(|c| {
                        c.kind.is_valid() && (1..=COMPONENT_QUANTITY_MAX).contains(&c.quantity)
                    })
                    && units_ok(*units)
                    && *max_price > 0
                    && price_ok(*max_price)
                    && units.checked_mul(*max_price).is_some()
                    && *min_reputation <= 100
            }
            Self::Solve { prices, fills, .. } => {
                !prices.is_empty()
                    && prices.len() <= SOLUTION_MARKETS_MAX
                    && prices.iter().all(|p| price_ok(p.price))
                    && !fills.is_empty()
                    && fills.len() <= SOLUTION_FILLS_MAX
                    && fills.iter().all(|f| units_ok(f.units))
            }
            Self::Withdraw { .. }
            | Self::CloseOffer { .. }
            | Self::Cancel { .. }
            | Self::Confirm { .. }
            | Self::Deliver { .. }
            | Self::Claim { .. }
            | Self::Dispute { .. } => true,
        };
        if ok { Ok(()) } else { Err(ErrorCode::InvalidCall) }
    }

    fn native_spend(&self) -> u128 {
        match self {
            Self::Stake { amount, .. } => u128::from(*amount),
            Self::Intent { units, max_price, .. } => u128::from(*units) * u128::from(*max_price),
            _ => 0,
        }
    }
}

impl Write for MarketCall {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        match self {
            Self::Stake { kind, amount } => {
                0u8.write(buf);
                kind.write(buf);
                amount.write(buf);
            }
            Self::Unbond { kind, amount } => {
                1u8.write(buf);
                kind.write(buf);
                amount.write(buf);
            }
            Self::Withdraw { kind } => {
                2u8.write(buf);
                kind.write(buf);
            }
            Self::Offer { device, kind, region, capacity, floor_price, delivery, expiry_ms } => {
                3u8.write(buf);
                device.write(buf);
                kind.write(buf);
                write_str(region, buf);
                capacity.write(buf);
                floor_price.write(buf);
                delivery.write(buf);
                expiry_ms.write(buf);
            }
            Self::CloseOffer { offer } => {
                4u8.write(buf);
                offer.write(buf);
            }
            Self::Intent {
                region,
                components,
                units,
                max_price,
                deadline_ms,
                min_reputation,
                partial,
            } => {
                5u8.write(buf);
                write_str(region, buf);
                components.write(buf);
                units.write(buf);
                max_price.write(buf);
                deadline_ms.write(buf);
                min_reputation.write(buf);
                partial.write(buf);
            }
            Self::Cancel { intent } => {
                6u8.write(buf);
                intent.write(buf);
            }
            Self::Solve { batch, prices, fills } => {
                7u8.write(buf);
                batch.write(buf);
                prices.write(buf);
                fills.write(buf);
            }
            Self::Confirm { lease } => {
                8u8.write(buf);
                lease.write(buf);
            }
            Self::Deliver { lease, proof } => {
                9u8.write(buf);
                lease.write(buf);
                proof.write(buf);
            }
            Self::Claim { lease } => {
                10u8.write(buf);
                lease.write(buf);
            }
            Self::Dispute { lease } => {
                11u8.write(buf);
                lease.write(buf);
            }
        }
    }
}

impl EncodeSize for MarketCall {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Stake { .. } | Self::Unbond { .. } => 1 + 8,
            Self::Withdraw { .. } => 1,
            Self::Offer { device, kind, region, delivery, .. } => {
                device.encode_size()
                    + kind.encode_size()
                    + str_size(region)
                    + 8
                    + 8
                    + delivery.encode_size()
                    + 8
            }
            Self::Intent { region, components, .. } => {
                str_size(region) + components.encode_size() + 8 + 8 + 8 + 1 + 1
            }
            Self::Solve { prices, fills, .. } => 8 + prices.encode_size() + fills.encode_size(),
            Self::Deliver { proof, .. } => 8 + proof.encode_size(),
            Self::CloseOffer { .. }
            | Self::Cancel { .. }
            | Self::Confirm { .. }
            | Self::Claim { .. }
            | Self::Dispute { .. } => 8,
        }
    }
}

impl Read for MarketCall {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(match u8::read(buf)? {
            0 => Self::Stake { kind: StakeKind::read(buf)?, amount: u64::read(buf)? },
            1 => Self::Unbond { kind: StakeKind::read(buf)?, amount: u64::read(buf)? },
            2 => Self::Withdraw { kind: StakeKind::read(buf)? },
            3 => Self::Offer {
                device: DeviceId::read(buf)?,
                kind: ResourceKind::read(buf)?,
                region: read_str(buf, REGION_LEN_MAX)?,
                capacity: u64::read(buf)?,
                floor_price: u64::read(buf)?,
                delivery: Delivery::read(buf)?,
                expiry_ms: u64::read(buf)?,
            },
            4 => Self::CloseOffer { offer: u64::read(buf)? },
            5 => Self::Intent {
                region: read_str(buf, REGION_LEN_MAX)?,
                components: read_vec(buf, COMPONENTS_MAX, &())?,
                units: u64::read(buf)?,
                max_price: u64::read(buf)?,
                deadline_ms: u64::read(buf)?,
                min_reputation: u8::read(buf)?,
                partial: bool::read(buf)?,
            },
            6 => Self::Cancel { intent: u64::read(buf)? },
            7 => Self::Solve {
                batch: u64::read(buf)?,
                prices: read_vec(buf, SOLUTION_MARKETS_MAX, &())?,
                fills: read_vec(buf, SOLUTION_FILLS_MAX, &())?,
            },
            8 => Self::Confirm { lease: u64::read(buf)? },
            9 => Self::Deliver { lease: u64::read(buf)?, proof: DeliveryProof::read(buf)? },
            10 => Self::Claim { lease: u64::read(buf)? },
            11 => Self::Dispute { lease: u64::read(buf)? },
            tag => return Err(Error::InvalidEnum(tag)),
        })
    }
}
