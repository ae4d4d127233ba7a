//! A small blocking HTTP client of the node's API, used by `cybergraph link`.

use anyhow::{Context, Result, anyhow};
use engine::{NeuronKey, Particle, Receipt, Transaction};
use serde::Deserialize;

use crate::wire::{ChainHead, ErrorBody, NextNonce, ReceiptBody, SignedTxBody};

/// Turns a non-2xx answer into its `{"error": {code, message}}` text.
fn http_error(error: ureq::Error) -> anyhow::Error {
    match error {
        ureq::Error::Status(status, response) => {
            let body = response.into_string().unwrap_or_default();
            let detail = serde_json::from_str::<ErrorBody>(&body)
                .map_or(body, |ErrorBody { error }| format!("{}: {}", error.code, error.message));
            anyhow!("HTTP {status}: {detail}")
        }
        other => anyhow!(other),
    }
}

fn get<T: for<'de> Deserialize<'de>>(url: &str) -> Result<T> {
    ureq::get(url).call().map_err(http_error)?.into_json().with_context(|| format!("reading {url}"))
}

/// Signs `pairs` as transactions of at most the chain's links-per-transaction limit, with
/// consecutive nonces, and submits them in order. Returns each receipt.
pub(crate) fn link(node: &str, key: &NeuronKey, pairs: &[(Particle, Particle)]) -> Result<Vec<Receipt>> {
    let node = node.trim_end_matches('/');
    let status: ChainHead = get(&format!("{node}/status"))?;
    let neuron: NextNonce = get(&format!("{node}/neuron/{}", key.address()))?;
    pairs
        .chunks(status.params.max_links_per_tx)
        .zip(neuron.next_nonce..)
        .map(|(chunk, nonce)| {
            let signed = Transaction::new(&status.chain_id, key, nonce, chunk).sign(key);
            let receipt: ReceiptBody = ureq::post(&format!("{node}/tx"))
                .send_json(SignedTxBody::encode(&signed))
                .map_err(http_error)?
                .into_json()?;
            Ok(Receipt { cid: receipt.cid.parse()?, duplicates: receipt.duplicates })
        })
        .collect()
}
