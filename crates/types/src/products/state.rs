//! The products module's stored values.

use super::{Payment, ProductId, SubscriptionId, Terms};
use crate::{
    Address, DeviceId, limits::PRODUCT_STREAMS_MAX, limits::PRODUCT_SUBSCRIBERS_MAX,
    reading::StreamId, sealed::KeyEpoch,
};
use serde::{Deserialize, Serialize};

/// The ids the next product and subscription get.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Counters {
    /// The next product id (0: none yet, the first is 1).
    pub product: ProductId,
    /// The next subscription id (0: none yet, the first is 1).
    pub subscription: SubscriptionId,
}

crate::struct_codec!(Counters { product: plain, subscription: plain });

/// A subscription a product delivers to, with the block time it lapses at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Subscriber {
    /// The subscription.
    pub subscription: SubscriptionId,
    /// When it lapses (ms; `u64::MAX` by reading).
    pub until_ms: u64,
}

crate::struct_codec!(Subscriber { subscription: plain, until_ms: plain });

/// A data product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Product {
    /// Its id.
    pub id: ProductId,
    /// Who listed it (and is paid).
    pub seller: Address,
    /// The device.
    pub device: DeviceId,
    /// Its streams.
    pub streams: Vec<StreamId>,
    /// Prices, licence, access, history, sealing.
    pub terms: Terms,
    /// Whether it is still listed.
    pub listed: bool,
    /// The subscriptions it delivers to (pruned of lapsed ones as new ones come; at most
    /// 64).
    pub subscribers: Vec<Subscriber>,
}

crate::struct_codec!(Product {
    id: plain,
    seller: plain,
    device: plain,
    streams: vec(PRODUCT_STREAMS_MAX),
    terms: plain,
    listed: plain,
    subscribers: vec(PRODUCT_SUBSCRIBERS_MAX),
});

/// Where a subscription is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// Running until `until_ms` (or, by reading, until its channel closes).
    Active {},
    /// Cancelled by its subscriber at block time `at_ms`.
    Cancelled {
        /// When.
        at_ms: u64,
    },
    /// Revoked by the seller at block time `at_ms`.
    Revoked {
        /// When.
        at_ms: u64,
    },
}

crate::enum_codec!(SubscriptionStatus {
    0 => Active {},
    1 => Cancelled { at_ms: plain },
    2 => Revoked { at_ms: plain },
});

/// A subscription: who may read which product, from when until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Subscription {
    /// Its id.
    pub id: SubscriptionId,
    /// The product.
    pub product: ProductId,
    /// The subscriber.
    pub subscriber: Address,
    /// The X25519 key its stream keys are wrapped to.
    #[serde(with = "crate::codec::hex_codec")]
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub encryption_key: [u8; 32],
    /// How it pays.
    pub payment: Payment,
    /// Block time it began (ms).
    pub since_ms: u64,
    /// Block time it lapses (ms; `u64::MAX` by reading).
    pub until_ms: u64,
    /// Each stream's key epoch when it began (in the product's stream order): without
    /// history, its keys start there.
    pub first_epochs: Vec<KeyEpoch>,
    /// Where it is.
    #[serde(flatten)]
    pub status: SubscriptionStatus,
}

crate::struct_codec!(Subscription {
    id: plain,
    product: plain,
    subscriber: plain,
    encryption_key: plain,
    payment: plain,
    since_ms: plain,
    until_ms: plain,
    first_epochs: vec(PRODUCT_STREAMS_MAX),
    status: plain,
});

impl Subscription {
    /// Whether it lets its subscriber read at block time `now_ms` (by reading, its channel
    /// must also be open).
    pub fn is_active(&self, now_ms: u64) -> bool {
        self.status == SubscriptionStatus::Active {} && now_ms < self.until_ms
    }
}

/// A stream's current key epoch, and the listed product that has it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct StreamKeys {
    /// The current epoch (the device seals with its key).
    pub epoch: KeyEpoch,
    /// The listed product that has the stream, if any.
    pub product: Option<ProductId>,
}

crate::struct_codec!(StreamKeys { epoch: plain, product: plain });
