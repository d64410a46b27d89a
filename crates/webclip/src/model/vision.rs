//! The image tower (HF `CLIPVisionTransformer`, key prefix `vision_model.`).

use burn::module::{Module, Param};
use burn::nn::Embedding;
use burn::tensor::{Int, Tensor};

use super::build::{Builder, Init};
use super::encoder::{Encoder, LayerNorm};
use crate::config::VisionConfig;
use crate::error::Result;

/// Patch embedding: a bias-free Conv2d with stride = kernel = patch (HF
/// `embeddings.patch_embedding.weight`, `[width, 3, P, P]`). Non-overlapping patches make the
/// convolution a reshape plus one matmul, which is what `forward` does.
#[derive(Module, Debug)]
pub struct PatchEmbedding {
    /// `[width, channels, patch_h, patch_w]`.
    pub weight: Param<Tensor<4>>,
}

/// Patch, class and position embeddings (`vision_model.embeddings`).
#[derive(Module, Debug)]
pub struct VisionEmbeddings {
    pub patch_embedding: PatchEmbedding,
    /// `[width]`, prepended as token 0.
    pub class_embedding: Param<Tensor<1>>,
    /// `[patches + 1, width]`.
    pub position_embedding: Embedding,
}

/// ViT over normalised pixels, pooled at the class token.
#[derive(Module, Debug)]
pub struct VisionTransformer {
    pub embeddings: VisionEmbeddings,
    /// Sic: HF's key is `pre_layrnorm`.
    pub pre_layrnorm: LayerNorm,
    pub encoder: Encoder,
    pub post_layernorm: LayerNorm,
}

impl VisionTransformer {
    pub(crate) fn build(c: &VisionConfig, b: &mut Builder) -> Result<Self> {
        let d = c.encoder.hidden_size;
        let eps = c.encoder.layer_norm_eps;
        let p = "vision_model";
        let [ph, pw] = c.patch_size;
        let embeddings = VisionEmbeddings {
            patch_embedding: PatchEmbedding {
                weight: b.param(
                    &format!("{p}.embeddings.patch_embedding.weight"),
                    [d, c.num_channels, ph, pw],
                    Init::Normal(0.02),
                )?,
            },
            class_embedding: b.param(
                &format!("{p}.embeddings.class_embedding"),
                [d],
                Init::Normal((d as f32).powf(-0.5)),
            )?,
            position_embedding: Embedding {
                weight: b.param(
                    &format!("{p}.embeddings.position_embedding.weight"),
                    [c.num_positions(), d],
                    Init::Normal(0.02),
                )?,
            },
        };
        let pre_layrnorm = b.layer_norm(&format!("{p}.pre_layrnorm"), d, eps)?;
        let encoder = b.encoder(&format!("{p}.encoder"), &c.encoder)?;
        let post_layernorm = b.layer_norm(&format!("{p}.post_layernorm"), d, eps)?;
        Ok(VisionTransformer { embeddings, pre_layrnorm, encoder, post_layernorm })
    }

    /// `pixels`: `[batch, 3, H, W]` normalised → pooled class token `[batch, width]`.
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<2> {
        self.finish(self.prefix(pixels, 0), 0)
    }

    /// Embeddings, `pre_layrnorm` and encoder layers `0..layers`: `[batch, 3, H, W]` →
    /// `[batch, patches + 1, width]`.
    pub fn prefix(&self, pixels: Tensor<4>, layers: usize) -> Tensor<3> {
        let [b, c, h, w] = pixels.dims();
        let weight = self.embeddings.patch_embedding.weight.val(); // [d, c, ph, pw]
        let [d, _, ph, pw] = weight.dims();
        let (gh, gw) = (h / ph, w / pw);
        // [b, c, gh, ph, gw, pw] → [b, gh, gw, c, ph, pw] → [b, gh*gw, c*ph*pw]
        let patches =
            pixels.reshape([b, c, gh, ph, gw, pw]).permute([0, 2, 4, 1, 3, 5]).reshape([b, gh * gw, c * ph * pw]);
        let kernel = weight.reshape([d, c * ph * pw]).transpose(); // [c*ph*pw, d]
        let x = patches.matmul(kernel.unsqueeze_dim::<3>(0)); // [b, n, d]
        let cls = self.embeddings.class_embedding.val().reshape([1, 1, d]).expand([b, 1, d]);
        let x = Tensor::cat(vec![cls, x], 1) + self.embeddings.position_embedding.weight.val().unsqueeze_dim::<3>(0);
        self.encoder.forward_until(self.pre_layrnorm.forward(x), false, layers)
    }

    /// Layers `start..` on the output of [`VisionTransformer::prefix`], pooled at the class
    /// token and post-normed: `[batch, tokens, width]` → `[batch, width]`.
    pub fn finish(&self, x: Tensor<3>, start: usize) -> Tensor<2> {
        let [b, _, _] = x.dims();
        let cls = Tensor::<1, Int>::zeros([b], &x.device());
        self.post_layernorm.forward(self.encoder.forward_pooled_from(x, false, cls, start))
    }
}
