//! The proof file: JSON `{"seed": hex seed material, "claim": base64 DAG-CBOR, "signature":
//! base64}` — what a prover writes and `cybergraph sprint verify` reads.

use std::path::Path;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};

use crate::{
    error::{Result, SprintError},
    proof::Proof,
};

/// The file's JSON form.
#[derive(Serialize, Deserialize)]
struct ProofFile {
    // Alphabetical, as the files written before this type had them.
    claim: String,
    seed: String,
    signature: String,
}

/// Writes `proof` with the seed material its Sprint seed derives from. Written beside and
/// renamed into place, so a crash never leaves half a proof under the final name.
pub fn write_proof(out: &Path, proof: &Proof, seed_material: &[u8]) -> Result<()> {
    let file = ProofFile {
        claim: STANDARD.encode(proof.claim.encode()),
        seed: hex::encode(seed_material),
        signature: STANDARD.encode(proof.signature),
    };
    let json = serde_json::to_string_pretty(&file).map_err(|e| SprintError::File(e.to_string()))?;
    let partial = out.with_extension("partial");
    std::fs::write(&partial, json)?;
    std::fs::rename(&partial, out)?;
    Ok(())
}

/// Reads a proof file: the decoded (canonical) proof and the seed material, unchecked.
pub fn read_proof(path: &Path) -> Result<(Proof, Vec<u8>)> {
    let text = std::fs::read_to_string(path)?;
    let bad = |what: String| SprintError::File(format!("{}: {what}", path.display()));
    let file: ProofFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let base64 = |name: &str, text: &str| STANDARD.decode(text).map_err(|e| bad(format!("{name} is not base64: {e}")));
    let signature: [u8; 64] =
        base64("signature", &file.signature)?.try_into().map_err(|_| bad("signature is not 64 bytes".into()))?;
    let seed = hex::decode(&file.seed).map_err(|e| bad(format!("seed is not hex: {e}")))?;
    Ok((Proof::decode(&base64("claim", &file.claim)?, signature)?, seed))
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::{Model, TINY, proof::Lane, proof::prove, sprint_seed};

    #[test]
    fn a_written_proof_reads_back_and_a_damaged_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let model = Model::new(TINY, sprint_seed(b"file"));
        let (proof, _) =
            prove(&model, &SigningKey::from_bytes(&[3; 32]), Lane { offset: 0, step: 1 }, |t, _| t < 64, &|| {});
        let path = dir.path().join("window-0.json");
        write_proof(&path, &proof, b"material").unwrap();
        assert!(!path.with_extension("partial").exists());
        assert_eq!(read_proof(&path).unwrap(), (proof, b"material".to_vec()));
        std::fs::write(&path, r#"{"seed": "00", "claim": "!!", "signature": ""}"#).unwrap();
        assert!(matches!(read_proof(&path), Err(SprintError::File(_))));
        assert!(matches!(read_proof(&dir.path().join("missing.json")), Err(SprintError::Io(_))));
    }
}
