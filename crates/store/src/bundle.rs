//! A self-contained proof of one state value at a finalized height: the value (or its
//! absence), the state proof, the block header that carries the state root, and the
//! finalization certificate that signs the header. With the genesis (for the validator
//! set), anyone can check it offline.

use crate::StateProof;
use machina_types::Hash;
use serde::{Deserialize, Serialize};

/// A proof of a state value at a finalized block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProofBundle {
    /// Chain the proof is about.
    pub chain_id: String,
    /// Height of the block whose state is proven.
    pub height: u64,
    /// The state key (SHA-256 of the module's structured key).
    pub key: Hash,
    /// What the key is, for humans (e.g. `bank/account/<address>`).
    pub description: Option<String>,
    /// The value's canonical encoding (hex), or `null` if the key is absent.
    #[serde(with = "opt_hex")]
    pub value: Option<Vec<u8>>,
    /// The value decoded, for humans. Verification checks it matches `value`.
    pub decoded: Option<serde_json::Value>,
    /// Inclusion or exclusion proof against the header's state root.
    pub proof: StateProof,
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
