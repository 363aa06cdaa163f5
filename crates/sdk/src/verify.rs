//! Offline verification of proof bundles.
//!
//! Every bundle carries a block header and its finalization certificate: the certificate is
//! checked against the validator set of the genesis and must finalize that header. State
//! entries are then checked against the header's state root; their descriptions and decoded
//! values are recomputed, so no human-readable field can be edited unnoticed. A reading
//! bundle is checked end to end: maker key, maker certificate of the device, the anchor
//! (whose device key the chain checked), the Merkle path, and the device's signature.

use commonware_codec::{Decode, DecodeExt};
use commonware_consensus::simplex::{scheme::ed25519::Scheme, types::Finalization};
use commonware_cryptography::sha256;
use commonware_parallel::Sequential;
use machina_store::{ProofBundle, ReadingBundle, StateEntry};
use machina_types::{
    Genesis,
    data::state::AnchorRecord,
    describe,
    identity::state::{Device, Maker},
};
use machina_types::{Hash, SignedReading, block::Header, codec::parse_hex};

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
    /// A key does not match its description.
    #[error("the key does not match its description")]
    KeyMismatch,
    /// A decoded value does not match the value.
    #[error("the decoded value does not match the value")]
    DecodedMismatch,
    /// A state proof does not lead to the header's state root.
    #[error("the state proof does not verify: {0}")]
    BadProof(String),
    /// An entry the reading proof needs is absent.
    #[error("the {0} is not in the state")]
    Absent(&'static str),
    /// The reading is outside the anchor's range, device or stream.
    #[error("the reading is not covered by the anchor")]
    NotCovered,
    /// The Merkle path does not lead to the anchor's root.
    #[error("the reading's Merkle path does not lead to the anchored root")]
    BadMerkle,
    /// The reading's signature does not verify with the anchored device key.
    #[error("the reading's signature does not verify with the device key")]
    BadReadingSignature,
    /// The device certificate is not signed by its maker's key.
    #[error("the device certificate is not signed by the maker key")]
    BadMakerCertificate,
}

/// What a verified [`ProofBundle`] proves.
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

/// What a verified [`ReadingBundle`] proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedReading {
    /// The finalized height.
    pub height: u64,
    /// The finalized block's digest.
    pub block: Hash,
    /// The reading.
    pub reading: SignedReading,
    /// The anchor's index in its stream.
    pub anchor: u64,
    /// The height the anchor was recorded at.
    pub anchored_at: u64,
    /// The device's maker (account) and its name.
    pub maker: (machina_types::Address, String),
}

/// Checks the certificate against the genesis validators and returns the header it
/// finalizes.
pub fn verify_finalized(
    chain_id: &str,
    height: u64,
    header: &str,
    finalization: &str,
    genesis: &Genesis,
) -> Result<Header, VerifyError> {
    if chain_id != genesis.chain_id {
        return Err(VerifyError::WrongChain(chain_id.to_string(), genesis.chain_id.clone()));
    }
    let header_bytes = parse_hex(header).map_err(|_| VerifyError::Malformed("header"))?;
    let header = Header::decode(header_bytes).map_err(|_| VerifyError::Malformed("header"))?;
    if header.height != height {
        return Err(VerifyError::Height(header.height, height));
    }
    let validators = genesis.validator_set();
    let cert = parse_hex(finalization).map_err(|_| VerifyError::Malformed("finalization"))?;
    let finalization = Finalization::<Scheme, sha256::Digest>::decode_cfg(cert, &validators.len())
        .map_err(|_| VerifyError::Malformed("finalization"))?;
    let verifier = Scheme::verifier(&genesis.consensus_namespace(), validators);
    if !finalization.verify(&mut commonware_utils::sys_rng(), &verifier, &Sequential) {
        return Err(VerifyError::BadCertificate);
    }
    if Hash::from(finalization.proposal.payload) != header.digest() {
        return Err(VerifyError::OtherBlock);
    }
    Ok(header)
}

