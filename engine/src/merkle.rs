//! Binary Merkle trees in the style of RFC 6962 with SHA-256: leaves hashed as `0x00‖leaf`,
//! inner nodes as `0x01‖left‖right`, split at the largest power of two below the size. The
//! empty tree's root is `SHA-256("")`.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A 32-byte hash.
pub type Hash = [u8; 32];

/// The hash of one leaf.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    Sha256::new().chain_update([0u8]).chain_update(leaf).finalize().into()
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new().chain_update([1u8]).chain_update(left).chain_update(right).finalize().into()
}

fn split(n: usize) -> usize {
    debug_assert!(n > 1);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// Subtrees of at least this many leaves hash their halves in parallel (a focus tree of 10⁵
/// leaves and more is on every block's path; the root is the same whatever runs where).
const PARALLEL_LEAVES: usize = 8192;

/// The root over already hashed leaves.
pub fn root_of_hashes(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let (left, right) = leaves.split_at(split(n));
            let (left, right) = match n >= PARALLEL_LEAVES {
                true => rayon::join(|| root_of_hashes(left), || root_of_hashes(right)),
                false => (root_of_hashes(left), root_of_hashes(right)),
            };
            node_hash(&left, &right)
        }
    }
}

/// The root over raw leaves (hashed on the global pool in runs of [`LEAVES_PER_TASK`]: a
/// block's link leaves are on every validator's path, the same root whatever runs where).
pub fn root<L: AsRef<[u8]> + Sync>(leaves: &[L]) -> Hash {
    let hashes: Vec<Hash> = leaves.par_iter().with_min_len(LEAVES_PER_TASK).map(|l| leaf_hash(l.as_ref())).collect();
    root_of_hashes(&hashes)
}

/// Fewer leaves than this hash on the calling thread (a task costs more than a hash).
const LEAVES_PER_TASK: usize = 1024;

/// The audit path of one leaf, bottom-up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// Position of the leaf.
    pub index: usize,
    /// Number of leaves in the tree.
    pub size: usize,
    /// Sibling hashes from the leaf's level up to the root's children.
    pub path: Vec<Hash>,
}

impl InclusionProof {
    /// The audit path of leaf `index` among hashed `leaves`.
    pub fn new(leaves: &[Hash], index: usize) -> Self {
        assert!(index < leaves.len(), "leaf {index} outside a tree of {}", leaves.len());
        let mut path = Vec::new();
        let (mut lo, mut hi, mut at) = (0, leaves.len(), index);
        let mut siblings = Vec::new();
        while hi - lo > 1 {
            let k = split(hi - lo);
            if at < k {
                siblings.push(root_of_hashes(&leaves[lo + k..hi]));
                hi = lo + k;
            } else {
                siblings.push(root_of_hashes(&leaves[lo..lo + k]));
                lo += k;
                at -= k;
            }
        }
        path.extend(siblings.into_iter().rev());
        InclusionProof { index, size: leaves.len(), path }
    }

    /// Whether `leaf` at this proof's position hashes up to `root`.
    pub fn verify(&self, leaf: &[u8], root: &Hash) -> bool {
        self.root_from(leaf_hash(leaf)).is_some_and(|r| &r == root)
    }

    /// Recomputes the root from a leaf hash (RFC 9162 §2.1.3.2), or `None` for an ill-formed proof.
    fn root_from(&self, leaf: Hash) -> Option<Hash> {
        if self.index >= self.size {
            return None;
        }
        let (mut fn_, mut sn) = (self.index, self.size - 1);
        let mut r = leaf;
        for p in &self.path {
            if sn == 0 {
                return None;
            }
            if fn_ & 1 == 1 || fn_ == sn {
                r = node_hash(p, &r);
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            } else {
                r = node_hash(&r, p);
            }
            fn_ >>= 1;
            sn >>= 1;
        }
        (sn == 0).then_some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_rfc6962_test_vectors() {
        // Leaves and roots from the certificate-transparency reference tests.
        let leaves: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x00],
            vec![0x10],
            vec![0x20, 0x21],
            vec![0x30, 0x31],
            vec![0x40, 0x41, 0x42, 0x43],
            vec![0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            vec![0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f],
        ];
        let expect = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        for (n, want) in expect.iter().enumerate() {
            assert_eq!(hex::encode(root(&leaves[..n + 1])), *want, "tree of {}", n + 1);
        }
        assert_eq!(hex::encode(root::<&[u8]>(&[])), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    proptest! {
        #[test]
        fn every_leaf_proves_and_nothing_else_does(n in 1usize..70, pick in any::<prop::sample::Index>()) {
            let leaves: Vec<Vec<u8>> = (0..n as u32).map(|i| i.to_le_bytes().to_vec()).collect();
            let hashes: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();
            let root = root_of_hashes(&hashes);
            let i = pick.index(n);
            let proof = InclusionProof::new(&hashes, i);
            prop_assert!(proof.verify(&leaves[i], &root));
            prop_assert!(!proof.verify(b"forged", &root));
            let mut moved = proof.clone();
            moved.index = (i + 1) % n;
            prop_assert!(n == 1 || !moved.verify(&leaves[i], &root));
        }
    }
}
