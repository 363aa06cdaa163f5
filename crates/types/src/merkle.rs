//! A binary Merkle tree over a list of leaves, with inclusion proofs.
//!
//! Leaves and inner nodes are hashed under distinct prefixes (`0x00`, `0x01`), so a leaf can
//! never pass for an inner node. A level with an odd count carries its last node up
//! unchanged (no duplication, so two different lists never share a root). Proofs are the
//! sibling hashes from leaf to root; verification needs the leaf's index and the leaf count.

use crate::hash::Hash;
use alloc::vec::Vec;
use commonware_cryptography::{Hasher, Sha256};
use serde::{Deserialize, Serialize};

/// The hash of a leaf's bytes.
pub fn leaf(data: &[u8]) -> Hash {
    Hash(Sha256::hash(&[&[0u8], data]).0)
}

/// The hash of two child nodes.
pub fn node(left: &Hash, right: &Hash) -> Hash {
    Hash(Sha256::hash(&[&[1u8], &left.0, &right.0]).0)
}

/// The root of an empty tree.
pub fn empty_root() -> Hash {
    Hash::of(&[b"machina/merkle/empty"])
}

/// The root over already-hashed leaves.
pub fn root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return empty_root();
    }
    let mut level: Vec<Hash> = leaves.to_vec();
    while level.len() > 1 {
        level = next_level(&level);
    }
    level[0]
}

fn next_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [l, r] => node(l, r),
            [only] => *only,
            _ => unreachable!(),
        })
        .collect()
}

/// Proof that a leaf is at `index` among `count` leaves under some root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Proof {
    /// The leaf's position.
    pub index: u32,
    /// The number of leaves in the tree.
    pub count: u32,
    /// Sibling hashes from the leaf level upward (levels without a sibling are skipped).
    pub siblings: Vec<Hash>,
}

/// Builds the inclusion proof of leaf `index`; `None` if out of range.
pub fn prove(leaves: &[Hash], index: usize) -> Option<Proof> {
    if index >= leaves.len() {
        return None;
    }
    let mut siblings = Vec::new();
    let mut level: Vec<Hash> = leaves.to_vec();
    let mut i = index;
    while level.len() > 1 {
        let sibling = i ^ 1;
        if sibling < level.len() {
            siblings.push(level[sibling]);
        }
        level = next_level(&level);
        i /= 2;
    }
    Some(Proof { index: index as u32, count: leaves.len() as u32, siblings })
}

impl Proof {
    /// The root this proof computes for `leaf_hash`, or `None` if the proof is malformed.
    pub fn root(&self, leaf_hash: &Hash) -> Option<Hash> {
        if self.index >= self.count {
            return None;
        }
        let mut acc = *leaf_hash;
        let mut i = self.index as usize;
        let mut len = self.count as usize;
        let mut siblings = self.siblings.iter();
        while len > 1 {
            let sibling = i ^ 1;
            if sibling < len {
                let s = siblings.next()?;
                acc = if i.is_multiple_of(2) { node(&acc, s) } else { node(s, &acc) };
            }
            i /= 2;
            len = len.div_ceil(2);
        }
        if siblings.next().is_some() {
            return None;
        }
        Some(acc)
    }

    /// Whether `leaf_hash` is at this proof's index under `root`.
    pub fn verify(&self, leaf_hash: &Hash, root: &Hash) -> bool {
        self.root(leaf_hash).as_ref() == Some(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf(&(i as u64).to_be_bytes())).collect()
    }

    #[test]
    fn a_single_leaf_is_its_own_root() {
        let l = leaves(1);
        assert_eq!(root(&l), l[0]);
        assert!(prove(&l, 0).unwrap().verify(&l[0], &l[0]));
    }

    #[test]
    fn a_wrong_leaf_or_index_fails() {
        let l = leaves(5);
        let r = root(&l);
        let p = prove(&l, 3).unwrap();
        assert!(p.verify(&l[3], &r));
        assert!(!p.verify(&l[2], &r));
        let mut moved = p.clone();
        moved.index = 2;
        assert!(!moved.verify(&l[3], &r));
        let mut extra = p;
        extra.siblings.push(Hash::ZERO);
        assert!(!extra.verify(&l[3], &r));
    }

    proptest! {
        #[test]
        fn every_leaf_proves_against_the_root(n in 1usize..70, pick in any::<prop::sample::Index>()) {
            let l = leaves(n);
            let r = root(&l);
            let i = pick.index(n);
            let p = prove(&l, i).unwrap();
            prop_assert!(p.verify(&l[i], &r));
            prop_assert!(p.siblings.len() <= 7);
        }

        #[test]
        fn different_lists_have_different_roots(n in 1usize..40) {
            let l = leaves(n);
            let mut m = l.clone();
            m.push(*l.last().unwrap());
            prop_assert_ne!(root(&l), root(&m));
        }
    }
}
