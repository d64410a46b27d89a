//! The whole model (HF `CLIPModel`): both towers, their projections into the shared embedding
//! space and the learnable temperature.

use std::sync::Arc;

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Int, Tensor};

use super::build::{Builder, Init, ParamLayouts, WeightSource};
use super::text::TextTransformer;
use super::vision::VisionTransformer;
use crate::config::ClipConfig;
use crate::error::Result;

/// CLIP: `text_model`, `vision_model`, `visual_projection`, `text_projection`, `logit_scale`.
#[derive(Module, Debug)]
pub struct ClipModel {
    pub text_model: TextTransformer,
    pub vision_model: VisionTransformer,
    /// `[vision width → projection dim]`, no bias.
    pub visual_projection: Linear,
    /// `[text width → projection dim]`, no bias.
    pub text_projection: Linear,
    /// `[1]` (0-d in checkpoints; Burn has no rank-0 tensors). Similarities are scaled by its exp.
    pub logit_scale: Param<Tensor<1>>,
    /// How each parameter is laid out relative to the checkpoint, recorded when it was built:
    /// what export and training's gradient report undo.
    #[module(skip)]
    pub layouts: Arc<ParamLayouts>,
}

impl ClipModel {
    /// Builds the model from `source` (a checkpoint or random values) on `device`, then lets the
    /// source report missing, mismatched and unused keys.
    pub fn build(config: &ClipConfig, source: Box<dyn WeightSource + '_>, device: &Device) -> Result<Self> {
        let mut source = source;
        let model = {
            let mut b = Builder::new(source.as_mut(), device);
            let text_model = TextTransformer::build(&config.text, &mut b)?;
            let vision_model = VisionTransformer::build(&config.vision, &mut b)?;
            let e = config.projection_dim;
            let (dv, dt) = (config.vision.encoder.hidden_size, config.text.encoder.hidden_size);
            let visual_projection = b.linear("visual_projection", dv, e, false, (dv as f32).powf(-0.5))?;
            let text_projection = b.linear("text_projection", dt, e, false, (dt as f32).powf(-0.5))?;
            let logit_scale = b.param("logit_scale", [1], Init::Constant(config.logit_scale_init_value as f32))?;
            let layouts = Arc::new(b.into_layouts());
            ClipModel { text_model, vision_model, visual_projection, text_projection, logit_scale, layouts }
        };
        source.finish()?;
        Ok(model)
    }

    /// HF `get_image_features`: `pixels` `[batch, 3, H, W]` → projected, unnormalised `[batch, E]`.
    pub fn image_features(&self, pixels: Tensor<4>) -> Tensor<2> {
        self.visual_projection.forward(self.vision_model.forward(pixels))
    }

    /// HF `get_text_features`: `ids` `[batch, tokens]`, `pool_index` `[batch]` → `[batch, E]`.
    pub fn text_features(&self, ids: Tensor<2, Int>, pool_index: Tensor<1, Int>) -> Tensor<2> {
        self.text_projection.forward(self.text_model.forward(ids, pool_index))
    }
}

/// Rows scaled to unit L2 norm: `[n, e]` → `[n, e]`.
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}
