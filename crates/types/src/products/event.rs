//! The products module's events.

use super::{ProductId, SubscriptionId};
use crate::{Address, Amount, DeviceId, reading::StreamId, sealed::KeyEpoch};
use serde::{Deserialize, Serialize};

/// Something the products module did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ProductsEvent {
    /// A product was listed.
    Listed {
        /// The product.
        product: ProductId,
        /// Its seller.
        seller: Address,
        /// The device.
        device: DeviceId,
    },
    /// A product was delisted.
    Delisted {
        /// The product.
        product: ProductId,
    },
    /// A buyer subscribed.
    Subscribed {
        /// The subscription.
        subscription: SubscriptionId,
        /// The product.
        product: ProductId,
        /// The subscriber.
        subscriber: Address,
        /// Paid up front (by periods; 0 by reading).
        paid: Amount,
        /// Block time (ms) it lapses at (`u64::MAX` by reading: until it ends).
        until_ms: u64,
    },
    /// A subscription ended before its time: cancelled by its subscriber or revoked by the
    /// seller.
    Ended {
        /// The subscription.
        subscription: SubscriptionId,
        /// Whether the seller revoked it.
        revoked: bool,
        /// Refunded to the subscriber.
        refunded: Amount,
    },
    /// A stream moved to a new key epoch.
    Rotated {
        /// The device.
        device: DeviceId,
        /// The stream.
        stream: StreamId,
        /// The new epoch.
        epoch: KeyEpoch,
    },
    /// Wrapped keys were published.
    KeysPublished {
        /// The product.
        product: ProductId,
        /// How many.
        count: u32,
    },
}

crate::enum_codec!(ProductsEvent {
    0 => Listed { product: plain, seller: plain, device: plain },
    1 => Delisted { product: plain },
    2 => Subscribed {
        subscription: plain,
        product: plain,
        subscriber: plain,
        paid: plain,
        until_ms: plain,
    },
    3 => Ended { subscription: plain, revoked: plain, refunded: plain },
    4 => Rotated { device: plain, stream: plain, epoch: plain },
    5 => KeysPublished { product: plain, count: plain },
});
