//! Self-contained proofs that anyone can check offline with the genesis (for the validator
//! set): a block header, the finalization certificate that signs it, and state proofs
//! against the header's state root.
//!
//! - [`ProofBundle`]: one state value (or its absence).
//! - [`ReadingBundle`]: one device reading, end to end: the reading and its Merkle path to an
//!   anchored root, and state proofs of the anchor, the device (with its maker certificate)
//!   and the maker (with its maker key).

use crate::StateProof;
use machina_types::{Hash, merkle};
use serde::{Deserialize, Serialize};

/// A proven state entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct StateEntry {
    /// The state key (SHA-256 of the module's structured key).
    pub key: Hash,
    /// What the key is, for humans (e.g. `bank/account/<address>`); verifiers recompute the
    /// key from it.
    pub description: Option<String>,
    /// The value's canonical encoding (hex), or `null` if the key is absent.
    #[serde(with = "opt_hex")]
    #[cfg_attr(feature = "schema", schema(schema_with = machina_types::schema::hex_bytes_or_null))]
    pub value: Option<Vec<u8>>,
    /// The value decoded, for humans. Verification checks it matches `value`.
    pub decoded: Option<serde_json::Value>,
    /// Inclusion or exclusion proof against the header's state root.
    pub proof: StateProof,
}

/// A proof of a state value at a finalized block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ProofBundle {
    /// Chain the proof is about.
    pub chain_id: String,
    /// Height of the block whose state is proven.
    pub height: u64,
    /// The proven entry.
    #[serde(flatten)]
    pub entry: StateEntry,
    /// The block header's canonical encoding (hex).
    pub header: String,
    /// The block's finalization certificate's encoding (hex).
    pub finalization: String,
}

/// A proof of one device reading at a finalized block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ReadingBundle {
    /// Chain the proof is about.
    pub chain_id: String,
    /// Height of the block whose state is proven.
    pub height: u64,
    /// The signed reading's canonical encoding (hex).
    pub reading: String,
    /// The reading decoded, for humans. Verification checks it matches `reading`.
    pub decoded: serde_json::Value,
    /// Path from the reading's leaf to the anchor's Merkle root.
    pub merkle: merkle::Proof,
    /// The anchor that covers the reading.
    pub anchor: StateEntry,
    /// The device.
    pub device: StateEntry,
    /// The device's maker.
    pub maker: StateEntry,
    /// The block header's canonical encoding (hex).
    pub header: String,
    /// The block's finalization certificate's encoding (hex).
    pub finalization: String,
}

mod opt_hex {
    use machina_types::codec::{hex, parse_hex};

    pub fn serialize<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_some(&hex(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        let s: Option<String> = serde::Deserialize::deserialize(d)?;
        s.map(|s| parse_hex(&s).map_err(serde::de::Error::custom)).transpose()
    }
}
