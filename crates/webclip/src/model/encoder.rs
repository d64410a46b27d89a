//! The pre-LN transformer block both towers share (HF `CLIPEncoderLayer`), plus the small
//! modules it is built from. Field names are the checkpoint's: `self_attn.q_proj`, `layer_norm1`,
//! `mlp.fc1`, ... so a parameter's path in this module tree is its HF key.
//!
//! Linear weights are held the way Burn's `Linear` wants them, `[d_in, d_out]`: the loader
//! transposes PyTorch's `[out, in]` once at load time instead of on every forward.
//!
//! Two details make inference cheaper without changing a single output:
//! - Only one token per sequence is pooled (the class token, the end token), so the *last* block
//!   runs its attention query, output projection and MLP for that token alone
//!   ([`Encoder::forward_pooled`]); keys and values still come from every token.
//! - On the CPU backend outside autodiff, bias, activation and residual are fused into one
//!   multi-threaded pass after each matmul (`super::cpu`).

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::module::{attention, layer_norm};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Int, Tensor, activation};

use super::cpu::{self, Op};
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
        cpu::profile::timed(Op::LayerNorm, 0, || self.forward_inner(x))
    }

    fn forward_inner<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let weight = self.weight.val();
        if cpu::applies_to(&x)
            && let Some(y) = cpu::layer_norm(&x, &weight, &self.bias.val(), self.eps)
        {
            return y;
        }
        let dtype = x.dtype();
        if dtype == weight.dtype() {
            return layer_norm(x, weight, Some(self.bias.val()), self.eps);
        }
        // An f16 model (`super::precision`): the norm runs in its parameters' f32.
        layer_norm(x.cast(weight.dtype()), weight, Some(self.bias.val()), self.eps).cast(dtype)
    }
}

/// Multi-head self-attention (HF `CLIPAttention`): separate q/k/v/out projections with bias,
/// scores scaled by `head_dim^-0.5`, softmax, no dropout (CLIP runs, and is fine-tuned, without
/// attention dropout).
#[derive(Module, Debug)]
pub struct Attention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub out_proj: Linear,
    #[module(skip)]
    pub num_heads: usize,
}

/// `fc2(act(fc1(x)))` (HF `CLIPMLP`).
#[derive(Module, Debug)]
pub struct Mlp {
    pub fc1: Linear,
    pub fc2: Linear,
    #[module(skip)]
    pub act: Activation,
}

/// One pre-LN block: `x += attn(ln1(x)); x += mlp(ln2(x))`.
#[derive(Module, Debug)]
pub struct EncoderLayer {
    pub self_attn: Attention,
    pub layer_norm1: LayerNorm,
    pub mlp: Mlp,
    pub layer_norm2: LayerNorm,
}

/// A stack of [`EncoderLayer`]s (HF `CLIPEncoder`, key prefix `encoder.layers.{i}`).
#[derive(Module, Debug)]
pub struct Encoder {
    pub layers: Vec<EncoderLayer>,
}

/// Generic activation through tensor ops (every backend, autodiff included).
fn activate<const D: usize>(h: Tensor<D>, act: Activation) -> Tensor<D> {
    match act {
        // x * sigmoid(1.702 x), as OpenAI wrote it.
        Activation::QuickGelu => h.clone() * activation::sigmoid(h * 1.702),
        Activation::Gelu => activation::gelu(h),
        Activation::GeluTanh => activation::gelu_approximate(h),
        Activation::Relu => activation::relu(h),
    }
}

/// `act(x·W + b)` on rows `[n, in]` → `[n, out]`; `op` names it in a CPU profile.
pub(crate) fn linear(x: Tensor<2>, lin: &Linear, act: Option<Activation>, fused: bool, op: Op) -> Tensor<2> {
    if fused && let Some(y) = cpu::linear_act(&x, lin, act, op) {
        return y;
    }
    let y = lin.forward(x);
    match act {
        Some(a) => activate(y, a),
        None => y,
    }
}

/// `residual + x·W + b` on rows.
fn linear_residual(x: Tensor<2>, lin: &Linear, residual: Tensor<2>, fused: bool, op: Op) -> Tensor<2> {
    if fused && let Some(y) = cpu::linear_residual(&x, lin, &residual, op) {
        return y;
    }
    residual + lin.forward(x)
}

impl Mlp {
    /// `fc2(act(fc1(x)))` on rows `[n, d]` → `[n, d]` (fused on the CPU backend).
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let fused = cpu::applies_to(&x);
        let h = linear(x, &self.fc1, Some(self.act), fused, Op::Fc1);
        linear(h, &self.fc2, None, fused, Op::Fc2)
    }
}

impl EncoderLayer {
    /// The MLP half with its residual: rows `[n, d]` → `[n, d]`.
    fn mlp_block(&self, x: Tensor<2>, fused: bool) -> Tensor<2> {
        let h = self.layer_norm2.forward(x.clone());
        let h = linear(h, &self.mlp.fc1, Some(self.mlp.act), fused, Op::Fc1);
        linear_residual(h, &self.mlp.fc2, x, fused, Op::Fc2)
    }

