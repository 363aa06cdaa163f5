//! State proofs: a key's value, or its absence, against a state root.

use crate::{CHUNK, Value};
use commonware_codec::{Decode, Encode};
use commonware_cryptography::{Sha256, sha256};
use commonware_storage::{
    merkle::{MAX_PROOF_DIGESTS_PER_ELEMENT, mmr},
    qmdb::{
        any::value::VariableEncoding,
        current::ordered::proof::constant::{ExclusionProof, KeyValueProof},
    },
};
use machina_types::Hash;
use serde::{Deserialize, Serialize};

/// Inclusion proof type of the state database.
pub type InclusionProof = KeyValueProof<mmr::Family, sha256::Digest, sha256::Digest, CHUNK>;
/// Exclusion proof type of the state database.
pub type AbsenceProof =
    ExclusionProof<mmr::Family, sha256::Digest, VariableEncoding<Value>, sha256::Digest, CHUNK>;

/// A proof about one key, in its canonical encoding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StateProof {
    /// The key holds a value.
    Inclusion {
        /// Encoded [`InclusionProof`].
        #[serde(with = "machina_types::codec::hex_bytes")]
        #[cfg_attr(feature = "schema", schema(schema_with = machina_types::schema::hex_bytes))]
        proof: Vec<u8>,
    },
    /// The key holds nothing.
    Exclusion {
        /// Encoded [`AbsenceProof`].
        #[serde(with = "machina_types::codec::hex_bytes")]
        #[cfg_attr(feature = "schema", schema(schema_with = machina_types::schema::hex_bytes))]
        proof: Vec<u8>,
    },
}

/// Why a proof does not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The proof bytes do not decode.
    #[error("proof does not decode")]
    Malformed,
    /// The proof is of inclusion but no value was claimed, or the reverse.
    #[error("proof kind does not match the claimed value")]
    KindMismatch,
    /// The proof does not lead to the root.
    #[error("proof does not verify against the state root")]
    Invalid,
}

impl StateProof {
    /// Wraps an inclusion proof.
    pub fn inclusion(proof: &InclusionProof) -> Self {
        Self::Inclusion { proof: proof.encode().to_vec() }
    }

    /// Wraps an exclusion proof.
    pub fn exclusion(proof: &AbsenceProof) -> Self {
        Self::Exclusion { proof: proof.encode().to_vec() }
    }

    /// Encoded size in bytes.
    pub fn len(&self) -> usize {
        match self {
            Self::Inclusion { proof } | Self::Exclusion { proof } => proof.len(),
        }
    }

    /// Whether the encoding is empty (never for a real proof).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks that `key` holds `value` (or nothing, if `None`) under `root`.
    pub fn verify(&self, key: &Hash, value: Option<&[u8]>, root: &Hash) -> Result<(), ProofError> {
        let key = key.digest();
        let root = root.digest();
        let ok = match (self, value) {
            (Self::Inclusion { proof }, Some(value)) => {
                let proof =
                    InclusionProof::decode_cfg(proof.clone(), &(MAX_PROOF_DIGESTS_PER_ELEMENT, ()))
                        .map_err(|_| ProofError::Malformed)?;
                proof.verify::<Sha256, VariableEncoding<Value>>(key, Value(value.to_vec()), &root)
            }
            (Self::Exclusion { proof }, None) => {
                let proof = AbsenceProof::decode_cfg(
                    proof.clone(),
                    &(MAX_PROOF_DIGESTS_PER_ELEMENT, ((), ()), ()),
                )
                .map_err(|_| ProofError::Malformed)?;
                proof.verify::<Sha256>(&key, &root)
            }
            _ => return Err(ProofError::KindMismatch),
        };
        if ok { Ok(()) } else { Err(ProofError::Invalid) }
    }
}
