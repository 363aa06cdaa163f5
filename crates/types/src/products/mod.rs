//! Data products: a stream's data sold by the holder of its data rights, with consent the
//! chain records.
//!
//! - [`ProductsCall::List`]: the holder of the data rights of one or more streams of a
//!   device (the device's owner, or the holder of the stream's data asset) lists them, with
//!   a price per reading (paid through a payment channel, reading by reading), a price per
//!   period (paid up front), or both; a licence (the hash of its terms); an access policy
//!   (anyone who pays, an allow list, or devices with a minimum market reputation); whether
//!   subscribers get past readings (history); and whether readings are sealed
//!   ([`crate::sealed`]). A stream is in at most one listed product.
//! - [`ProductsCall::Subscribe`]: a buyer the policy admits subscribes by periods (paying
//!   `price * periods` to the seller now) or by reading (naming an open voucher channel from
//!   it to the seller in the product's asset, holding at least one reading's price), with
//!   the X25519 key its stream keys are wrapped to. The subscription records who may read
//!   what from when until when: it is the consent.
//! - Consent is revocable: the subscriber [cancels](ProductsCall::Cancel), the seller
//!   [revokes](ProductsCall::Revoke) (refunding the whole periods not yet begun). Either
//!   moves every stream of the product to a new key epoch, so the subscriber cannot read
//!   what comes after; the seller also [rotates](ProductsCall::Rotate) keys when
//!   subscriptions lapse.
//! - [`ProductsCall::PublishKeys`]: the seller publishes each stream's epoch key wrapped for
//!   each subscriber, for the current epoch and (if the product includes history) earlier
//!   ones from the subscription on or all of them.
//!
//! The gateway delivers a product's readings to its active subscriptions live, and history
//! on request; by-reading subscribers get each reading against a voucher covering it.

pub mod event;
#[cfg(feature = "std")]
pub mod keys;
#[cfg(feature = "std")]
pub mod state;

pub use event::ProductsEvent;

use crate::{
    Address, Amount, DeviceId, ErrorCode, Hash,
    bank::AssetId,
    channels::ChannelId,
    limits::*,
    reading::StreamId,
    sealed::{KeyEpoch, WrappedKey},
};
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Identifies a data product (assigned in listing order, from 1).
pub type ProductId = u64;

/// Identifies a subscription (assigned in order, from 1).
pub type SubscriptionId = u64;

/// A price per period of time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct PeriodPrice {
    /// Paid per period (0: free).
    pub price: Amount,
    /// The period, in ms of block time (1 ms to 366 days).
    pub period_ms: u64,
}

crate::struct_codec!(PeriodPrice { price: plain, period_ms: plain });

/// Who may subscribe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "access", rename_all = "snake_case")]
pub enum Access {
    /// Anyone who pays.
    Anyone {},
    /// These accounts only (1 to 32).
    AllowList {
        /// The accounts.
        buyers: Vec<Address>,
    },
    /// Active devices (signing with their current key) whose market reputation is at least
    /// `min_reputation` percent.
    Devices {
        /// Lowest reputation (percent).
        min_reputation: u8,
    },
}

crate::enum_codec!(Access {
    0 => Anyone {},
    1 => AllowList { buyers: vec(PRODUCT_ALLOW_LIST_MAX) },
    2 => Devices { min_reputation: plain },
});

/// How a subscription pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Payment {
    /// Up front, for this many periods (1 to 10,000).
    Periods {
        /// Periods paid for.
        periods: u32,
    },
    /// Reading by reading, through vouchers of this channel (from the subscriber to the
    /// seller, in the product's asset).
    Channel {
        /// The channel.
        channel: ChannelId,
    },
}

crate::enum_codec!(Payment {
    0 => Periods { periods: plain },
    1 => Channel { channel: plain },
});

/// A stream's epoch key wrapped for one subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct KeyGrant {
    /// The subscription.
    pub subscription: SubscriptionId,
    /// The stream.
    pub stream: StreamId,
    /// The key's epoch.
    pub epoch: KeyEpoch,
    /// The epoch key, wrapped to the subscription's encryption key.
    pub key: WrappedKey,
}

crate::struct_codec!(KeyGrant { subscription: plain, stream: plain, epoch: plain, key: plain });

/// What a product sells and to whom, as its listing names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Terms {
    /// The asset prices are in (the native token if absent).
    pub asset: Option<AssetId>,
    /// Price per reading, paid through a channel (at least 1), if offered.
    pub per_reading: Option<Amount>,
    /// Price per period, paid up front, if offered.
    pub per_period: Option<PeriodPrice>,
    /// The hash of the licence's terms.
    pub licence: Hash,
    /// Who may subscribe.
    pub access: Access,
    /// Whether subscribers get readings from before they subscribed.
    pub history: bool,
    /// Whether the device seals the readings (only subscribers read them).
    pub sealed: bool,
}

