//! Building modules from a [`WeightSource`], with the init each parameter gets when the source is
//! random (HF `CLIPPreTrainedModel._init_weights`, factor 1).

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

use super::encoder::{Attention, Encoder, EncoderLayer, LayerNorm, Mlp};
use crate::config::Activation;
use crate::error::Result;
use crate::loader::{Init, Layout, WeightSource, param};

/// A source plus the device the parameters go to.
pub(crate) struct Builder<'a> {
    pub source: &'a mut dyn WeightSource,
    pub device: Device,
}

impl Builder<'_> {
    pub fn param<const D: usize>(&mut self, key: &str, shape: [usize; D], init: Init) -> Result<Param<Tensor<D>>> {
        param(self.source, key, shape, Layout::AsIs, init, &self.device)
    }

    pub fn param_layout<const D: usize>(
        &mut self,
        key: &str,
        shape: [usize; D],
        layout: Layout,
        init: Init,
    ) -> Result<Param<Tensor<D>>> {
        param(self.source, key, shape, layout, init, &self.device)
    }

    /// `prefix.weight` `[d_out, d_in]` (+ `prefix.bias` `[d_out]`) as a Burn `Linear`.
    pub fn linear(&mut self, prefix: &str, d_in: usize, d_out: usize, bias: bool, std: f32) -> Result<Linear> {
        let weight = param(
            self.source,
            &format!("{prefix}.weight"),
            [d_out, d_in],
            Layout::Transpose,
            Init::Normal(std),
            &self.device,
        )?;
        let bias = if bias { Some(self.param(&format!("{prefix}.bias"), [d_out], Init::Constant(0.0))?) } else { None };
        Ok(Linear { weight, bias })
    }

    pub fn layer_norm(&mut self, prefix: &str, d: usize, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: self.param(&format!("{prefix}.weight"), [d], Init::Constant(1.0))?,
            bias: self.param(&format!("{prefix}.bias"), [d], Init::Constant(0.0))?,
            eps,
        })
    }
}

/// The shape of a tower's encoder (both configs carry the same fields).
pub(crate) struct EncoderShape {
    pub width: usize,
    pub intermediate: usize,
    pub heads: usize,
    pub layers: usize,
    pub act: Activation,
    pub eps: f64,
}

/// The encoder at `prefix` (`text_model.encoder` / `vision_model.encoder`).
pub(crate) fn encoder(b: &mut Builder, prefix: &str, s: &EncoderShape) -> Result<Encoder> {
    let layers = (0..s.layers)
        .map(|i| block(b, &format!("{prefix}.layers.{i}"), s.width, s.intermediate, s.heads, s.layers, s.act, s.eps))
        .collect::<Result<Vec<_>>>()?;
    Ok(Encoder { layers })
}

/// One encoder layer at `prefix` (`…encoder.layers.{i}`).
#[allow(clippy::too_many_arguments)]
fn block(
    b: &mut Builder,
    prefix: &str,
    d: usize,
    d_ff: usize,
    heads: usize,
    layers: usize,
    act: Activation,
    eps: f64,
) -> Result<EncoderLayer> {
    let df = d as f32;
    let in_std = df.powf(-0.5) * (2.0 * layers as f32).powf(-0.5);
    let out_std = df.powf(-0.5);
    let fc_std = (2.0 * df).powf(-0.5);
    Ok(EncoderLayer {
        self_attn: Attention {
            q_proj: b.linear(&format!("{prefix}.self_attn.q_proj"), d, d, true, in_std)?,
            k_proj: b.linear(&format!("{prefix}.self_attn.k_proj"), d, d, true, in_std)?,
            v_proj: b.linear(&format!("{prefix}.self_attn.v_proj"), d, d, true, in_std)?,
            out_proj: b.linear(&format!("{prefix}.self_attn.out_proj"), d, d, true, out_std)?,
            num_heads: heads,
        },
        layer_norm1: b.layer_norm(&format!("{prefix}.layer_norm1"), d, eps)?,
        mlp: Mlp {
            fc1: b.linear(&format!("{prefix}.mlp.fc1"), d, d_ff, true, fc_std)?,
            fc2: b.linear(&format!("{prefix}.mlp.fc2"), d_ff, d, true, in_std)?,
            act,
        },
        layer_norm2: b.layer_norm(&format!("{prefix}.layer_norm2"), d, eps)?,
    })
}
