//! SigLIP's image pooling head (HF `SiglipMultiheadAttentionPoolingHead`, key prefix
//! `vision_model.head.`): a learned probe attends over every token, then a pre-LN MLP with a
//! residual. It replaces CLIP's class token + projection.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use super::build::{Builder, Init, Layout};
use super::encoder::{LayerNorm, Mlp};
use crate::config::EncoderConfig;
use crate::error::Result;

/// `torch.nn.MultiheadAttention` as the head uses it: q, k and v packed in one `in_proj`.
#[derive(Module, Debug)]
pub struct HeadAttention {
    /// HF `[3·d, d]` (rows q | k | v), held transposed as `[d, 3·d]` so each projection is a
    /// column block (recorded as [`Layout::Transpose`]).
    pub in_proj_weight: Param<Tensor<2>>,
    /// `[3·d]`.
    pub in_proj_bias: Param<Tensor<1>>,
    pub out_proj: Linear,
    #[module(skip)]
    pub num_heads: usize,
}

/// The multi-head attention pooling head.
#[derive(Module, Debug)]
pub struct PoolingHead {
    /// `[1, 1, d]`: the one query.
    pub probe: Param<Tensor<3>>,
    pub attention: HeadAttention,
    pub layernorm: LayerNorm,
    pub mlp: Mlp,
}

impl PoolingHead {
    /// The head at `prefix` (`vision_model.head`). Random sources get transformers' init
    /// (`SiglipPreTrainedModel._init_weights`: probe and in_proj Xavier-like normal, biases 0).
    pub(crate) fn build(prefix: &str, c: &EncoderConfig, b: &mut Builder) -> Result<Self> {
        let d = c.hidden_size;
        let std = (d as f32).powf(-0.5);
        Ok(PoolingHead {
            probe: b.param(&format!("{prefix}.probe"), [1, 1, d], Init::Normal(std))?,
            attention: HeadAttention {
                in_proj_weight: b.param_layout(
                    &format!("{prefix}.attention.in_proj_weight"),
                    [3 * d, d],
                    Layout::Transpose,
                    Init::Normal((2.0 / (4.0 * d as f32)).sqrt()),
                )?,
                in_proj_bias: b.param(&format!("{prefix}.attention.in_proj_bias"), [3 * d], Init::Constant(0.0))?,
                out_proj: b.linear(&format!("{prefix}.attention.out_proj"), d, d, true, std)?,
                num_heads: c.num_attention_heads,
            },
            layernorm: b.layer_norm(&format!("{prefix}.layernorm"), d, c.layer_norm_eps)?,
            mlp: b.mlp(&format!("{prefix}.mlp"), c)?,
        })
    }

    /// `x`: the post-normed tokens `[batch, tokens, d]` → the pooled embedding `[batch, d]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let [b, t, d] = x.dims();
        let a = &self.attention;
        let (heads, hd) = (a.num_heads, d / a.num_heads);
        let w = a.in_proj_weight.val(); // [d, 3d]
        let bias = a.in_proj_bias.val(); // [3d]
        // The probe's query is the same for every image: computed once, then broadcast.
        let q = self.probe.val().reshape([1, d]).matmul(w.clone().slice([0..d, 0..d]))
            + bias.clone().slice(0..d).unsqueeze_dim(0); // [1, d]
        let q = q.reshape([1, heads, 1, hd]).expand([b, heads, 1, hd]);
        let kv = x.reshape([b * t, d]).matmul(w.slice([0..d, d..3 * d])) + bias.slice(d..3 * d).unsqueeze_dim(0);
        let k = kv.clone().slice([0..b * t, 0..d]).reshape([b, t, heads, hd]).swap_dims(1, 2);
        let v = kv.slice([0..b * t, d..2 * d]).reshape([b, t, heads, hd]).swap_dims(1, 2);
        let o = attention(q, k, v, None, None, AttentionModuleOptions::default()).reshape([b, d]);
        let h = a.out_proj.forward(o);
        let m = self.mlp.forward(self.layernorm.forward(h.clone()));
        h + m
    }
}
