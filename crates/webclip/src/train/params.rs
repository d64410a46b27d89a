//! Which parameters train in each mode (by HF key: a parameter's path in the module tree, walked
//! with `crate::model::params`), and WiSE-FT interpolation between two models of the same
//! architecture.

use std::collections::HashMap;

use burn::module::Param;
use burn::tensor::Tensor;

use crate::error::{Error, Result};
use crate::model::ClipModel;
use crate::model::params::{self, KeyedMapper, KeyedVisitor, param_infos};

/// What trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainMode {
    /// `visual_projection`, `text_projection` and `logit_scale` (SigLIP: the two heads,
    /// `logit_scale` and `logit_bias`).
    Projections,
    /// The last N blocks of each tower, their final norms, the projections (heads) and the
    /// temperature (and bias).
    Last(usize),
    /// Everything.
    All,
}

impl std::str::FromStr for TrainMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "projections" => Ok(TrainMode::Projections),
            "all" => Ok(TrainMode::All),
            _ => match s.strip_prefix("last:").map(str::parse::<usize>) {
                Some(Ok(n)) if n >= 1 => Ok(TrainMode::Last(n)),
                _ => Err(Error::InvalidInput(format!(
                    "training mode {s:?}: expected projections, last:N (N ≥ 1) or all"
                ))),
            },
        }
    }
}

impl<'de> serde::Deserialize<'de> for TrainMode {
    /// From its string form (`"last:2"`), as [`FromStr`](std::str::FromStr) reads it.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Which parameters a training configuration updates, by HF key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trainable {
    pub mode: TrainMode,
    /// LiT: the image tower and its projection stay as they are.
    pub lock_image: bool,
    /// The text tower and its projection stay as they are.
    pub lock_text: bool,
}

impl Trainable {
    /// Whether the parameter `key` trains, for towers of `text_layers` / `vision_layers` blocks.
    pub fn includes(&self, key: &str, text_layers: usize, vision_layers: usize) -> bool {
        let image_side = key.starts_with("vision_model.") || key.starts_with("visual_projection.");
        let text_side = key.starts_with("text_model.") || key.starts_with("text_projection.");
        if (self.lock_image && image_side) || (self.lock_text && text_side) {
            return false;
        }
        let projection = key.starts_with("visual_projection.")
            || key.starts_with("text_projection.")
            || key.starts_with("vision_model.head.")
            || key.starts_with("text_model.head.")
            || key == "logit_scale"
            || key == "logit_bias";
        match self.mode {
            TrainMode::All => true,
            TrainMode::Projections => projection,
            TrainMode::Last(n) => {
                if projection
                    || key.starts_with("text_model.final_layer_norm.")
                    || key.starts_with("vision_model.post_layernorm.")
                {
                    return true;
                }
                let block = |prefix: &str, layers: usize| {
                    key.strip_prefix(prefix)
                        .and_then(|rest| rest.split('.').next())
                        .and_then(|i| i.parse::<usize>().ok())
                        .is_some_and(|i| i + n >= layers)
                };
                block("text_model.encoder.layers.", text_layers) || block("vision_model.encoder.layers.", vision_layers)
            }
        }
    }
}

/// Sets `require_grad` on every parameter from a predicate on its key.
struct Freeze<'a> {
    trains: &'a dyn Fn(&str) -> bool,
}

impl KeyedMapper for Freeze<'_> {
    fn map<const D: usize>(&mut self, key: &str, _: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.set_require_grad((self.trains)(key))
    }
}

/// The model with only the parameters `trains` accepts requiring gradients.
pub fn set_trainable(model: ClipModel, trains: &dyn Fn(&str) -> bool) -> ClipModel {
    params::map(model, &mut Freeze { trains })
}

/// Every parameter flattened, by key.
struct Gather(HashMap<String, Tensor<1>>);

impl KeyedVisitor for Gather {
    fn visit<const D: usize>(&mut self, key: &str, _: &str, param: &Param<Tensor<D>>) {
        let t = param.val();
        let n = t.shape().num_elements();
        self.0.insert(key.to_string(), t.reshape([n]));
    }
}

