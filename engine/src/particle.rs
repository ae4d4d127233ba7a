//! Particles: content addresses (CIDs) the graph links.

use std::fmt;

use ipld_core::cid::{Cid, Version, multihash::Multihash};
use sha2::{Digest, Sha256};

use crate::error::{EngineError, Result};

/// Multicodec codes of the content types a particle may address.
mod codec {
    pub(crate) const RAW: u64 = 0x55;
    pub(crate) const DAG_PB: u64 = 0x70;
    pub(crate) const DAG_CBOR: u64 = 0x71;
    pub(crate) const DAG_JSON: u64 = 0x0129;
}

/// Multihash codes with the digest length each must have.
const HASHES: &[(u64, &str, usize)] =
    &[(0x12, "sha2-256", 32), (0x13, "sha2-512", 64), (0x1e, "blake3", 32), (0xb220, "blake2b-256", 32)];

pub(crate) const SHA2_256: u64 = 0x12;
pub(crate) use codec::DAG_CBOR;

/// A validated particle address.
///
/// Accepts CIDv0 (`Qm…`) and CIDv1 in any multibase with codec raw, dag-pb, dag-cbor or dag-json
/// and a cryptographic multihash of the right length. The canonical form is the CID's bytes; a
/// CIDv0 and a CIDv1 of the same multihash are different particles, as on IPFS.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Particle(Cid);

impl Particle {
    /// Parses and validates a CID string.
    pub fn parse(input: &str) -> Result<Self> {
        if input.is_empty() {
            return Err(EngineError::InvalidCid { input: String::new(), reason: "empty string".into() });
        }
        let cid = Cid::try_from(input)
            .map_err(|e| EngineError::InvalidCid { input: input.to_owned(), reason: e.to_string() })?;
        Self::from_cid(cid).map_err(|e| match e {
            EngineError::InvalidCid { reason, .. } => EngineError::InvalidCid { input: input.to_owned(), reason },
            other => other,
        })
    }

    /// Parses and validates a CID in binary form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let cid = Cid::try_from(bytes)
            .map_err(|e| EngineError::InvalidCid { input: hex::encode(bytes), reason: e.to_string() })?;
        Self::from_cid(cid)
    }

    /// Validates an already decoded CID.
    pub fn from_cid(cid: Cid) -> Result<Self> {
        let invalid = |reason: String| EngineError::InvalidCid { input: cid.to_string(), reason };
        if !matches!(cid.codec(), codec::RAW | codec::DAG_PB | codec::DAG_CBOR | codec::DAG_JSON) {
            return Err(invalid(format!(
                "codec 0x{:x} is not accepted (raw, dag-pb, dag-cbor, dag-json)",
                cid.codec()
            )));
        }
        let hash = cid.hash();
        match HASHES.iter().find(|(code, _, _)| *code == hash.code()) {
            None => Err(invalid(format!(
                "multihash 0x{:x} is not accepted (sha2-256, sha2-512, blake3, blake2b-256)",
                hash.code()
            ))),
            Some((_, name, len)) if hash.size() as usize != *len => {
                Err(invalid(format!("{name} digest has {} bytes, expected {len}", hash.size())))
            }
            Some(_) => Ok(Particle(cid)),
        }
    }

    /// The particle of a piece of content: CIDv1, codec raw, sha2-256.
    pub fn of_content(content: &[u8]) -> Self {
        let digest = Sha256::digest(content);
        let hash = Multihash::wrap(SHA2_256, &digest).expect("a 32-byte digest fits a multihash");
        Particle(Cid::new_v1(codec::RAW, hash))
    }

    /// The canonical binary form.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    /// The underlying CID.
    pub fn cid(&self) -> Cid {
        self.0
    }

    /// Whether this is a CIDv0.
    pub fn is_v0(&self) -> bool {
        self.0.version() == Version::V0
    }
}

impl serde::Serialize for Particle {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for Particle {
    /// CIDv0 as base58btc, CIDv1 as base32 lower case (the IPFS defaults).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Particle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Particle({})", self.0)
    }
}

/// The CIDv1 (dag-cbor, sha2-256) of DAG-CBOR bytes: how transactions, headers and the genesis
/// document are named.
pub fn dag_cbor_cid(bytes: &[u8]) -> Cid {
    let digest = Sha256::digest(bytes);
    Cid::new_v1(DAG_CBOR, Multihash::wrap(SHA2_256, &digest).expect("a 32-byte digest fits a multihash"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipld_core::cid::multibase::Base;
    use proptest::prelude::*;

    const V0: &str = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG";

    #[test]
    fn accepts_v0_and_v1_in_any_multibase() {
        let v0 = Particle::parse(V0).unwrap();
        assert!(v0.is_v0());
        assert_eq!(v0.to_string(), V0);
        let content = Particle::of_content(b"hello");
        let b32 = content.to_string();
        assert!(b32.starts_with("bafkrei"), "{b32}");
        let b58 = content.cid().to_string_of_base(Base::Base58Btc).unwrap();
        let b64 = content.cid().to_string_of_base(Base::Base64Url).unwrap();
        assert_eq!(Particle::parse(&b58).unwrap(), content);
        assert_eq!(Particle::parse(&b64).unwrap(), content);
    }

    #[test]
    fn rejects_with_a_reason() {
        for (input, reason) in
            [("", "empty"), ("Qm", ""), ("not a cid", ""), ("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbd0", "")]
        {
            let err = Particle::parse(input).unwrap_err();
            assert_eq!(err.code(), "INVALID_CID", "{input:?}");
            assert!(err.to_string().contains(reason));
        }
        let identity = Cid::new_v1(codec::RAW, Multihash::wrap(0x00, b"inline").unwrap());
        assert!(Particle::parse(&identity.to_string()).unwrap_err().to_string().contains("multihash 0x0"));
        let git = Cid::new_v1(0x78, Multihash::wrap(SHA2_256, &[1; 32]).unwrap());
        assert!(Particle::parse(&git.to_string()).unwrap_err().to_string().contains("codec 0x78"));
        let short = Cid::new_v1(codec::RAW, Multihash::wrap(SHA2_256, &[1; 20]).unwrap());
        assert!(Particle::parse(&short.to_string()).unwrap_err().to_string().contains("expected 32"));
    }

    proptest! {
        #[test]
        fn string_and_byte_forms_round_trip(content in prop::collection::vec(any::<u8>(), 0..64), codec_pick in 0usize..4) {
            let codecs = [codec::RAW, codec::DAG_PB, codec::DAG_CBOR, codec::DAG_JSON];
            let hash = Particle::of_content(&content).cid().hash().to_owned();
            let particle = Particle::from_cid(Cid::new_v1(codecs[codec_pick], hash)).unwrap();
            prop_assert_eq!(Particle::parse(&particle.to_string()).unwrap(), particle);
            prop_assert_eq!(Particle::from_bytes(&particle.to_bytes()).unwrap(), particle);
            let v0 = Particle::from_cid(Cid::new_v0(hash).unwrap()).unwrap();
            prop_assert_eq!(Particle::parse(&v0.to_string()).unwrap(), v0);
            prop_assert_eq!(Particle::from_bytes(&v0.to_bytes()).unwrap(), v0);
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..80), text in ".{0,60}") {
            let _ = Particle::from_bytes(&bytes);
            let _ = Particle::parse(&text);
        }
    }
}