crate::struct_codec!(Terms {
    asset: plain,
    per_reading: plain,
    per_period: plain,
    licence: plain,
    access: plain,
    history: plain,
    sealed: plain,
});

impl Terms {
    /// Stateless validity: at least one price (a per-reading price of at least 1, a period
    /// of 1 ms to 366 days), a non-empty allow list of at most 32, a reputation in percent.
    pub fn is_valid(&self) -> bool {
        (self.per_reading.is_some() || self.per_period.is_some())
            && self.per_reading.is_none_or(|p| p > 0)
            && self.per_period.is_none_or(|p| (1..=PRODUCT_PERIOD_MS_MAX).contains(&p.period_ms))
            && match &self.access {
                Access::Anyone {} => true,
                Access::AllowList { buyers } => {
                    (1..=PRODUCT_ALLOW_LIST_MAX).contains(&buyers.len())
                }
                Access::Devices { min_reputation } => *min_reputation <= 100,
            }
    }
}

/// A call to the products module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ProductsCall {
    /// List streams of a device whose data rights the signer holds.
    List {
        /// The device.
        device: DeviceId,
        /// Its streams (1 to 8, distinct).
        streams: Vec<StreamId>,
        /// Prices, licence, access, history, sealing.
        terms: Terms,
    },
    /// Stop selling a product (its seller): no new subscriptions; its streams may be listed
    /// again. Subscriptions run to their end.
    Delist {
        /// The product.
        product: ProductId,
    },
    /// Subscribe to a product.
    Subscribe {
        /// The product.
        product: ProductId,
        /// How the subscription pays.
        payment: Payment,
        /// The X25519 key stream keys are wrapped to (for a sealed product).
        #[serde(with = "crate::codec::hex_codec")]
        #[cfg_attr(feature = "schema", schema(value_type = String))]
        encryption_key: [u8; 32],
    },
    /// End one's own subscription (no refund); the product's streams move to a new epoch.
    Cancel {
        /// The subscription.
        subscription: SubscriptionId,
    },
    /// End a subscription to one's product, refunding the whole periods not begun; the
    /// product's streams move to a new epoch.
    Revoke {
        /// The subscription.
        subscription: SubscriptionId,
    },
    /// Move a product's streams to a new key epoch (its seller), e.g. after subscriptions
    /// lapsed.
    Rotate {
        /// The product.
        product: ProductId,
    },
    /// Publish epoch keys wrapped for subscriptions (the product's seller; 1 to 32).
    PublishKeys {
        /// The product.
        product: ProductId,
        /// The wrapped keys.
        keys: Vec<KeyGrant>,
    },
}

crate::enum_codec!(ProductsCall {
    0 => List { device: plain, streams: vec(PRODUCT_STREAMS_MAX), terms: plain },
    1 => Delist { product: plain },
    2 => Subscribe { product: plain, payment: plain, encryption_key: plain },
    3 => Cancel { subscription: plain },
    4 => Revoke { subscription: plain },
    5 => Rotate { product: plain },
    6 => PublishKeys { product: plain, keys: vec(KEY_GRANTS_PER_CALL_MAX) },
});

impl crate::call::ModuleCall for ProductsCall {
    const MODULE: &'static str = "products";
    const TAG: u8 = 9;
    const ERRORS: core::ops::RangeInclusive<u16> = 700..=749;

    /// Stateless validity: 1 to 8 distinct streams and valid [`Terms`]; 1 to 10,000 periods; a nonzero encryption key; 1 to 32 key
    /// grants.
    fn check(&self) -> Result<(), ErrorCode> {
        let ok = match self {
            Self::List { streams, terms, .. } => {
                let distinct = streams.iter().enumerate().all(|(i, s)| !streams[..i].contains(s));
                (1..=PRODUCT_STREAMS_MAX).contains(&streams.len()) && distinct && terms.is_valid()
            }
            Self::Subscribe { payment, encryption_key, .. } => {
                *encryption_key != [0; 32]
                    && match payment {
                        Payment::Periods { periods } => (1..=PRODUCT_PERIODS_MAX).contains(periods),
                        Payment::Channel { .. } => true,
                    }
            }
            Self::PublishKeys { keys, .. } => (1..=KEY_GRANTS_PER_CALL_MAX).contains(&keys.len()),
            Self::Delist { .. }
            | Self::Cancel { .. }
            | Self::Revoke { .. }
            | Self::Rotate { .. } => true,
        };
        if ok { Ok(()) } else { Err(ErrorCode::InvalidCall) }
    }