/// Checks a state entry against `root`: key and decoded value against the description,
/// then the proof.
pub fn verify_entry(entry: &StateEntry, root: &Hash) -> Result<(), VerifyError> {
    match entry.description.as_deref().and_then(describe::known) {
        Some(known) => {
            if known.key != entry.key {
                return Err(VerifyError::KeyMismatch);
            }
            let expected = entry
                .value
                .as_deref()
                .map(|v| (known.decode)(v).ok_or(VerifyError::Malformed("value")));
            if entry.decoded != expected.transpose()? {
                return Err(VerifyError::DecodedMismatch);
            }
        }
        None if entry.decoded.is_some() => return Err(VerifyError::DecodedMismatch),
        None => {}
    }
    entry
        .proof
        .verify(&entry.key, entry.value.as_deref(), root)
        .map_err(|e| VerifyError::BadProof(e.to_string()))
}

/// Verifies `bundle` against the validators of `genesis`.
pub fn verify_bundle(bundle: &ProofBundle, genesis: &Genesis) -> Result<Verified, VerifyError> {
    let header = verify_finalized(
        &bundle.chain_id,
        bundle.height,
        &bundle.header,
        &bundle.finalization,
        genesis,
    )?;
    verify_entry(&bundle.entry, &header.state_root)?;
    Ok(Verified {
        chain_id: bundle.chain_id.clone(),
        height: header.height,
        block: header.digest(),
        state_root: header.state_root,
        key: bundle.entry.key,
        value: bundle.entry.value.clone(),
    })
}

/// An entry that must be present, decoded as `T`, with the expected description.
fn present<T: Decode<Cfg = ()>>(
    entry: &StateEntry,
    root: &Hash,
    description: &str,
    what: &'static str,
) -> Result<T, VerifyError> {
    if entry.description.as_deref() != Some(description) {
        return Err(VerifyError::KeyMismatch);
    }
    verify_entry(entry, root)?;
    let bytes = entry.value.as_ref().ok_or(VerifyError::Absent(what))?;
    T::decode(commonware_codec::Copying(bytes)).map_err(|_| VerifyError::Malformed(what))
}

/// Verifies a reading bundle end to end against the validators of `genesis`.
pub fn verify_reading(
    bundle: &ReadingBundle,
    genesis: &Genesis,
) -> Result<VerifiedReading, VerifyError> {
    let header = verify_finalized(
        &bundle.chain_id,
        bundle.height,
        &bundle.header,
        &bundle.finalization,
        genesis,
    )?;
    let root = header.state_root;
    let bytes = parse_hex(&bundle.reading).map_err(|_| VerifyError::Malformed("reading"))?;
    let reading = SignedReading::decode_checked(&bytes).ok_or(VerifyError::Malformed("reading"))?;
    if serde_json::to_value(&reading).ok().as_ref() != Some(&bundle.decoded) {
        return Err(VerifyError::DecodedMismatch);
    }
    let r = &reading.reading;
    let index = bundle
        .anchor
        .decoded
        .as_ref()
        .and_then(|d| d["index"].as_u64())
        .ok_or(VerifyError::Malformed("anchor"))?;
    let anchor: AnchorRecord =
        present(&bundle.anchor, &root, &describe::anchor(&r.device, r.stream, index), "anchor")?;
    if anchor.device != r.device
        || anchor.stream != r.stream
        || r.seq < anchor.first_seq
        || r.seq > anchor.last_seq
    {
        return Err(VerifyError::NotCovered);
    }
    if bundle.merkle.count != anchor.count || !bundle.merkle.verify(&reading.leaf(), &anchor.root) {
        return Err(VerifyError::BadMerkle);
    }
    if !reading.verify(&anchor.device_key) {
        return Err(VerifyError::BadReadingSignature);
    }
    let device: Device = present(&bundle.device, &root, &describe::device(&r.device), "device")?;
    let maker: Maker = present(&bundle.maker, &root, &describe::maker(&device.maker()), "maker")?;
    if !device.certificate.verify(&maker.maker_key) || device.certificate.device_id() != r.device {
        return Err(VerifyError::BadMakerCertificate);
    }
    Ok(VerifiedReading {
        height: header.height,
        block: header.digest(),
        anchor: anchor.index,
        anchored_at: anchor.height,
        maker: (maker.account, maker.name),
        reading,
    })
}
