//! Every storage key of the data module.

use crate::{DeviceId, data::FeedId, reading::StreamId};
use crate::{
    describe::{KnownKey, decode_json},
    state::{Key, key},
};

/// A stream's anchoring state.
pub fn stream(device: &DeviceId, stream: StreamId) -> Key {
    key(&[b"data/stream/", &device.0, &stream.to_be_bytes()])
}

/// Anchor number `index` of a stream.
pub fn anchor(device: &DeviceId, stream: StreamId, index: u64) -> Key {
    key(&[b"data/anchor/", &device.0, &stream.to_be_bytes(), &index.to_be_bytes()])
}

/// The id the next feed gets.
pub fn next_feed_id() -> Key {
    key(&[b"data/next-feed-id"])
}

/// A feed.
pub fn feed(id: FeedId) -> Key {
    key(&[b"data/feed/", &id.to_be_bytes()])
}

/// The name of an anchor's key in proofs: `data/anchor/<device>/<stream>/<index>`.
pub fn describe_anchor(device: &DeviceId, stream: StreamId, index: u64) -> String {
    format!("data/anchor/{device}/{stream}/{index}")
}

/// The name of a feed's key in proofs: `data/feed/<id>`.
pub fn describe_feed(id: FeedId) -> String {
    format!("data/feed/{id}")
}

/// The key a description of one of this module's keys names, with its value's decoder.
pub fn described(parts: &[&str]) -> Option<KnownKey> {
    Some(match parts {
        ["data", "anchor", d, s, i] => KnownKey {
            key: anchor(&d.parse().ok()?, s.parse().ok()?, i.parse().ok()?),
            decode: decode_json::<super::state::AnchorRecord>,
        },
        ["data", "feed", id] => {
            KnownKey { key: feed(id.parse().ok()?), decode: decode_json::<super::state::Feed> }
        }
        _ => return None,
    })
}
