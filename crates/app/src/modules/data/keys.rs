//! Every storage key of the data module.

use crate::state::{Key, key};
use machina_types::{DeviceId, data::FeedId, reading::StreamId};

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
