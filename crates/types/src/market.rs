//! Calls of the market module: stake, offers, intents, solutions, and the delivery of leases.
//!
//! A provider offers a resource of one of its devices (kind, region, capacity, floor price per
//! unit, delivery terms); a consumer posts an intent (one resource, or a bundle of several,
//! units, maximum price per unit, delivery deadline) with the maximum cost escrowed. Every
//! auction interval each market (kind, region) clears at one uniform price, unless a
//! solver's solution for the batch adds more surplus. Each fill becomes a lease, paid to the
//! provider on proven delivery or refunded to the consumer (and the provider slashed) when
//! the deadline passes undelivered.

use crate::{
    Amount,
    address::Address,
    codec::{read_str, read_vec, str_size, write_str},
    data::FeedId,
    device::DeviceId,
    error::ErrorCode,
    hash::Hash,
    limits::{CHAIN_ID_LEN_MAX, COMPONENT_QUANTITY_MAX, PRICE_MAX, UNITS_MAX},
};
use alloc::{string::String, vec::Vec};
use commonware_codec::{Buf, EncodeSize, Error, FixedSize, Read, ReadExt, Write};
use commonware_cryptography::ed25519::Signature;
use serde::{Deserialize, Serialize};

/// Identifies an offer (assigned in order, from 1).
pub type OfferId = u64;
/// Identifies an intent (assigned in order, from 1).
pub type IntentId = u64;
/// Identifies a lease (assigned in order, from 1).
pub type LeaseId = u64;
/// Identifies an auction batch: blocks `b * K .. (b + 1) * K` for auction interval `K`.
pub type BatchId = u64;
/// Identifies a market: the hash of its resource kind and region.
pub type MarketId = Hash;

/// Bytes in an actuation command or a custom resource kind's name.
pub const KIND_NAME_LEN_MAX: usize = 32;
/// Characters in a region (a geohash prefix; empty for anywhere).
pub const REGION_LEN_MAX: usize = 12;
/// Resources in one bundle intent.
pub const COMPONENTS_MAX: usize = 4;
/// Markets one solution may price.
pub const SOLUTION_MARKETS_MAX: usize = 16;
/// Fills in one solution.
pub const SOLUTION_FILLS_MAX: usize = 96;
/// The geohash alphabet regions are written in.
pub const GEOHASH_ALPHABET: &str = "0123456789bcdefghjkmnpqrstuvwxyz";

/// Namespace of a device's signed acknowledgement that it performed a leased command.
pub const ACK_NAMESPACE: &[u8] = b"machina/actuation-ack/v1";
/// Namespace of a consumer's signed receipt for a delivered lease.
pub const RECEIPT_NAMESPACE: &[u8] = b"machina/lease-receipt/v1";

/// A resource that can be traded.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResourceKind {
    /// Access to a device's data stream.
    Data,
    /// Compute time.
    Compute,
    /// Storage.
    Storage,
    /// Network bandwidth.
    Bandwidth,
    /// Energy.
    Energy,
    /// One execution of a named command by the device (e.g. `unlock`).
    Actuation {
        /// The command.
        command: String,
    },
    /// Anything else, by name.
    Custom {
        /// The kind's name.
        name: String,
    },
}

impl ResourceKind {
    fn tag(&self) -> u8 {
        match self {
            Self::Data => 0,
            Self::Compute => 1,
            Self::Storage => 2,
            Self::Bandwidth => 3,
            Self::Energy => 4,
            Self::Actuation { .. } => 5,
            Self::Custom { .. } => 6,
        }
    }

    fn name(&self) -> Option<&str> {
        match self {
            Self::Actuation { command } => Some(command),
            Self::Custom { name } => Some(name),
            _ => None,
        }
    }

    /// Whether a named kind's name is non-empty and short enough.
    pub fn is_valid(&self) -> bool {
        self.name().is_none_or(|n| !n.is_empty() && n.len() <= KIND_NAME_LEN_MAX)
    }
}

impl core::fmt::Display for ResourceKind {
    /// `data`, `compute`, ..., `actuation:<command>`, `custom:<name>`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Data => f.write_str("data"),
            Self::Compute => f.write_str("compute"),
            Self::Storage => f.write_str("storage"),
            Self::Bandwidth => f.write_str("bandwidth"),
            Self::Energy => f.write_str("energy"),
            Self::Actuation { command } => write!(f, "actuation:{command}"),
            Self::Custom { name } => write!(f, "custom:{name}"),
        }
    }
}

impl core::str::FromStr for ResourceKind {
    type Err = ErrorCode;

    /// Parses the [`Display`](core::fmt::Display) form.
    fn from_str(s: &str) -> Result<Self, ErrorCode> {
        let kind = match s.split_once(':') {
            None => match s {
                "data" => Self::Data,
                "compute" => Self::Compute,
                "storage" => Self::Storage,
                "bandwidth" => Self::Bandwidth,
                "energy" => Self::Energy,
                _ => return Err(ErrorCode::InvalidCall),
            },
            Some(("actuation", command)) => Self::Actuation { command: command.into() },
            Some(("custom", name)) => Self::Custom { name: name.into() },
            Some(_) => return Err(ErrorCode::InvalidCall),
        };
        if kind.is_valid() { Ok(kind) } else { Err(ErrorCode::InvalidCall) }
    }
}

