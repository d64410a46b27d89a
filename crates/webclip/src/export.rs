//! Writing a model back out as an HF folder (`config.json`, `model.safetensors`,
//! `tokenizer.json`, `preprocessor_config.json`) that `CLIPModel.from_pretrained` (or
//! `SiglipModel.from_pretrained`, for a SigLIP model) loads.
//!
//! Keys are the module paths (the HF keys, see `crate::loader`). The layout changes the builder
//! made are undone from the model's own record of them (`ClipModel::layouts`): Linear weights,
//! held `[in, out]` by Burn, are written `[out, in]` as PyTorch has them. CLIP's `logit_scale` is
//! written 0-d; SigLIP's `logit_scale` and `logit_bias` are `[1]`, as transformers has them.

use std::collections::BTreeMap;

use burn::module::Param;
use burn::tensor::Tensor;
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde_json::Value;

use crate::config::Family;
use crate::device::read_f32;
use crate::error::{Error, Result};
use crate::model::ParamLayouts;
use crate::model::params::{self, KeyedVisitor};
use crate::pipeline::Clip;

/// Storage dtype of exported weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightDtype {
    #[default]
    F32,
    F16,
    /// int8 matrices with one f32 scale per output channel (every Linear weight and the token
    /// embedding; see [`quantizes`]), everything else f16: about a quarter of the f32 file.
    Q8,
}

impl WeightDtype {
    /// The name transformers' `torch_dtype` uses (q8: the dtype of its unquantised tensors).
    pub fn torch_name(self) -> &'static str {
        match self {
            WeightDtype::F32 => "float32",
            WeightDtype::F16 | WeightDtype::Q8 => "float16",
        }
    }
}

/// Whether a q8 export stores `key` as int8: the Linear weights (the builder's
/// [`Layout::Transpose`](crate::model::Layout) record: q/k/v/out, MLP, projections and heads,
/// SigLIP's packed `in_proj_weight`) and the token embedding — the matrices that are nearly all
/// of a model's bytes. Norms, biases, positions, the patch convolution, SigLIP's probe and the
/// temperature/bias stay f16 (they are small, and some are sensitive).
pub fn quantizes(layouts: &ParamLayouts, key: &str, shape: &[usize]) -> bool {
    shape.len() == 2 && (layouts.is_transposed(key) || key.ends_with("token_embedding.weight"))
}

/// Symmetric per-row int8: `rows` rows of `values`, each scaled by its largest magnitude / 127
/// (a zero row gets scale 1). Returns the int8 values and the scales.
pub fn quantize_rows(values: &[f32], rows: usize) -> (Vec<i8>, Vec<f32>) {
    let cols = values.len() / rows.max(1);
    let mut q = Vec::with_capacity(values.len());
    let mut scales = Vec::with_capacity(rows);
    for row in values.chunks(cols.max(1)) {
        let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        q.extend(row.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8));
        scales.push(scale);
    }
    (q, scales)
}

/// The `quantization_config` a q8 `config.json` carries: compressed-tensors' description of
/// symmetric int8 weights with a scale per output channel (`<key>_scale`, shape `[rows, 1]`).
/// transformers 5.24 + compressed-tensors did not load such a CLIP folder when tried (README, "q8
/// folders"); the entry is kept so that tools refuse the folder rather than read int8 as weights.
pub fn q8_quantization_config() -> Value {
    serde_json::json!({
        "quant_method": "compressed-tensors",
        "format": "int-quantized",
        "quantization_status": "compressed",
        "config_groups": {
            "group_0": {
                "targets": ["Linear", "Embedding"],
                "weights": {"num_bits": 8, "type": "int", "symmetric": true, "strategy": "channel", "dynamic": false},
                "input_activations": null,
                "output_activations": null
            }
        },
        "ignore": ["position_embedding", "patch_embedding"]
    })
}

impl std::str::FromStr for WeightDtype {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(WeightDtype::F32),
            "f16" => Ok(WeightDtype::F16),
            "q8" => Ok(WeightDtype::Q8),
            other => Err(Error::InvalidInput(format!("weight dtype {other:?}: expected f32, f16 or q8"))),
        }
    }
}

/// The files of an HF CLIP or SigLIP folder.
#[derive(Debug, Clone)]
pub struct HfFolder {
    pub config: Vec<u8>,
    pub weights: Vec<u8>,
    pub tokenizer: Vec<u8>,
    pub preprocessor: Vec<u8>,
    /// `tokenizer_config.json` naming the pad token, for models that pad with it (SigLIP: HF's
    /// processor pads to the context with it, and cannot without one).
    pub tokenizer_config: Option<Vec<u8>>,
}

