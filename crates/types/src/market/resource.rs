//! What is traded: resource kinds, regions and markets, delivery terms, stake kinds, prices, fills and delivery proofs.

use super::*;

/// A resource that can be traded.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Component {
    /// The resource.
    pub kind: ResourceKind,
    /// Units of it per unit of the intent.
    pub quantity: u64,
}

crate::struct_codec!(Component { kind: plain, quantity: plain });

/// Which stake an account bonds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct MarketPrice {
    /// The market.
    pub market: MarketId,
    /// Its price per unit.
    pub price: Amount,
}

crate::struct_codec!(MarketPrice { market: plain, price: plain });

/// Units of an offer allocated to an intent in a solution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum DeliveryProof {
    /// The consumer's signature over [`receipt_message`].
    ConsumerReceipt {
        /// The signature.
        #[serde(with = "crate::codec::hex_codec")]
        #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::signature))]
        signature: Signature,
    },
    /// The provider device's signature over [`ack_message`] (actuation leases).
    DeviceAck {
        /// The signature.
        #[serde(with = "crate::codec::hex_codec")]
        #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::signature))]
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