    /// `[batch, tokens, d]` → `[batch, tokens, d]`. `causal` masks future tokens (text tower);
    /// padding after the end token needs no mask because of it: no real token attends to a
    /// later position.
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let [b, t, d] = x.dims();
        let fused = cpu::applies_to(&x);
        let a = &self.self_attn;
        let (heads, hd) = (a.num_heads, d / a.num_heads);
        let x = x.reshape([b * t, d]);
        let h = self.layer_norm1.forward(x.clone());
        let q = linear(h.clone(), &a.q_proj, None, fused, Op::Qkv);
        let k = linear(h.clone(), &a.k_proj, None, fused, Op::Qkv);
        let v = linear(h, &a.v_proj, None, fused, Op::Qkv);
        let mask = if causal { cpu::Mask::Causal } else { cpu::Mask::None };
        let o = match fused.then(|| cpu::attention_rows(&q, &k, &v, b, t, t, heads, mask)).flatten() {
            Some(o) => o,
            None => {
                let split = |y: Tensor<2>| y.reshape([b, t, heads, hd]).swap_dims(1, 2);
                let options = AttentionModuleOptions { is_causal: causal, ..Default::default() };
                let o = cpu::profile::timed(Op::Attention, 4 * b * t * t * d, || {
                    attention(split(q), split(k), split(v), None, None, options)
                });
                o.swap_dims(1, 2).reshape([b * t, d])
            }
        };
        let x = linear_residual(o, &a.out_proj, x, fused, Op::AttnOut);
        self.mlp_block(x, fused).reshape([b, t, d])
    }

    /// The block for one token per sequence: queries, output and MLP only at `rows` (`[batch]`,
    /// a position per sequence), keys and values from all tokens. `[batch, tokens, d]` →
    /// `[batch, d]`, equal to `forward(x)[i, rows[i]]`.
    pub fn forward_rows(&self, x: Tensor<3>, causal: bool, rows: Tensor<1, Int>) -> Tensor<2> {
        let [b, t, d] = x.dims();
        let device = x.device();
        let fused = cpu::applies_to(&x);
        let a = &self.self_attn;
        let (heads, hd) = (a.num_heads, d / a.num_heads);
        let flat = Tensor::<1, Int>::arange(0..b as i64, &device) * t as i64 + rows.clone();
        let x = x.reshape([b * t, d]);
        let h = self.layer_norm1.forward(x.clone());
        let x_sel = x.select(0, flat.clone()); // [b, d]
        let q = linear(h.clone().select(0, flat), &a.q_proj, None, fused, Op::Qkv);
        let k = linear(h.clone(), &a.k_proj, None, fused, Op::Qkv);
        let v = linear(h, &a.v_proj, None, fused, Op::Qkv);
        let on_host = fused.then(|| {
            if !causal {
                return cpu::attention_rows(&q, &k, &v, b, 1, t, heads, cpu::Mask::None);
            }
            let pos = rows.clone().into_data().convert::<i64>().try_into_vec::<i64>().ok()?;
            let pos: Vec<usize> = pos.into_iter().map(|p| p.clamp(0, t as i64 - 1) as usize).collect();
            cpu::attention_rows(&q, &k, &v, b, 1, t, heads, cpu::Mask::CausalAt(&pos))
        });
        let o = match on_host.flatten() {
            Some(o) => o,
            None => {
                let q = q.reshape([b, 1, heads, hd]).swap_dims(1, 2);
                let split = |y: Tensor<2>| y.reshape([b, t, heads, hd]).swap_dims(1, 2);
                // Causal for a single query at position p: keys after p are masked.
                let mask: Option<Tensor<4, Bool>> = causal.then(|| {
                    let keys = Tensor::<1, Int>::arange(0..t as i64, &device).reshape([1, t]);
                    keys.greater(rows.reshape([b, 1])).reshape([b, 1, 1, t]).expand([b, heads, 1, t])
                });
                let o = cpu::profile::timed(Op::Attention, 4 * b * t * d, || {
                    attention(q, split(k), split(v), mask, None, AttentionModuleOptions::default())
                });
                o.reshape([b, d])
            }
        };
        let x = linear_residual(o, &a.out_proj, x_sel, fused, Op::AttnOut);
        self.mlp_block(x, fused)
    }
}

impl Encoder {
    /// `[batch, tokens, d]` → `[batch, tokens, d]`.
    pub fn forward(&self, mut x: Tensor<3>, causal: bool) -> Tensor<3> {
        for layer in &self.layers {
            x = layer.forward(x, causal);
        }
        x
    }

    /// Layers `start..` only: `[batch, tokens, d]` → `[batch, tokens, d]`.
    pub fn forward_from(&self, mut x: Tensor<3>, causal: bool, start: usize) -> Tensor<3> {
        for layer in &self.layers[start.min(self.layers.len())..] {
            x = layer.forward(x, causal);
        }
        x
    }

    /// Layers `0..end` only: `[batch, tokens, d]` → `[batch, tokens, d]`.
    pub fn forward_until(&self, mut x: Tensor<3>, causal: bool, end: usize) -> Tensor<3> {
        for layer in &self.layers[..end.min(self.layers.len())] {
            x = layer.forward(x, causal);
        }
        x
    }

    /// The hidden state of one token per sequence after the last layer, running layers
    /// `start..` on `x` (the output of layer `start - 1`): `rows` `[batch]` → `[batch, d]`. Same
    /// values as the full forward gathered at `rows`, with the last layer's work for the other
    /// tokens skipped.
    pub fn forward_pooled_from(&self, mut x: Tensor<3>, causal: bool, rows: Tensor<1, Int>, start: usize) -> Tensor<2> {
        let layers = &self.layers[start.min(self.layers.len())..];
        let Some((last, rest)) = layers.split_last() else {
            let [b, t, d] = x.dims();
            let flat = Tensor::<1, Int>::arange(0..b as i64, &x.device()) * t as i64 + rows;
            return x.reshape([b * t, d]).select(0, flat);
        };
        for layer in rest {
            x = layer.forward(x, causal);
        }
        last.forward_rows(x, causal, rows)
    }

    /// [`Encoder::forward_pooled_from`] from the first layer.
    pub fn forward_pooled(&self, x: Tensor<3>, causal: bool, rows: Tensor<1, Int>) -> Tensor<2> {
        self.forward_pooled_from(x, causal, rows, 0)
    }
}
