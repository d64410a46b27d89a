//! The pre-LN transformer block both towers share (HF `CLIPEncoderLayer`), plus the small
//! modules it is built from. Field names are the checkpoint's: `self_attn.q_proj`, `layer_norm1`,
//! `mlp.fc1`, ... so a parameter's path in this module tree is its HF key.
//!
//! Linear weights are held the way Burn's `Linear` wants them, `[d_in, d_out]`: the loader
//! transposes PyTorch's `[out, in]` once at load time instead of on every forward.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::activation;
use burn::tensor::module::{attention, layer_norm};
use burn::tensor::ops::AttentionModuleOptions;

use crate::config::Activation;

/// LayerNorm with HF's parameter names (`weight`, `bias`).
#[derive(Module, Debug)]
pub struct LayerNorm {
    /// `[d]`, HF `*.weight`.
    pub weight: Param<Tensor<1>>,
    /// `[d]`, HF `*.bias`.
    pub bias: Param<Tensor<1>>,
    #[module(skip)]
    pub eps: f64,
}

impl LayerNorm {
    /// `[..., d]` → `[..., d]`, normalised over the last axis.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        layer_norm(x, self.weight.val(), Some(self.bias.val()), self.eps)
    }
}

/// Multi-head self-attention (HF `CLIPAttention`): separate q/k/v/out projections with bias,
/// scores scaled by `head_dim^-0.5`, softmax, no dropout (inference and fine-tuning both run
/// CLIP without attention dropout).
#[derive(Module, Debug)]
pub struct Attention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub out_proj: Linear,
    #[module(skip)]
    pub num_heads: usize,
}

impl Attention {
    /// `x`: `[batch, tokens, d]` → `[batch, tokens, d]`. `causal` masks future tokens (text
    /// tower); padding after the end token needs no mask because of it: no real token attends
    /// to a later position.
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let [b, t, d] = x.dims();
        let h = self.num_heads;
        let hd = d / h;
        let split = |y: Tensor<3>| y.reshape([b, t, h, hd]).swap_dims(1, 2);
        let q = split(self.q_proj.forward(x.clone()));
        let k = split(self.k_proj.forward(x.clone()));
        let v = split(self.v_proj.forward(x));
        let options = AttentionModuleOptions { is_causal: causal, ..Default::default() };
        let o = attention(q, k, v, None, None, options); // [b, h, t, hd]
        self.out_proj.forward(o.swap_dims(1, 2).reshape([b, t, d]))
    }
}

/// `fc2(act(fc1(x)))` (HF `CLIPMLP`).
#[derive(Module, Debug)]
pub struct Mlp {
    pub fc1: Linear,
    pub fc2: Linear,
    #[module(skip)]
    pub act: Activation,
}

impl Mlp {
    /// `[batch, tokens, d]` → `[batch, tokens, d]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let h = self.fc1.forward(x);
        let h = match self.act {
            // x * sigmoid(1.702 x), as OpenAI wrote it.
            Activation::QuickGelu => h.clone() * activation::sigmoid(h * 1.702),
            Activation::Gelu => activation::gelu(h),
            Activation::GeluTanh => activation::gelu_approximate(h),
            Activation::Relu => activation::relu(h),
        };
        self.fc2.forward(h)
    }
}

/// One pre-LN block: `x += attn(ln1(x)); x += mlp(ln2(x))`.
#[derive(Module, Debug)]
pub struct EncoderLayer {
    pub self_attn: Attention,
    pub layer_norm1: LayerNorm,
    pub mlp: Mlp,
    pub layer_norm2: LayerNorm,
}

impl EncoderLayer {
    /// `[batch, tokens, d]` → `[batch, tokens, d]`.
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let x = x.clone() + self.self_attn.forward(self.layer_norm1.forward(x), causal);
        x.clone() + self.mlp.forward(self.layer_norm2.forward(x))
    }
}

/// A stack of [`EncoderLayer`]s (HF `CLIPEncoder`, key prefix `encoder.layers.{i}`).
#[derive(Module, Debug)]
pub struct Encoder {
    pub layers: Vec<EncoderLayer>,
}

impl Encoder {
    /// `[batch, tokens, d]` → `[batch, tokens, d]`.
    pub fn forward(&self, mut x: Tensor<3>, causal: bool) -> Tensor<3> {
        for layer in &self.layers {
            x = layer.forward(x, causal);
        }
        x
    }
}