impl HfFolder {
    /// `(file name, bytes)` of every file.
    pub fn files(&self) -> Vec<(&'static str, &[u8])> {
        let mut files = vec![
            ("config.json", self.config.as_slice()),
            ("model.safetensors", self.weights.as_slice()),
            ("tokenizer.json", self.tokenizer.as_slice()),
            ("preprocessor_config.json", self.preprocessor.as_slice()),
        ];
        if let Some(tc) = &self.tokenizer_config {
            files.push(("tokenizer_config.json", tc.as_slice()));
        }
        files
    }
}

/// Every parameter flattened in checkpoint layout, with its key and checkpoint shape.
struct Collect<'a> {
    layouts: &'a ParamLayouts,
    /// CLIP's checkpoints hold `logit_scale` 0-d.
    scalar_0d: bool,
    out: Vec<(String, Tensor<1>, Vec<usize>)>,
}

impl KeyedVisitor for Collect<'_> {
    fn visit<const D: usize>(&mut self, key: &str, _: &str, param: &Param<Tensor<D>>) {
        let mut t = param.val();
        let mut shape = t.dims().to_vec();
        if self.layouts.is_transposed(key) {
            t = t.swap_dims(0, 1);
            shape.swap(0, 1);
        }
        if self.scalar_0d && key == "logit_scale" {
            shape.clear();
        }
        let n = t.shape().num_elements();
        self.out.push((key.to_string(), t.reshape([n]), shape));
    }
}

/// The whole folder for `clip`.
pub async fn export_hf(clip: &Clip, dtype: WeightDtype) -> Result<HfFolder> {
    let weights = export_weights(clip, dtype).await?;
    let mut config_json = clip.config().to_config_json(dtype.torch_name());
    if let (WeightDtype::Q8, Some(m)) = (dtype, config_json.as_object_mut()) {
        m.insert("quantization_config".into(), q8_quantization_config());
    }
    let config = to_json(&config_json)?;
    let (preprocessor, tokenizer_config) = match clip.config().family {
        Family::Clip => (to_json(&clip.preprocess_config().to_hf_json())?, None),
        Family::Siglip => {
            let tok = clip.tokenizer();
            let pad = tok.pad_id().unwrap_or(clip.config().text.pad_token_id);
            let pad_token = tok
                .id_to_token(pad)
                .ok_or_else(|| Error::Tokenizer(format!("the pad id {pad} is not in the tokenizer's vocabulary")))?;
            let tc = serde_json::json!({
                "tokenizer_class": "PreTrainedTokenizerFast",
                "pad_token": pad_token,
                "model_max_length": tok.context(),
            });
            (to_json(&clip.preprocess_config().to_siglip_json())?, Some(to_json(&tc)?))
        }
    };
    let tokenizer = clip.tokenizer().source_bytes().to_vec();
    Ok(HfFolder { config, weights, tokenizer, preprocessor, tokenizer_config })
}

fn to_json(v: &Value) -> Result<Vec<u8>> {
    let mut s =
        serde_json::to_string_pretty(v).map_err(|e| Error::InvalidInput(format!("could not write JSON: {e}")))?;
    s.push('\n');
    Ok(s.into_bytes())
}

/// `model.safetensors` of `clip`, every parameter read back from the device.
pub async fn export_weights(clip: &Clip, dtype: WeightDtype) -> Result<Vec<u8>> {
    let model = clip.model();
    let scalar_0d = clip.config().family == Family::Clip;
    let mut c = Collect { layouts: &model.layouts, scalar_0d, out: Vec::new() };
    params::visit(model, &mut c);
    let mut tensors: BTreeMap<String, (Dtype, Vec<u8>, Vec<usize>)> = BTreeMap::new();
    for (key, t, shape) in c.out {
        let values = read_f32(t).await?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!("parameter `{key}`")));
        }
        let f16 = |v: &[f32]| v.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect::<Vec<u8>>();
        match dtype {
            WeightDtype::F32 => {
                tensors.insert(key, (Dtype::F32, values.iter().flat_map(|v| v.to_le_bytes()).collect(), shape));
            }
            WeightDtype::F16 => {
                tensors.insert(key, (Dtype::F16, f16(&values), shape));
            }
            WeightDtype::Q8 if quantizes(&model.layouts, &key, &shape) => {
                let (q, scales) = quantize_rows(&values, shape[0]);
                let scale_bytes = scales.iter().flat_map(|v| v.to_le_bytes()).collect();
                tensors.insert(format!("{key}_scale"), (Dtype::F32, scale_bytes, vec![shape[0], 1]));
                tensors.insert(key, (Dtype::I8, q.iter().map(|v| *v as u8).collect(), shape));
            }
            WeightDtype::Q8 => {
                tensors.insert(key, (Dtype::F16, f16(&values), shape));
            }
        }
    }
    let views = tensors
        .iter()
        .map(|(k, (d, b, s))| {
            TensorView::new(*d, s.clone(), b).map(|v| (k.clone(), v)).map_err(|e| Error::Safetensors(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Safetensors(e.to_string()))
}
