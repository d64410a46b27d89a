//! The image tower (HF `CLIPVisionTransformer` / `SiglipVisionTransformer`, key prefix
//! `vision_model.`). CLIP prepends a class token, normalises before the encoder
//! (`pre_layrnorm`) and pools at the class token; SigLIP has neither, a bias on the patch
//! convolution, and pools every token through its attention head (`super::head`).

use burn::module::{Module, Param};
use burn::nn::Embedding;
use burn::tensor::{Int, Tensor};

use super::build::{Builder, Init};
use super::encoder::{Encoder, LayerNorm};
use super::head::PoolingHead;
use crate::config::VisionConfig;
use crate::error::Result;

/// Patch embedding: a Conv2d with stride = kernel = patch (HF
/// `embeddings.patch_embedding.weight`, `[width, 3, P, P]`; CLIP's has no bias, SigLIP's has).
/// Non-overlapping patches make the convolution a reshape plus one matmul, which is what
/// `forward` does.
#[derive(Module, Debug)]
pub struct PatchEmbedding {
    /// `[width, channels, patch_h, patch_w]`.
    pub weight: Param<Tensor<4>>,
    /// `[width]` (SigLIP).
    pub bias: Option<Param<Tensor<1>>>,
}

/// Patch, class and position embeddings (`vision_model.embeddings`).
#[derive(Module, Debug)]
pub struct VisionEmbeddings {
    pub patch_embedding: PatchEmbedding,
    /// `[width]`, prepended as token 0 (CLIP).
    pub class_embedding: Option<Param<Tensor<1>>>,
    /// `[patches (+ 1), width]`.
    pub position_embedding: Embedding,
}

/// ViT over normalised pixels, pooled at the class token (CLIP) or by the head (SigLIP).
#[derive(Module, Debug)]
pub struct VisionTransformer {
    pub embeddings: VisionEmbeddings,
    /// Sic: HF's key is `pre_layrnorm` (CLIP).
    pub pre_layrnorm: Option<LayerNorm>,
    pub encoder: Encoder,
    pub post_layernorm: LayerNorm,
    /// The attention-pooling head (SigLIP).
    pub head: Option<PoolingHead>,
}

impl VisionTransformer {
    pub(crate) fn build(c: &VisionConfig, b: &mut Builder) -> Result<Self> {
        let d = c.encoder.hidden_size;
        let eps = c.encoder.layer_norm_eps;
        let p = "vision_model";
        let [ph, pw] = c.patch_size;
        let cls = c.class_token;
        let embeddings = VisionEmbeddings {
            patch_embedding: PatchEmbedding {
                weight: b.param(
                    &format!("{p}.embeddings.patch_embedding.weight"),
                    [d, c.num_channels, ph, pw],
                    Init::Normal(0.02),
                )?,
                bias: if cls {
                    None
                } else {
                    Some(b.param(&format!("{p}.embeddings.patch_embedding.bias"), [d], Init::Constant(0.0))?)
                },
            },
            class_embedding: if cls {
                Some(b.param(&format!("{p}.embeddings.class_embedding"), [d], Init::Normal((d as f32).powf(-0.5)))?)
            } else {
                None
            },
            position_embedding: Embedding {
                weight: b.param(
                    &format!("{p}.embeddings.position_embedding.weight"),
                    [c.num_positions(), d],
                    Init::Normal(0.02),
                )?,
            },
        };
        let pre_layrnorm = if cls { Some(b.layer_norm(&format!("{p}.pre_layrnorm"), d, eps)?) } else { None };
        let encoder = b.encoder(&format!("{p}.encoder"), &c.encoder)?;
        let post_layernorm = b.layer_norm(&format!("{p}.post_layernorm"), d, eps)?;
        // A config's class token and head go together (`ClipConfig::family`).
        let head = if cls { None } else { Some(PoolingHead::build(&format!("{p}.head"), &c.encoder, b)?) };
        Ok(VisionTransformer { embeddings, pre_layrnorm, encoder, post_layernorm, head })
    }

    /// `pixels`: `[batch, 3, H, W]` normalised → pooled `[batch, width]`.
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<2> {
        self.finish(self.prefix(pixels, 0), 0)
    }

    /// Embeddings, `pre_layrnorm` and encoder layers `0..layers`: `[batch, 3, H, W]` →
    /// `[batch, patches (+ 1), width]`.
    pub fn prefix(&self, pixels: Tensor<4>, layers: usize) -> Tensor<3> {
        let [b, c, h, w] = pixels.dims();
        let weight = self.embeddings.patch_embedding.weight.val(); // [d, c, ph, pw]
        let [d, _, ph, pw] = weight.dims();
        let (gh, gw) = (h / ph, w / pw);
        // [b, c, gh, ph, gw, pw] → [b, gh, gw, c, ph, pw] → [b, gh*gw, c*ph*pw]
        let patches =
            pixels.reshape([b, c, gh, ph, gw, pw]).permute([0, 2, 4, 1, 3, 5]).reshape([b, gh * gw, c * ph * pw]);
        let flops = 2 * b * gh * gw * c * ph * pw * d;
        let bias = self.embeddings.patch_embedding.bias.as_ref().map(|p| p.val());
        let weight = weight.reshape([d, c * ph * pw]); // [d, c*ph*pw]
        let on_host = super::cpu::applies_to(&patches)
            .then(|| {
                let rows = patches.clone().reshape([b * gh * gw, c * ph * pw]);
                super::cpu::linear_transposed(&rows, &weight, bias.as_ref(), super::cpu::Op::PatchEmbed)
            })
            .flatten();
        let mut x = match on_host {
            Some(x) => x.reshape([b, gh * gw, d]),
            None => {
                let kernel = weight.transpose().unsqueeze_dim::<3>(0); // [1, c*ph*pw, d]
                let x = super::cpu::profile::timed(super::cpu::Op::PatchEmbed, flops, || patches.matmul(kernel));
                match bias {
                    Some(bias) => x + bias.reshape([1, 1, d]),
                    None => x,
                }
            }
        };
        if let Some(cls) = &self.embeddings.class_embedding {
            x = Tensor::cat(vec![cls.val().reshape([1, 1, d]).expand([b, 1, d]), x], 1);
        }
        let x = x + self.embeddings.position_embedding.weight.val().unsqueeze_dim::<3>(0);
        let x = match &self.pre_layrnorm {
            Some(norm) => norm.forward(x),
            None => x,
        };
        self.encoder.forward_until(x, false, layers)
    }

    /// Layers `start..` on the output of [`VisionTransformer::prefix`], pooled and post-normed:
    /// `[batch, tokens, width]` → `[batch, width]`. CLIP pools the class token (the last layer
    /// runs for it alone); SigLIP's head needs every token.
    pub fn finish(&self, x: Tensor<3>, start: usize) -> Tensor<2> {
        match &self.head {
            Some(head) => {
                let x = self.encoder.forward_from(x, false, start);
                head.forward(self.post_layernorm.forward(x))
            }
            None => {
                let [b, _, _] = x.dims();
                let cls = Tensor::<1, Int>::zeros([b], &x.device());
                self.post_layernorm.forward(self.encoder.forward_pooled_from(x, false, cls, start))
            }
        }
    }
}
