//! Blocks: a header that commits to the transactions and to the state after executing them,
//! and the transactions.
//!
//! The block digest is the SHA-256 of the header's encoding. Consensus orders digests, and
//! a finalization certificate signs one, so a certificate plus a state proof against the
//! header's `state_root` proves any value of the state at that height.

use crate::{
    Height,
    codec::read_vec,
    hash::Hash,
    limits::{TX_SIZE_MAX, TXS_PER_BLOCK_MAX},
    merkle,
    tx::SignedTransaction,
};
use commonware_codec::{
    Buf, Encode, EncodeSize, Error, FixedSize, MaxEncodeSize, Read, ReadExt, Write,
};
use commonware_consensus::{
    Block as ConsensusBlock, BoundedBlock, CertifiableBlock, Heightable, simplex::types,
    types::Height as ConsensusHeight,
};
use commonware_cryptography::{Digestible, Hasher, Sha256, ed25519, sha256};

/// The consensus context a block was proposed in: round, leader and parent view.
pub type Context = types::Context<sha256::Digest, ed25519::PublicKey>;

/// The span of the state database's operation log that the header's state commits to. Peers
/// that sync state use it as the sync target together with `ops_root`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct OpsRange {
    /// First operation still active (the inactivity floor).
    pub start: u64,
    /// One past the last operation.
    pub end: u64,
}

/// A block header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Consensus context (round, leader, parent view and digest) the block was proposed in.
    pub context: Context,
    /// Digest of the parent block.
    pub parent: Hash,
    /// Height (genesis is 0).
    pub height: Height,
    /// Proposer's timestamp, milliseconds since the Unix epoch; strictly increasing.
    pub timestamp_ms: u64,
    /// Merkle root of the transaction hashes, in block order.
    pub tx_root: Hash,
    /// Number of transactions.
    pub tx_count: u32,
    /// The state root after executing the block: the root state proofs verify against.
    pub state_root: Hash,
    /// Root of the state database's operation log after executing the block.
    pub ops_root: Hash,
    /// Active span of the operation log after executing the block.
    pub ops_range: OpsRange,
}

/// A block: header and transactions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The transactions, in execution order.
    pub txs: Vec<SignedTransaction>,
}

impl Header {
    /// The block digest: SHA-256 of the encoded header.
    pub fn digest(&self) -> Hash {
        Hash(Sha256::hash(&[&self.encode()]).0)
    }
}

impl Block {
    /// The Merkle root over transaction hashes, in block order.
    pub fn tx_root(hashes: &[Hash]) -> Hash {
        let leaves: Vec<Hash> = hashes.iter().map(|h| merkle::leaf(&h.0)).collect();
        merkle::root(&leaves)
    }

    /// The hashes of the transactions, in block order.
    pub fn tx_hashes(&self) -> Vec<Hash> {
        self.txs.iter().map(SignedTransaction::hash).collect()
    }

    /// Whether the header's transaction commitments match the body, given the body's
    /// transaction hashes.
    pub fn body_matches_header(&self, hashes: &[Hash]) -> bool {
        hashes.len() == self.txs.len()
            && self.header.tx_count as usize == self.txs.len()
            && self.header.tx_root == Self::tx_root(hashes)
    }
}

impl Write for OpsRange {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.start.write(buf);
        self.end.write(buf);
    }
}

impl FixedSize for OpsRange {
    const SIZE: usize = 16;
}

impl Read for OpsRange {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let start = u64::read(buf)?;
        let end = u64::read(buf)?;
        if start >= end {
            return Err(Error::Invalid("OpsRange", "empty range"));
        }
        Ok(Self { start, end })
    }
}

impl Write for Header {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.context.write(buf);
        self.parent.write(buf);
        self.height.write(buf);
        self.timestamp_ms.write(buf);
        self.tx_root.write(buf);
        self.tx_count.write(buf);
        self.state_root.write(buf);
        self.ops_root.write(buf);
        self.ops_range.write(buf);
    }
}