impl Write for ResourceKind {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.tag().write(buf);
        if let Some(name) = self.name() {
            write_str(name, buf);
        }
    }
}

impl EncodeSize for ResourceKind {
    fn encode_size(&self) -> usize {
        1 + self.name().map_or(0, str_size)
    }
}

impl Read for ResourceKind {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(match u8::read(buf)? {
            0 => Self::Data,
            1 => Self::Compute,
            2 => Self::Storage,
            3 => Self::Bandwidth,
            4 => Self::Energy,
            5 => Self::Actuation { command: read_str(buf, KIND_NAME_LEN_MAX)? },
            6 => Self::Custom { name: read_str(buf, KIND_NAME_LEN_MAX)? },
            tag => return Err(Error::InvalidEnum(tag)),
        })
    }
}

/// Whether `region` is a geohash prefix (possibly empty: anywhere).
pub fn region_is_valid(region: &str) -> bool {
    region.len() <= REGION_LEN_MAX && region.chars().all(|c| GEOHASH_ALPHABET.contains(c))
}

/// The market trading `kind` in `region`.
pub fn market_id(kind: &ResourceKind, region: &str) -> MarketId {
    use commonware_codec::Encode;
    Hash::of(&[b"machina/market/", &kind.encode(), region.as_bytes()])
}

/// How a feed's value must compare to a threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Value <= threshold.
    AtMost,
    /// Value >= threshold.
    AtLeast,
}

impl Comparison {
    /// Whether `value` satisfies the comparison with `threshold`.
    pub fn holds(self, value: i64, threshold: i64) -> bool {
        match self {
            Self::AtMost => value <= threshold,
            Self::AtLeast => value >= threshold,
        }
    }
}

/// How delivery of a lease is proven (an offer's terms).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Delivery {
    /// The consumer's receipt: a `confirm` call, or its signature relayed by anyone. The
    /// provider may claim delivery; unless the consumer disputes within the dispute window,
    /// the claim pays.
    Receipt,
    /// An oracle feed's value at the deadline: paid if it compares to the threshold, else
    /// refunded (and the provider slashed). A claim before the deadline pays if the feed
    /// already holds; a dispute is settled by the feed.
    Feed {
        /// The feed.
        feed: FeedId,
        /// How its value must compare.
        comparison: Comparison,
        /// The threshold, in the feed's decimals.
        threshold: i64,
    },
    /// The provider device's signed acknowledgement that it performed the command
    /// (actuation offers).
    DeviceAck,
}

impl Write for Delivery {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        match self {
            Self::Receipt => 0u8.write(buf),
            Self::Feed { feed, comparison, threshold } => {
                1u8.write(buf);
                feed.write(buf);
                u8::from(*comparison == Comparison::AtLeast).write(buf);
                threshold.write(buf);
            }
            Self::DeviceAck => 2u8.write(buf),
        }
    }
}

impl EncodeSize for Delivery {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Feed { .. } => 8 + 1 + 8,
            _ => 0,
        }
    }
}

impl Read for Delivery {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(match u8::read(buf)? {
            0 => Self::Receipt,
            1 => Self::Feed {
                feed: u64::read(buf)?,
                comparison: match u8::read(buf)? {
                    0 => Comparison::AtMost,
                    1 => Comparison::AtLeast,
                    tag => return Err(Error::InvalidEnum(tag)),
                },
                threshold: i64::read(buf)?,
            },
            2 => Self::DeviceAck,
            tag => return Err(Error::InvalidEnum(tag)),
        })
    }
}

/// One resource of an intent: `quantity` units of `kind` per unit of the intent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// The resource.
    pub kind: ResourceKind,
    /// Units of it per unit of the intent.
    pub quantity: u64,
}

crate::struct_codec!(Component { kind: plain, quantity: plain });

/// Which stake an account bonds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StakeKind {
    /// Backs offers; slashed when a lease times out undelivered.
    Provider,
    /// Lets the account submit solutions.
    Solver,
}

impl Write for StakeKind {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        u8::from(*self == Self::Solver).write(buf);
    }
}

impl FixedSize for StakeKind {
    const SIZE: usize = 1;
}

impl Read for StakeKind {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Self::Provider),
            1 => Ok(Self::Solver),
            tag => Err(Error::InvalidEnum(tag)),
        }
    }
}

/// A market's uniform price in a solution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketPrice {
    /// The market.
    pub market: MarketId,
    /// Its price per unit.
    pub price: Amount,
}

crate::struct_codec!(MarketPrice { market: plain, price: plain });

/// Units of an offer allocated to an intent in a solution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// The intent.
    pub intent: IntentId,
    /// The offer.
    pub offer: OfferId,
    /// Units of the offer's resource.
    pub units: u64,
}

