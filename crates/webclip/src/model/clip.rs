//! The whole model (HF `CLIPModel` / `SiglipModel`): both towers, CLIP's projections into the
//! shared embedding space (SigLIP's towers end in heads instead), the learnable temperature and
//! SigLIP's bias.

use std::sync::Arc;

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Int, Tensor};

use super::build::{Builder, Init, Layout, ParamLayouts, WeightSource};
use super::text::TextTransformer;
use super::vision::VisionTransformer;
use crate::config::{ClipConfig, Family};
use crate::error::Result;

/// Which towers a model is built with. [`Towers::Image`] leaves the text tower (and CLIP's text
/// projection) out and ignores their keys in the checkpoint: what an embedding worker of a
/// photo library needs (ViT-B/32: 352 MB of f32 weights instead of 605 MB).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Towers {
    #[default]
    Both,
    Image,
}

impl Towers {
    /// Whether a checkpoint key (HF or OpenAI/OpenCLIP naming) belongs to what this leaves out.
    pub fn skips(self, key: &str) -> bool {
        self == Towers::Image
            && !["vision_model.", "visual_projection", "visual.", "logit_scale", "logit_bias"]
                .iter()
                .any(|p| key.starts_with(p))
    }
}

/// CLIP: `text_model`, `vision_model`, `visual_projection`, `text_projection`, `logit_scale`;
/// SigLIP: `text_model`, `vision_model`, `logit_scale`, `logit_bias`.
#[derive(Module, Debug)]
pub struct ClipModel {
    /// `None` when built with [`Towers::Image`].
    pub text_model: Option<TextTransformer>,
    pub vision_model: VisionTransformer,
    /// `[vision width → projection dim]`, no bias (CLIP).
    pub visual_projection: Option<Linear>,
    /// `[text width → projection dim]`, no bias (CLIP).
    pub text_projection: Option<Linear>,
    /// `[1]` (0-d in CLIP checkpoints, `[1]` in SigLIP's; Burn has no rank-0 tensors).
    /// Similarities are scaled by its exp.
    pub logit_scale: Param<Tensor<1>>,
    /// `[1]`, added to the scaled similarities before the sigmoid (SigLIP).
    pub logit_bias: Option<Param<Tensor<1>>>,
    /// How each parameter is laid out relative to the checkpoint, recorded when it was built:
    /// what export and training's gradient report undo.
    #[module(skip)]
    pub layouts: Arc<ParamLayouts>,
}

impl ClipModel {
    /// Builds the model from `source` (a checkpoint or random values) on `device`, then lets the
    /// source report missing, mismatched and unused keys.
    pub fn build(config: &ClipConfig, source: Box<dyn WeightSource + '_>, device: &Device) -> Result<Self> {
        Self::build_towers(config, source, device, Towers::Both)
    }

    /// [`Self::build`] with only `towers` (the source is told to ignore the others' keys).
    pub fn build_towers(
        config: &ClipConfig,
        source: Box<dyn WeightSource + '_>,
        device: &Device,
        towers: Towers,
    ) -> Result<Self> {
        let mut source = source;
        source.skip(towers);
        let model = {
            let mut b = Builder::new(source.as_mut(), device);
            Self::build_parts(config, &mut b, towers)?
        };
        source.finish()?;
        Ok(model)
    }

    fn build_parts(config: &ClipConfig, b: &mut Builder, towers: Towers) -> Result<Self> {
        let model = {
            let clip = config.family == Family::Clip;
            let text = towers == Towers::Both;
            let e = config.projection_dim;
            let text_model =
                if text { Some(TextTransformer::build(&config.text, (!clip).then_some(e), b)?) } else { None };
            let vision_model = VisionTransformer::build(&config.vision, b)?;
            let (dv, dt) = (config.vision.encoder.hidden_size, config.text.encoder.hidden_size);
            let (visual_projection, text_projection) = if clip {
                (
                    Some(b.linear("visual_projection", dv, e, false, (dv as f32).powf(-0.5))?),
                    if text { Some(b.linear("text_projection", dt, e, false, (dt as f32).powf(-0.5))?) } else { None },
                )
            } else {
                (None, None)
            };
            let logit_scale = b.param("logit_scale", [1], Init::Constant(config.logit_scale_init_value as f32))?;
            let logit_bias = if clip {
                None
            } else {
                Some(b.param("logit_bias", [1], Init::Constant(config.logit_bias_init_value as f32))?)
            };
            let layouts = Arc::new(b.layouts().clone());
            ClipModel { text_model, vision_model, visual_projection, text_projection, logit_scale, logit_bias, layouts }
        };
        Ok(model)
    }

    /// Every parameter the architecture asks a source for: HF key → (HF shape, layout), without
    /// any weights (placeholders on `device`). What a streaming source needs before the first
    /// byte arrives: which tensors to expect, their shapes, and which to transpose.
    pub fn plan(
        config: &ClipConfig,
        device: &Device,
        towers: Towers,
    ) -> Result<std::collections::BTreeMap<String, (Vec<usize>, Layout)>> {
        /// Records what the builder asks for: the shape and the layout the source delivers.
        struct Record(std::collections::BTreeMap<String, (Vec<usize>, Layout)>);
        impl WeightSource for Record {
            fn take_device(&mut self, key: &str, shape: &[usize], layout: Layout) -> Result<Option<Tensor<1>>> {
                self.0.insert(key.to_string(), (shape.to_vec(), layout));
                Ok(None)
            }
            fn take(&mut self, _: &str, _: &[usize], _: Init) -> Result<Option<Vec<f32>>> {
                Ok(None)
            }
            fn finish(self: Box<Self>) -> Result<()> {
                Ok(())
            }
        }
        let mut rec = Record(Default::default());
        {
            let mut b = Builder::new(&mut rec, device);
            Self::build_parts(config, &mut b, towers)?;
        }
        Ok(rec.0)
    }

    /// HF `get_image_features`: `pixels` `[batch, 3, H, W]` → projected, unnormalised `[batch, E]`.
    pub fn image_features(&self, pixels: Tensor<4>) -> Tensor<2> {
        self.project_image(self.vision_model.forward(pixels))
    }

    /// HF `get_text_features`: `ids` `[batch, tokens]`, `pool_index` `[batch]` → `[batch, E]`.
    /// An error for a model built without its text tower.
    pub fn text_features(&self, ids: Tensor<2, Int>, pool_index: Tensor<1, Int>) -> Result<Tensor<2>> {
        Ok(self.project_text(self.text_tower()?.forward(ids, pool_index)))
    }

    /// The text tower, or the error a model built with [`Towers::Image`] gives for text.
    pub fn text_tower(&self) -> Result<&TextTransformer> {
        self.text_model.as_ref().ok_or_else(|| {
            crate::error::Error::InvalidInput(
                "this model was loaded with its image tower only (an embedding worker): it cannot encode text".into(),
            )
        })
    }

    /// The vision tower's pooled output `[batch, width]` into the embedding space `[batch, E]`
    /// (CLIP's projection; SigLIP's head already did it).
    pub fn project_image(&self, pooled: Tensor<2>) -> Tensor<2> {
        match &self.visual_projection {
            Some(p) => p.forward(pooled),
            None => pooled,
        }
    }

    /// The text tower's pooled output into the embedding space (see [`Self::project_image`]).
    pub fn project_text(&self, pooled: Tensor<2>) -> Tensor<2> {
        match &self.text_projection {
            Some(p) => p.forward(pooled),
            None => pooled,
        }
    }
}

/// Rows scaled to unit L2 norm: `[n, e]` → `[n, e]`.
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}
