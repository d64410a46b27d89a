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
}

impl WeightDtype {
    /// The name transformers' `torch_dtype` uses.
    pub fn torch_name(self) -> &'static str {
        match self {
            WeightDtype::F32 => "float32",
            WeightDtype::F16 => "float16",
        }
    }
}

impl std::str::FromStr for WeightDtype {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(WeightDtype::F32),
            "f16" => Ok(WeightDtype::F16),
            other => Err(Error::InvalidInput(format!("weight dtype {other:?}: expected f32 or f16"))),
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
    let config = to_json(&clip.config().to_config_json(dtype.torch_name()))?;
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
    let mut tensors: BTreeMap<String, (Vec<u8>, Vec<usize>)> = BTreeMap::new();
    for (key, t, shape) in c.out {
        let values = read_f32(t).await?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!("parameter `{key}`")));
        }
        let bytes: Vec<u8> = match dtype {
            WeightDtype::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            WeightDtype::F16 => values.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect(),
        };
        tensors.insert(key, (bytes, shape));
    }
    let st_dtype = match dtype {
        WeightDtype::F32 => Dtype::F32,
        WeightDtype::F16 => Dtype::F16,
    };
    let views = tensors
        .iter()
        .map(|(k, (b, s))| {
            TensorView::new(st_dtype, s.clone(), b)
                .map(|v| (k.clone(), v))
                .map_err(|e| Error::Safetensors(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Safetensors(e.to_string()))
}