crate::struct_codec!(Fill { intent: plain, offer: plain, units: plain });

/// Evidence of a lease's delivery that anyone may relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum DeliveryProof {
    /// The consumer's signature over [`receipt_message`].
    ConsumerReceipt {
        /// The signature.
        #[serde(with = "crate::codec::hex_codec")]
        signature: Signature,
    },
    /// The provider device's signature over [`ack_message`] (actuation leases).
    DeviceAck {
        /// The signature.
        #[serde(with = "crate::codec::hex_codec")]
        signature: Signature,
    },
}

impl Write for DeliveryProof {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        let (tag, signature) = match self {
            Self::ConsumerReceipt { signature } => (0u8, signature),
            Self::DeviceAck { signature } => (1u8, signature),
        };
        tag.write(buf);
        signature.write(buf);
    }
}

impl FixedSize for DeliveryProof {
    const SIZE: usize = 1 + Signature::SIZE;
}

impl Read for DeliveryProof {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let tag = u8::read(buf)?;
        let signature = Signature::read(buf)?;
        match tag {
            0 => Ok(Self::ConsumerReceipt { signature }),
            1 => Ok(Self::DeviceAck { signature }),
            tag => Err(Error::InvalidEnum(tag)),
        }
    }
}

/// What a device signs to acknowledge it performed `command` for `lease` on `chain_id`.
pub fn ack_message(chain_id: &str, lease: LeaseId, command: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(chain_id.len() + command.len() + 10);
    write_str(chain_id, &mut out);
    out.extend_from_slice(&lease.to_be_bytes());
    out.extend_from_slice(command.as_bytes());
    out
}

/// What a consumer signs to confirm `lease` on `chain_id` was delivered.
pub fn receipt_message(chain_id: &str, lease: LeaseId) -> Vec<u8> {
    let mut out = Vec::with_capacity(chain_id.len() + 9);
    write_str(chain_id, &mut out);
    out.extend_from_slice(&lease.to_be_bytes());
    out
}

/// A device's acknowledgement of a leased command, as it publishes it on
/// `machina/v1/<device>/acks`: the lease and its signature over [`ack_message`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActuationAck {
    /// The lease.
    pub lease: LeaseId,
    /// The device's signature.
    #[serde(with = "crate::codec::hex_codec")]
    pub signature: Signature,
}

crate::struct_codec!(ActuationAck { lease: plain, signature: plain });

/// The namespace of gateway-signed commands.
pub const COMMAND_NAMESPACE: &[u8] = b"machina/command/v1";

/// What a gateway signs when it sends a leased command to a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The chain the lease is on.
    pub chain_id: String,
    /// The lease.
    pub lease: LeaseId,
    /// The device that must act.
    pub device: DeviceId,
    /// The command (the lease's `actuation:<command>`).
    pub command: String,
    /// The lease's delivery deadline (block time, ms); a device ignores the command after.
    pub deadline_ms: u64,
    /// The gateway's account: the device must have granted it the `gateway` role.
    pub gateway: Address,
}

crate::struct_codec!(Command {
    chain_id: str(CHAIN_ID_LEN_MAX),
    lease: plain,
    device: plain,
    command: str(KIND_NAME_LEN_MAX),
    deadline_ms: plain,
    gateway: plain,
});

/// A command with its gateway's signature, as published on `machina/v1/<device>/commands`
/// (hex of this encoding under `"signed"` in the JSON message).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCommand {
    /// The command.
    pub command: Command,
    /// The gateway key's signature over the command's encoding.
    #[serde(with = "crate::codec::hex_codec")]
    pub signature: Signature,
}

crate::struct_codec!(SignedCommand { command: plain, signature: plain });

impl Command {
    /// Signs the command with the gateway's key.
    pub fn sign(self, gateway_key: &commonware_cryptography::ed25519::PrivateKey) -> SignedCommand {
        use commonware_codec::Encode;
        use commonware_cryptography::Signer;
        let signature = gateway_key.sign(COMMAND_NAMESPACE, &self.encode());
        SignedCommand { command: self, signature }
    }
}

impl SignedCommand {
    /// Checks what a device can check alone: the signature is the named gateway's, and the
    /// command is for this chain and device and not past its deadline. The caller then checks
    /// that it trusts the gateway and that the lease is active for this device and command.
    pub fn check(
        &self,
        chain_id: &str,
        device: &DeviceId,
        now_ms: u64,
    ) -> Result<(), &'static str> {
        use commonware_codec::Encode;
        use commonware_cryptography::Verifier;
        let c = &self.command;
        if c.chain_id != chain_id {
            return Err("the command is for another chain");
        }
        if c.device != *device {
            return Err("the command is for another device");
        }
        if c.deadline_ms <= now_ms {
            return Err("the command's deadline has passed");
        }
        let key = c.gateway.public_key().ok_or("the gateway key is not a valid key")?;
        if !key.verify(COMMAND_NAMESPACE, &c.encode(), &self.signature) {
            return Err("the gateway's signature does not verify");
        }
        Ok(())
    }
}

/// A call to the market module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// Something the market module did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