struct Mix {
    base: HashMap<String, Tensor<1>>,
    alpha: f64,
    missing: Vec<String>,
}

impl KeyedMapper for Mix {
    fn map<const D: usize>(&mut self, key: &str, _: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(base) = self.base.remove(key) else {
            self.missing.push(key.to_string());
            return param;
        };
        let alpha = self.alpha;
        param.map(|ft| {
            let shape = ft.dims();
            if base.dims()[0] != shape.iter().product::<usize>() {
                return ft;
            }
            // Either model may run in f16 (`crate::model::precision`): mix in the fine-tuned
            // model's dtype.
            let base = base.reshape(shape).cast(ft.dtype());
            base * (1.0 - alpha) + ft * alpha
        })
    }
}

/// WiSE-FT (Wortsman et al. 2022): `θ = (1 − α)·θ_base + α·θ_finetuned`, parameter by parameter.
/// α = 0 gives the base model back, α = 1 the fine-tuned one. The models must share the
/// architecture.
pub fn wise_ft(base: &ClipModel, finetuned: ClipModel, alpha: f64) -> Result<ClipModel> {
    if !(0.0..=1.0).contains(&alpha) || !alpha.is_finite() {
        return Err(Error::InvalidInput(format!("WiSE-FT alpha must be in [0, 1], got {alpha}")));
    }
    let base_shapes: HashMap<String, Vec<usize>> = param_infos(base).into_iter().map(|p| (p.key, p.shape)).collect();
    for p in param_infos(&finetuned) {
        match base_shapes.get(&p.key) {
            Some(s) if *s == p.shape => {}
            Some(s) => {
                return Err(Error::InvalidInput(format!(
                    "WiSE-FT: `{}` is {:?} in the base model but {:?} in the fine-tuned one",
                    p.key, s, p.shape
                )));
            }
            None => return Err(Error::InvalidInput(format!("WiSE-FT: the base model has no `{}`", p.key))),
        }
    }
    let mut gather = Gather(HashMap::new());
    params::visit(base, &mut gather);
    let mut mix = Mix { base: gather.0, alpha, missing: Vec::new() };
    let mixed = params::map(finetuned, &mut mix);
    if !mix.missing.is_empty() {
        return Err(Error::InvalidInput(format!("WiSE-FT: the base model lacks {}", mix.missing.join(", "))));
    }
    Ok(mixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let all = Trainable { mode: TrainMode::All, lock_image: false, lock_text: false };
        assert!(all.includes("vision_model.embeddings.class_embedding", 12, 12));
        let lit = Trainable { lock_image: true, ..all };
        assert!(!lit.includes("vision_model.encoder.layers.3.mlp.fc1.weight", 12, 12));
        assert!(!lit.includes("visual_projection.weight", 12, 12));
        assert!(lit.includes("text_projection.weight", 12, 12));
        assert!(lit.includes("logit_scale", 12, 12));
        let proj = Trainable { mode: TrainMode::Projections, ..all };
        assert!(proj.includes("logit_scale", 12, 12));
        assert!(!proj.includes("text_model.final_layer_norm.weight", 12, 12));
        let last2 = Trainable { mode: TrainMode::Last(2), ..all };
        assert!(last2.includes("text_model.encoder.layers.11.self_attn.q_proj.weight", 12, 12));
        assert!(last2.includes("text_model.encoder.layers.10.layer_norm1.bias", 12, 12));
        assert!(!last2.includes("text_model.encoder.layers.9.layer_norm1.bias", 12, 12));
        assert!(last2.includes("vision_model.encoder.layers.2.mlp.fc2.bias", 12, 4));
        assert!(last2.includes("vision_model.post_layernorm.weight", 12, 4));
        assert!(!last2.includes("vision_model.pre_layrnorm.weight", 12, 4));
        assert!(!last2.includes("text_model.embeddings.token_embedding.weight", 12, 4));
        assert_eq!("last:3".parse::<TrainMode>().unwrap(), TrainMode::Last(3));
        assert!("last:0".parse::<TrainMode>().is_err());
        assert!("some".parse::<TrainMode>().is_err());
    }
}