    /// A subscription by periods may pay native tokens, as many as the product's price
    /// says: only state knows it, so admission counts nothing here and the bank refuses
    /// what the subscriber cannot pay.
    fn native_spend(&self) -> u128 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Call, ModuleCall};
    use alloc::vec;
    use commonware_codec::{DecodeExt, Encode, EncodeSize};

    fn list(
        streams: Vec<StreamId>,
        per_reading: Option<Amount>,
        per_period: Option<PeriodPrice>,
        access: Access,
    ) -> ProductsCall {
        let terms = Terms {
            asset: None,
            per_reading,
            per_period,
            licence: Hash([2; 32]),
            access,
            history: true,
            sealed: true,
        };
        ProductsCall::List { device: Hash([1; 32]), streams, terms }
    }

    #[test]
    fn calls_round_trip_and_are_checked_at_their_bounds() {
        let period = |period_ms| Some(PeriodPrice { price: 0, period_ms });
        let wrapped = WrappedKey { ephemeral: [1; 32], sealed: [2; 48] };
        let grant = KeyGrant { subscription: 1, stream: 2, epoch: 3, key: wrapped };
        let ok = [
            list(vec![1], Some(1), None, Access::Anyone {}),
            list(
                (0..8).collect(),
                None,
                period(PRODUCT_PERIOD_MS_MAX),
                Access::Devices { min_reputation: 100 },
            ),
            list(
                vec![u32::MAX],
                Some(u64::MAX),
                period(1),
                Access::AllowList { buyers: vec![Address([3; 32]); PRODUCT_ALLOW_LIST_MAX] },
            ),
            ProductsCall::Subscribe {
                product: 1,
                payment: Payment::Periods { periods: PRODUCT_PERIODS_MAX },
                encryption_key: [1; 32],
            },
            ProductsCall::Subscribe {
                product: 1,
                payment: Payment::Channel { channel: u64::MAX },
                encryption_key: [1; 32],
            },
            ProductsCall::PublishKeys { product: 1, keys: vec![grant; KEY_GRANTS_PER_CALL_MAX] },
            ProductsCall::Delist { product: 0 },
            ProductsCall::Cancel { subscription: 1 },
            ProductsCall::Revoke { subscription: 1 },
            ProductsCall::Rotate { product: 1 },
        ];
        for call in ok {
            assert_eq!(call.check(), Ok(()), "{call:?}");
            let call = Call::Products(call);
            let bytes = call.encode();
            assert_eq!(bytes.len(), call.encode_size());
            assert_eq!(Call::decode(bytes).unwrap(), call);
            let json = serde_json::to_value(&call).unwrap();
            assert_eq!(serde_json::from_value::<Call>(json).unwrap(), call);
        }
        let bad = [
            list(vec![], Some(1), None, Access::Anyone {}),
            list((0..9).collect(), Some(1), None, Access::Anyone {}),
            list(vec![1, 1], Some(1), None, Access::Anyone {}),
            list(vec![1], None, None, Access::Anyone {}),
            list(vec![1], Some(0), None, Access::Anyone {}),
            list(vec![1], None, period(0), Access::Anyone {}),
            list(vec![1], None, period(PRODUCT_PERIOD_MS_MAX + 1), Access::Anyone {}),
            list(vec![1], Some(1), None, Access::AllowList { buyers: vec![] }),
            list(vec![1], Some(1), None, Access::Devices { min_reputation: 101 }),
            ProductsCall::Subscribe {
                product: 1,
                payment: Payment::Periods { periods: 0 },
                encryption_key: [1; 32],
            },
            ProductsCall::Subscribe {
                product: 1,
                payment: Payment::Periods { periods: PRODUCT_PERIODS_MAX + 1 },
                encryption_key: [1; 32],
            },
            ProductsCall::Subscribe {
                product: 1,
                payment: Payment::Channel { channel: 1 },
                encryption_key: [0; 32],
            },
            ProductsCall::PublishKeys { product: 1, keys: vec![] },
        ];
        for call in bad {
            assert_eq!(call.check(), Err(ErrorCode::InvalidCall), "{call:?}");
        }
        // One past the allow list's or the grants' bound does not even decode.
        let many = vec![grant; KEY_GRANTS_PER_CALL_MAX + 1];
        let call = Call::Products(ProductsCall::PublishKeys { product: 1, keys: many });
        assert!(Call::decode(call.encode()).is_err());
    }
}
