//! Chain state as modules store it: 32-byte keys, each the SHA-256 of a module's structured
//! key (so keys spread evenly over the authenticated store's index), mapped to canonically
//! encoded values. Each module names its keys in its `keys.rs` and its stored values in its
//! `state.rs`; the state machine, the node and clients share them.

use crate::Hash;
use commonware_codec::Decode;

/// A state key: SHA-256 of a module-defined byte string.
pub type Key = Hash;

/// Builds a key from its parts (the first part should name the module and table).
pub fn key(parts: &[&[u8]]) -> Key {
    Hash::of(parts)
}

/// Decodes a stored value known to be a `T`.
///
/// # Panics
///
/// If the bytes are not a `T`: values in state are written by the state machine only, so
/// this is a broken invariant (a corrupt store), never bad input.
pub fn decode_value<T: Decode<Cfg = ()>>(key: &Key, bytes: &[u8]) -> T {
    T::decode_cfg(commonware_codec::Copying(bytes), &())
        .unwrap_or_else(|e| panic!("corrupt state value at {key}: {e}"))
}
