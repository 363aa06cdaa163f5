//! Every storage key of the products module.

use super::{ProductId, SubscriptionId};
use crate::{
    DeviceId,
    describe::{KnownKey, decode_json},
    reading::StreamId,
    sealed::KeyEpoch,
    state::{Key, key},
};

/// The ids the next product and subscription get.
pub fn counters() -> Key {
    key(&[b"products/counters"])
}

/// A product.
pub fn product(id: ProductId) -> Key {
    key(&[b"products/product/", &id.to_be_bytes()])
}

/// A subscription.
pub fn subscription(id: SubscriptionId) -> Key {
    key(&[b"products/subscription/", &id.to_be_bytes()])
}

/// A stream's key epoch and the product listing it.
pub fn stream(device: &DeviceId, stream: StreamId) -> Key {
    key(&[b"products/stream/", &device.0, &stream.to_be_bytes()])
}

/// A stream's epoch key wrapped for a subscription.
pub fn grant(subscription: SubscriptionId, stream: StreamId, epoch: KeyEpoch) -> Key {
    key(&[
        b"products/grant/",
        &subscription.to_be_bytes(),
        &stream.to_be_bytes(),
        &epoch.to_be_bytes(),
    ])
}

/// The name of a subscription's key in proofs: `products/subscription/<id>`.
pub fn describe_subscription(id: SubscriptionId) -> String {
    format!("products/subscription/{id}")
}

/// The key a description of one of this module's keys names, with its value's decoder.
pub fn described(parts: &[&str]) -> Option<KnownKey> {
    use super::state::{Product, Subscription};
    Some(match parts {
        ["products", "product", id] => {
            KnownKey { key: product(id.parse().ok()?), decode: decode_json::<Product> }
        }
        ["products", "subscription", id] => {
            KnownKey { key: subscription(id.parse().ok()?), decode: decode_json::<Subscription> }
        }
        _ => return None,
    })
}
