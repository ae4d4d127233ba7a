//! The model file: safetensors with a metadata header (spec/compiled-transformer.md, "Model
//! file"). Its CID (CIDv1 raw sha2-256 of these bytes) is what a block header records.
//!
//! Tensors (all `F32`, row-major): `embedding` `[particles, dim]` (input tokens and the tied
//! output head), `bias` `[particles]`, and per block `i`: `blocks.{i}.norm1.gain`/`.shift` `[dim]`,
//! `blocks.{i}.attention.{query,key,value,out}` `[dim, dim]`, `blocks.{i}.norm2.gain`/`.shift`,
//! `blocks.{i}.mlp.up` `[dim, hidden]`, `blocks.{i}.mlp.up_bias` `[hidden]`, `blocks.{i}.mlp.down`
//! `[hidden, dim]`, `blocks.{i}.mlp.down_bias` `[dim]`. Metadata: `format`, `shape` (JSON) and
//! whatever the caller adds (height, settings, metrics).
//!
//! The bytes are a function of the model and the metadata alone: tensors and metadata keys in
//! name order, the header padded with spaces to 8 bytes. The `safetensors` crate reads it back
//! (so the file is what any safetensors reader accepts); it writes metadata from a hash map,
//! whose order changes from run to run, so writing is done here.

use std::{collections::BTreeMap, ops::Range};

use safetensors::{Dtype, SafeTensors};

use crate::{
    error::{CompileError, Result},
    model::{Model, Part, Shape},
};

/// The `format` metadata value.
pub const FORMAT: &str = "cybergraph-compiled-transformer/1";

/// A model with its file's metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFile {
    /// The weights.
    pub model: Model,
    /// Metadata beyond `format` and `shape` (string values; JSON where structured).
    pub metadata: BTreeMap<String, String>,
}

/// Every dense tensor of a model of `shape`: its name, its dimensions (a vector is one
/// dimension) and its range in `Model::dense`.
fn dense_tensors(shape: &Shape) -> impl Iterator<Item = (String, Vec<usize>, Range<usize>)> + '_ {
    (0..shape.blocks).flat_map(move |block| {
        Part::ALL.into_iter().map(move |part| {
            let dims = match part.dims(shape) {
                (1, c) => vec![c],
                (r, c) => vec![r, c],
            };
            (format!("blocks.{block}.{}", part.name()), dims, shape.range(block, part))
        })
    })
}

/// How many tensors a model file of `shape` holds: the embedding, the bias and the dense ones.
fn tensor_count(shape: &Shape) -> usize {
    2 + shape.blocks * Part::ALL.len()
}

fn tensors(model: &Model) -> Vec<(String, Vec<usize>, &[f32])> {
    let shape = &model.shape;
    let mut out = vec![
        ("embedding".to_string(), vec![shape.particles, shape.dim], model.embedding.as_slice()),
        ("bias".to_string(), vec![shape.particles], model.bias.as_slice()),
    ];
    out.extend(dense_tensors(shape).map(|(name, dims, range)| (name, dims, &model.dense[range])));
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

impl ModelFile {
    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let tensors = tensors(&self.model);
        let mut header: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        let mut metadata: BTreeMap<String, String> = self.metadata.clone();
        metadata.insert("format".into(), FORMAT.into());
        metadata.insert("shape".into(), serde_json::to_string(&self.model.shape).expect("a shape serialises"));
        header.insert("__metadata__".into(), serde_json::to_value(metadata).expect("strings serialise"));
        let mut offset = 0;
        for (name, dims, data) in &tensors {
            let end = offset + data.len() * 4;
            header.insert(
                name.clone(),
                serde_json::json!({ "dtype": "F32", "shape": dims, "data_offsets": [offset, end] }),
            );
            offset = end;
        }
        // A BTreeMap serialises in key order whatever serde_json's features.
        let mut header = serde_json::to_vec(&header).expect("a header serialises");
        while !header.len().is_multiple_of(8) {
            header.push(b' ');
        }
        let mut bytes = Vec::with_capacity(8 + header.len() + offset);
        bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&header);
        for (_, _, data) in &tensors {
            data.iter().for_each(|x| bytes.extend_from_slice(&x.to_le_bytes()));
        }
        bytes
    }

    /// Reads a model file, refusing anything that is not one (truncated, corrupt, another
    /// format, tensors missing or of the wrong shape).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |what: String| CompileError::ModelFile(what);
        let file = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("unreadable header: {e}")))?;
        let mut metadata: BTreeMap<String, String> =
            header.metadata().clone().unwrap_or_default().into_iter().collect();
        if metadata.remove("format").as_deref() != Some(FORMAT) {
            return Err(bad(format!("metadata `format` is not {FORMAT}")));
        }
        let shape: Shape = metadata
            .remove("shape")
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or_else(|| bad("metadata `shape` is missing or malformed".into()))?;
        if shape.dim == 0 || shape.hidden == 0 || shape.particles.checked_mul(shape.dim).is_none() {
            return Err(bad(format!("shape {shape:?} is not a model's")));
        }
        let read = |name: &str, dims: &[usize]| -> Result<Vec<f32>> {
            let view = file.tensor(name).map_err(|_| bad(format!("tensor {name} is missing")))?;
            if view.dtype() != Dtype::F32 || view.shape() != dims {
                return Err(bad(format!(
                    "tensor {name} is {:?} {:?}, expected F32 {dims:?}",
                    view.dtype(),
                    view.shape()
                )));
            }
            let values: Vec<f32> =
                view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            if values.iter().any(|x| !x.is_finite()) {
                return Err(bad(format!("tensor {name} holds a non-finite value")));
            }
            Ok(values)
        };
        let embedding = read("embedding", &[shape.particles, shape.dim])?;
        let bias = read("bias", &[shape.particles])?;
        let mut dense = vec![0.0; shape.dense_len()];
        for (name, dims, range) in dense_tensors(&shape) {
            dense[range].copy_from_slice(&read(&name, &dims)?);
        }
        if file.len() != tensor_count(&shape) {
            return Err(bad(format!("{} tensors, expected {}", file.len(), tensor_count(&shape))));
        }
        Ok(ModelFile { model: Model { shape, embedding, bias, dense }, metadata })
    }
}

/// Whether `bytes` carry a model file's header (a cheap check: the header alone is parsed).
pub fn is_model_file(bytes: &[u8]) -> bool {
    SafeTensors::read_metadata(bytes)
        .ok()
        .and_then(|(_, header)| header.metadata().as_ref().and_then(|m| m.get("format").cloned()))
        .is_some_and(|format| format == FORMAT)
}

/// The metadata key of the height a model was compiled at.
const HEIGHT: &str = "height";

impl crate::Compiled {
    /// The model file of this compilation of the focus at `height`: the weights, with the
    /// height, the settings and the training summary as metadata.
    pub fn file(&self, height: u64) -> ModelFile {
        let metadata = BTreeMap::from([
            (HEIGHT.to_string(), height.to_string()),
            ("settings".to_string(), serde_json::to_string(&self.settings).expect("settings serialise")),
            ("examples".to_string(), self.examples.to_string()),
            ("final_kl".to_string(), format!("{:.6}", self.final_loss)),
        ]);
        ModelFile { model: self.model.clone(), metadata }
    }
}

impl ModelFile {
    /// The height whose focus the model was compiled from, if the file says.
    pub fn height(&self) -> Option<u64> {
        self.metadata.get(HEIGHT).and_then(|h| h.parse().ok())
    }
}
