//! Decode fuzzing: whatever bytes or text arrive, parsing CIDs and verifying transactions
//! answers an error or a value, never a panic, and only the exact signed bytes verify.
//! `FUZZ_CASES` sets the cases per property (default 2,000; a longer run: `FUZZ_CASES=200000`).

use engine::{Particle, SignedTx, Transaction, TxLimits};
use proptest::prelude::*;

use crate::particle;

fn cases() -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
}

fn limits() -> TxLimits {
    engine::ChainParams::default().tx_limits()
}

/// A valid signed transaction to mutate.
fn valid() -> SignedTx {
    let key = engine::NeuronKey::from_secret([3; 32]);
    Transaction::new("fuzz", &key, 1, &[(particle(1), particle(2)), (particle(2), particle(3))]).sign(&key)
}

/// Text shaped like CIDs: multibase prefixes and CID alphabets, arbitrary lengths.
fn cid_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[bBzQfFmuU]?[a-zA-Z0-9+/=_-]{0,80}",
        Just(particle(7).to_string()).prop_flat_map(|cid| {
            (0..cid.len(), any::<char>()).prop_map(move |(at, c)| {
                let mut chars: Vec<char> = cid.chars().collect();
                chars[at] = c;
                chars.into_iter().collect()
            })
        }),
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn cid_text_parses_or_is_refused_and_what_parses_round_trips(text in cid_like()) {
        if let Ok(particle) = Particle::parse(&text) {
            prop_assert_eq!(Particle::parse(&particle.to_string()).unwrap(), particle);
            prop_assert_eq!(Particle::from_bytes(&particle.to_bytes()).unwrap(), particle);
        }
    }

    #[test]
    fn cid_bytes_parse_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(particle) = Particle::from_bytes(&bytes) {
            prop_assert_eq!(Particle::from_bytes(&particle.to_bytes()).unwrap(), particle);
        }
    }

    #[test]
    fn arbitrary_transaction_bytes_never_verify(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        signature in prop::array::uniform32(any::<u8>()),
    ) {
        let mut full = [0u8; 64];
        full[..32].copy_from_slice(&signature);
        let verdict = SignedTx { bytes, signature: full }.verify("fuzz", &limits());
        prop_assert!(verdict.is_err());
    }

    #[test]
    fn a_mutated_transaction_is_refused_and_only_the_signed_bytes_verify(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let original = valid();
        let mut bytes = original.bytes.clone();
        for (at, byte) in &edits {
            let at = at.index(bytes.len());
            bytes[at] = *byte;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        let unchanged = bytes == original.bytes;
        let verdict = SignedTx { bytes, signature: original.signature }.verify("fuzz", &limits());
        prop_assert_eq!(verdict.is_ok(), unchanged);
    }
}
