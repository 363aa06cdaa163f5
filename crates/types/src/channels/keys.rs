//! Every storage key of the channels module.

use super::ChannelId;
use crate::{
    describe::{KnownKey, decode_json},
    state::{Key, key},
};

/// The id the next channel gets.
pub fn next_channel_id() -> Key {
    key(&[b"channels/next-id"])
}

/// A channel.
pub fn channel(id: ChannelId) -> Key {
    key(&[b"channels/channel/", &id.to_be_bytes()])
}

/// The name of a channel's key in proofs: `channels/channel/<id>`.
pub fn describe_channel(id: ChannelId) -> String {
    format!("channels/channel/{id}")
}

/// The key a description of one of this module's keys names, with its value's decoder.
pub fn described(parts: &[&str]) -> Option<KnownKey> {
    match parts {
        ["channels", "channel", id] => Some(KnownKey {
            key: channel(id.parse().ok()?),
            decode: decode_json::<super::state::Channel>,
        }),
        _ => None,
    }
}
