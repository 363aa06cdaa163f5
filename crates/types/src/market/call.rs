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
    /// Change an open offer's floor price and remaining capacity. Signer: its seller, or the
    /// device's owner (for a machine, a holder decision).
    AmendOffer {
        /// The offer.
        offer: OfferId,
        /// The new lowest price per unit.
        floor_price: Amount,
        /// The units it may still sell.
        capacity: u64,
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
            Self::AmendOffer { floor_price, capacity, .. } => {
                units_ok(*capacity) && price_ok(*floor_price)
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

crate::enum_codec!(MarketCall {
    0 => Stake { kind: plain, amount: plain },
    1 => Unbond { kind: plain, amount: plain },
    2 => Withdraw { kind: plain },
    3 => Offer {
        device: plain,
        kind: plain,
        region: str(REGION_LEN_MAX),
        capacity: plain,
        floor_price: plain,
        delivery: plain,
        expiry_ms: plain,
    },
    4 => CloseOffer { offer: plain },
    5 => Intent {
        region: str(REGION_LEN_MAX),
        components: vec(COMPONENTS_MAX),
        units: plain,
        max_price: plain,
        deadline_ms: plain,
        min_reputation: plain,
        partial: plain,
    },
    6 => Cancel { intent: plain },
    7 => Solve { batch: plain, prices: vec(SOLUTION_MARKETS_MAX), fills: vec(SOLUTION_FILLS_MAX) },
    8 => Confirm { lease: plain },
    9 => Deliver { lease: plain, proof: plain },
    10 => Claim { lease: plain },
    11 => Dispute { lease: plain },
    12 => AmendOffer { offer: plain, floor_price: plain, capacity: plain },
});