impl EncodeSize for Header {
    fn encode_size(&self) -> usize {
        self.context.encode_size() + 32 + 8 + 8 + 32 + 4 + 32 + 32 + OpsRange::SIZE
    }
}

impl MaxEncodeSize for Header {
    const MAX_ENCODE_SIZE: usize = Context::MAX_ENCODE_SIZE + 32 + 8 + 8 + 32 + 4 + 32 + 32 + 16;
}

impl Read for Header {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            context: Context::read(buf)?,
            parent: Hash::read(buf)?,
            height: u64::read(buf)?,
            timestamp_ms: u64::read(buf)?,
            tx_root: Hash::read(buf)?,
            tx_count: u32::read(buf)?,
            state_root: Hash::read(buf)?,
            ops_root: Hash::read(buf)?,
            ops_range: OpsRange::read(buf)?,
        })
    }
}

impl Write for Block {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.header.write(buf);
        self.txs.write(buf);
    }
}

impl EncodeSize for Block {
    fn encode_size(&self) -> usize {
        self.header.encode_size() + self.txs.encode_size()
    }
}

impl Read for Block {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let header = Header::read(buf)?;
        let txs = read_vec(buf, TXS_PER_BLOCK_MAX, &())?;
        Ok(Self { header, txs })
    }
}

impl Digestible for Block {
    type Digest = sha256::Digest;
    fn digest(&self) -> sha256::Digest {
        self.header.digest().digest()
    }
}

impl Heightable for Block {
    fn height(&self) -> ConsensusHeight {
        ConsensusHeight::new(self.header.height)
    }
}

impl ConsensusBlock for Block {
    fn parent(&self) -> sha256::Digest {
        self.header.parent.digest()
    }
}

impl CertifiableBlock for Block {
    type Context = Context;
    fn context(&self) -> Context {
        self.header.context.clone()
    }
}

impl BoundedBlock for Block {
    fn max_encode_size(_: &()) -> usize {
        Header::MAX_ENCODE_SIZE + 5 + TXS_PER_BLOCK_MAX * TX_SIZE_MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Address, Call, Transaction, bank::BankCall};
    use commonware_codec::DecodeExt;
    use commonware_consensus::types::{Epoch, Round, View};
    use commonware_cryptography::Signer;

    fn header(txs: &[SignedTransaction]) -> Header {
        Header {
            context: Context {
                round: Round::new(Epoch::zero(), View::new(3)),
                leader: ed25519::PrivateKey::from_seed(1).public_key(),
                parent: (View::new(2), sha256::Digest([7; 32])),
            },
            parent: Hash([7; 32]),
            height: 2,
            timestamp_ms: 1_700_000_000_000,
            tx_root: Block::tx_root(&txs.iter().map(SignedTransaction::hash).collect::<Vec<_>>()),
            tx_count: txs.len() as u32,
            state_root: Hash([1; 32]),
            ops_root: Hash([2; 32]),
            ops_range: OpsRange { start: 3, end: 10 },
        }
    }

    #[test]
    fn blocks_round_trip_and_the_digest_commits_to_the_body() {
        let k = ed25519::PrivateKey::from_seed(5);
        let tx = Transaction {
            chain_id: "c".into(),
            signer: Address::of(&k.public_key()),
            nonce: 0,
            fee: 1000,
            expiry_height: 9,
            calls: vec![Call::Bank(BankCall::Transfer { to: Address([1; 32]), amount: 3 })],
        }
        .sign(&k);
        let txs = vec![tx];
        let block = Block { header: header(&txs), txs };
        assert!(block.body_matches_header(&block.tx_hashes()));
        let back = Block::decode(block.encode()).unwrap();
        assert_eq!(back, block);
        assert!(block.encode_size() <= Block::max_encode_size(&()));

        let mut other = block.clone();
        other.txs.clear();
        assert!(!other.body_matches_header(&other.tx_hashes()));
        other.header.tx_root = Block::tx_root(&[]);
        other.header.tx_count = 0;
        assert_ne!(other.digest(), block.digest());
    }
}
