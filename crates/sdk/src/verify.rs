//! Offline verification of a [`ProofBundle`]: the finalization certificate is checked
//! against the validator set of the genesis, the certified block must be the bundle's
//! header, and the state proof must lead from the key and value to the header's state root.

use commonware_codec::{Decode, DecodeExt};
use commonware_consensus::simplex::{scheme::ed25519::Scheme, types::Finalization};
use commonware_cryptography::sha256;
use commonware_parallel::Sequential;
use machina_app::{
    Genesis,
    modules::bank::{keys as bank_keys, state::Account},
};
use machina_store::ProofBundle;
use machina_types::{Address, Hash, block::Header, codec::parse_hex};

/// Why a proof bundle is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The bundle is for another chain than the genesis.
    #[error("the proof is for chain {0:?}, the genesis for {1:?}")]
    WrongChain(String, String),
    /// A field does not decode.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The certificate's signatures do not come from a quorum of the genesis validators.
    #[error("the finalization certificate is not signed by a quorum of the validators")]
    BadCertificate,
    /// The certificate finalizes a different block.
    #[error("the certificate finalizes another block than the header")]
    OtherBlock,
    /// The header is at another height than claimed.
    #[error("the header is at height {0}, the bundle claims {1}")]
    Height(u64, u64),
    /// The key does not match its description.
    #[error("the key does not match its description")]
    KeyMismatch,
    /// The decoded value does not match the value.
    #[error("the decoded value does not match the value")]
    DecodedMismatch,
    /// The state proof does not lead to the header's state root.
    #[error("the state proof does not verify: {0}")]
    BadProof(String),
}

/// What a verified bundle proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The chain.
    pub chain_id: String,
    /// The finalized height.
    pub height: u64,
    /// The finalized block's digest.
    pub block: Hash,
    /// The state root at that height.
    pub state_root: Hash,
    /// The key.
    pub key: Hash,
    /// Its value (`None`: proven absent).
    pub value: Option<Vec<u8>>,
}

/// Verifies `bundle` against the validators of `genesis`.
pub fn verify_bundle(bundle: &ProofBundle, genesis: &Genesis) -> Result<Verified, VerifyError> {
    if bundle.chain_id != genesis.chain_id {
        return Err(VerifyError::WrongChain(bundle.chain_id.clone(), genesis.chain_id.clone()));
    }
    let header_bytes = parse_hex(&bundle.header).map_err(|_| VerifyError::Malformed("header"))?;
    let header = Header::decode(header_bytes).map_err(|_| VerifyError::Malformed("header"))?;
    if header.height != bundle.height {
        return Err(VerifyError::Height(header.height, bundle.height));
    }
    let validators = genesis.validator_set();
    let cert_bytes =
        parse_hex(&bundle.finalization).map_err(|_| VerifyError::Malformed("finalization"))?;
    let finalization =
        Finalization::<Scheme, sha256::Digest>::decode_cfg(cert_bytes, &validators.len())
            .map_err(|_| VerifyError::Malformed("finalization"))?;
    let verifier = Scheme::verifier(&genesis.consensus_namespace(), validators);
    if !finalization.verify(&mut commonware_utils::sys_rng(), &verifier, &Sequential) {
        return Err(VerifyError::BadCertificate);
    }
    let digest = header.digest();
    if Hash::from(finalization.proposal.payload) != digest {
        return Err(VerifyError::OtherBlock);
    }
    check_description(bundle)?;
    bundle
        .proof
        .verify(&bundle.key, bundle.value.as_deref(), &header.state_root)
        .map_err(|e| VerifyError::BadProof(e.to_string()))?;
    Ok(Verified {
        chain_id: bundle.chain_id.clone(),
        height: header.height,
        block: digest,
        state_root: header.state_root,
        key: bundle.key,
        value: bundle.value.clone(),
    })
}

/// For keys the SDK understands, the key must match its description and the decoded value
/// must match the raw value, so that no human-readable field can be edited unnoticed.
fn check_description(bundle: &ProofBundle) -> Result<(), VerifyError> {
    let Some(address) = bundle.description.as_deref().and_then(|d| d.strip_prefix("bank/account/"))
    else {
        return if bundle.decoded.is_some() { Err(VerifyError::DecodedMismatch) } else { Ok(()) };
    };
    let address: Address = address.parse().map_err(|_| VerifyError::Malformed("description"))?;
    let key = bank_keys::account(&address);
    if key != bundle.key {
        return Err(VerifyError::KeyMismatch);
    }
    let expected = match &bundle.value {
        Some(bytes) => {
            let account: Account = Account::decode(commonware_codec::Copying(bytes))
                .map_err(|_| VerifyError::Malformed("value"))?;
            Some(serde_json::to_value(account).expect("serializable"))
        }
        None => None,
    };
    if bundle.decoded != expected {
        return Err(VerifyError::DecodedMismatch);
    }
    Ok(())
}
