//! Writing a model back out as an HF folder (`config.json`, `model.safetensors`,
//! `tokenizer.json`, `preprocessor_config.json`) that `CLIPModel.from_pretrained` loads.
//!
//! Keys are the module paths (the HF keys, see `crate::loader`). The one layout change the
//! loader made is undone here: 2-D parameters other than the embedding tables are Linear weights,
//! held `[in, out]` by Burn and written `[out, in]` as PyTorch has them. `logit_scale` is written
//! 0-d.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde_json::{Value, json};

use crate::config::{ClipConfig, Filter, PreprocessConfig, Resize, TextPooling};
use crate::error::{Error, Result};
use crate::pipeline::{Clip, read_f32};

/// Storage dtype of exported weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightDtype {
    F32,
    F16,
}

/// The files of an HF CLIP folder.
#[derive(Debug, Clone)]
pub struct HfFolder {
    pub config: Vec<u8>,
    pub weights: Vec<u8>,
    pub tokenizer: Vec<u8>,
    pub preprocessor: Vec<u8>,
}

impl HfFolder {
    /// `(file name, bytes)` of every file.
    pub fn files(&self) -> [(&'static str, &[u8]); 4] {
        [
            ("config.json", &self.config),
            ("model.safetensors", &self.weights),
            ("tokenizer.json", &self.tokenizer),
            ("preprocessor_config.json", &self.preprocessor),
        ]
    }
}

/// Whether the parameter at `key` (2-D) is a Linear weight, stored transposed by Burn.
pub fn is_linear_weight(key: &str, rank: usize) -> bool {
    rank == 2 && !key.contains("embedding")
}

struct Collect {
    path: Vec<String>,
    out: Vec<(String, Tensor<1>, Vec<usize>)>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let key = self.path.join(".");
        let mut t = param.val();
        let mut shape = t.dims().to_vec();
        if is_linear_weight(&key, D) {
            t = t.swap_dims(0, 1);
            shape.swap(0, 1);
        }
        if key == "logit_scale" {
            shape.clear();
        }
        let n = t.shape().num_elements();
        self.out.push((key, t.reshape([n]), shape));
    }
}

/// The whole folder for `clip`.
pub async fn export_hf(clip: &Clip, dtype: WeightDtype) -> Result<HfFolder> {
    let weights = export_weights(clip, dtype).await?;
    let dtype_name = match dtype {
        WeightDtype::F32 => "float32",
        WeightDtype::F16 => "float16",
    };
    let config = to_json(&hf_config(clip.config(), dtype_name))?;
    let preprocessor = to_json(&hf_preprocessor(clip.preprocess_config()))?;
    Ok(HfFolder { config, weights, tokenizer: clip.tokenizer().source_bytes().to_vec(), preprocessor })
}

fn to_json(v: &Value) -> Result<Vec<u8>> {
    let mut s =
        serde_json::to_string_pretty(v).map_err(|e| Error::InvalidInput(format!("could not write JSON: {e}")))?;
    s.push('\n');
    Ok(s.into_bytes())
}

/// `model.safetensors` of `clip`, every parameter read back from the device.
pub async fn export_weights(clip: &Clip, dtype: WeightDtype) -> Result<Vec<u8>> {
    let mut c = Collect { path: Vec::new(), out: Vec::new() };
    clip.model().visit(&mut c);
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

/// A complete `config.json` (every field written, so it does not depend on defaults).
pub fn hf_config(c: &ClipConfig, dtype: &str) -> Value {
    let t = &c.text;
    let v = &c.vision;
    // transformers pools at argmax(input_ids) exactly when eos_token_id == 2.
    let eos = match t.pooling {
        TextPooling::Argmax => 2,
        TextPooling::FirstEos(id) => id,
    };
    json!({
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        "projection_dim": c.projection_dim,
        "logit_scale_init_value": c.logit_scale_init_value,
        "initializer_factor": 1.0,
        "torch_dtype": dtype,
        "text_config": {
            "model_type": "clip_text_model",
            "vocab_size": t.vocab_size,
            "hidden_size": t.hidden_size,
            "intermediate_size": t.intermediate_size,
            "num_hidden_layers": t.num_hidden_layers,
            "num_attention_heads": t.num_attention_heads,
            "max_position_embeddings": t.max_position_embeddings,
            "hidden_act": t.hidden_act.name(),
            "layer_norm_eps": t.layer_norm_eps,
            "projection_dim": c.projection_dim,
            "bos_token_id": t.bos_token_id,
            "eos_token_id": eos,
            "pad_token_id": t.pad_token_id,
        },
        "vision_config": {
            "model_type": "clip_vision_model",
            "hidden_size": v.hidden_size,
            "intermediate_size": v.intermediate_size,
            "num_hidden_layers": v.num_hidden_layers,
            "num_attention_heads": v.num_attention_heads,
            "num_channels": v.num_channels,
            "image_size": if v.image_size[0] == v.image_size[1] { json!(v.image_size[0]) } else { json!(v.image_size) },
            "patch_size": if v.patch_size[0] == v.patch_size[1] { json!(v.patch_size[0]) } else { json!(v.patch_size) },
            "hidden_act": v.hidden_act.name(),
            "layer_norm_eps": v.layer_norm_eps,
            "projection_dim": c.projection_dim,
        },
    })
}

/// `preprocessor_config.json` for HF's CLIPImageProcessor. (OpenCLIP's rounding of the crop
/// offset and its alpha handling have no HF field; the HF processor's are written.)
pub fn hf_preprocessor(p: &PreprocessConfig) -> Value {
    let resample = match p.filter {
        Filter::Lanczos => 1,
        Filter::Bilinear => 2,
        Filter::Bicubic => 3,
        Filter::Box => 4,
        Filter::Hamming => 5,
    };
    let size = match p.resize {
        Some(Resize::ShortestEdge(s)) => json!({"shortest_edge": s}),
        Some(Resize::Exact([h, w])) => json!({"height": h, "width": w}),
        None => Value::Null,
    };
    let crop = p.crop.map(|[h, w]| json!({"height": h, "width": w})).unwrap_or(Value::Null);
    json!({
        "image_processor_type": "CLIPImageProcessor",
        "do_resize": p.resize.is_some(),
        "size": size,
        "resample": resample,
        "do_center_crop": p.crop.is_some(),
        "crop_size": crop,
        "do_rescale": p.rescale_factor.is_some(),
        "rescale_factor": p.rescale_factor.unwrap_or(1.0 / 255.0),
        "do_normalize": p.mean.is_some(),
        "image_mean": p.mean.unwrap_or(crate::config::CLIP_MEAN),
        "image_std": p.std.unwrap_or(crate::config::CLIP_STD),
        "do_convert_rgb": true,
    })
}
