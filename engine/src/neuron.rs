//! Neurons: ed25519 keys (their addresses are [`Address`]es).

use std::path::Path;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
pub use crate::ids::{ADDRESS_PREFIX, Address};

/// A neuron's secret key, able to sign transactions.
#[derive(Clone)]
pub struct NeuronKey(SigningKey);

/// On-disk form of a key: JSON, written with mode 0600.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    address: Address,
    secret_key: String,
}

impl NeuronKey {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Self {
        NeuronKey(SigningKey::generate(&mut rand_core::OsRng))
    }

    /// A key from 32 secret bytes (deterministic keys for tests and fixtures).
    pub fn from_secret(secret: [u8; 32]) -> Self {
        NeuronKey(SigningKey::from_bytes(&secret))
    }

    /// The neuron's address.
    pub fn address(&self) -> Address {
        Address(self.0.verifying_key().to_bytes())
    }

    /// The ed25519 signing key (for signers outside the engine, such as Sprint's prover).
    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }

    /// Signs bytes with ed25519.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// Writes the key as JSON; refuses to overwrite an existing file.
    pub fn write(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        let file = KeyFile { address: self.address(), secret_key: hex::encode(self.0.to_bytes()) };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options.open(path)?;
        out.write_all(serde_json::to_string_pretty(&file).expect("a key file serialises").as_bytes())?;
        out.write_all(b"\n")?;
        out.sync_all()?;
        Ok(())
    }

    /// Reads a key written by [`NeuronKey::write`], checking the stored address.
    pub fn read(path: &Path) -> Result<Self> {
        let invalid = |reason: String| EngineError::InvalidKey(format!("{}: {reason}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
        let file: KeyFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let secret: [u8; 32] = hex::decode(&file.secret_key)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| invalid("secret_key is not 32 hex-encoded bytes".into()))?;
        let key = NeuronKey::from_secret(secret);
        if key.address() != file.address {
            return Err(invalid("address does not match secret_key".into()));
        }
        Ok(key)
    }
}

/// Verifies an ed25519 signature (strict: rejects malleable and small-order forms).
pub fn verify_signature(address: &Address, message: &[u8], signature: &[u8; 64]) -> Result<()> {
    let key = VerifyingKey::from_bytes(&address.0).map_err(|_| EngineError::BadSignature(*address))?;
    let signature = ed25519_dalek::Signature::from_bytes(signature);
    key.verify_strict(message, &signature).map_err(|_| EngineError::BadSignature(*address))
}

#[cfg(test)]
mod tests {
    use bech32::{Bech32, Hrp};

    use super::*;

    #[test]
    fn address_round_trips_and_rejects_wrong_prefix() {
        let key = NeuronKey::from_secret([7; 32]);
        let text = key.address().to_string();
        assert!(text.starts_with("neuron1"));
        assert_eq!(text.parse::<Address>().unwrap(), key.address());
        let other = bech32::encode::<Bech32>(Hrp::parse("bostrom").unwrap(), &[0; 32]).unwrap();
        assert!(other.parse::<Address>().unwrap_err().to_string().contains("prefix"));
        let short = bech32::encode::<Bech32>(Hrp::parse("neuron").unwrap(), &[0; 20]).unwrap();
        assert!(short.parse::<Address>().unwrap_err().to_string().contains("20 bytes"));
    }

    #[test]
    fn key_file_round_trips_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let key = NeuronKey::generate();
        key.write(&path).unwrap();
        assert_eq!(NeuronKey::read(&path).unwrap().address(), key.address());
        assert!(NeuronKey::generate().write(&path).is_err());
        let sig = key.sign(b"m");
        verify_signature(&key.address(), b"m", &sig).unwrap();
        assert!(verify_signature(&key.address(), b"n", &sig).is_err());
    }
}
