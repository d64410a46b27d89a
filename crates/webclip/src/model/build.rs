//! What the model needs from a source of weights, and building modules from one.
//!
//! The model is *built from* a [`WeightSource`]: every module asks the source for its tensors by
//! HF key and shape (see `super::{text, vision, clip}`), so there is one description of the
//! architecture and no random initialisation that is thrown away on load. The model defines the
//! trait; `crate::loader` implements it (safetensors files, random weights).
//!
//! The builder is also the one place that decides how each tensor is laid out for Burn: it
//! records the [`Layout`] of every key it loads in [`ParamLayouts`], which the model keeps, and
//! which export and training read back instead of guessing from names or ranks.

use std::collections::BTreeMap;

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};

use super::encoder::{Attention, Encoder, EncoderLayer, LayerNorm, Mlp};
use crate::config::EncoderConfig;
use crate::error::{Error, Result};

/// How a tensor is held by Burn relative to its checkpoint (HF, PyTorch) layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// As stored.
    #[default]
    AsIs,
    /// 2-D `[out, in]` held as `[in, out]`: Burn's `Linear` multiplies `x · W`, PyTorch's
    /// `x · Wᵀ`. Transposed once at load time instead of on every forward.
    Transpose,
}

/// The layout of every parameter, by HF key, as the builder made it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamLayouts(BTreeMap<String, Layout>);

impl ParamLayouts {
    /// The layout of `key` (`AsIs` for keys the builder did not record).
    pub fn get(&self, key: &str) -> Layout {
        self.0.get(key).copied().unwrap_or_default()
    }

    /// Whether `key` is held transposed.
    pub fn is_transposed(&self, key: &str) -> bool {
        self.get(key) == Layout::Transpose
    }
}

/// `[rows, cols]` row-major → `[cols, rows]` row-major: the one host transpose (cache-blocked:
/// the 151 M parameters of ViT-B/32 go through it once at load).
pub fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    transposed_by(rows, cols, |i| values[i])
}

/// `[cols, rows]` row-major from `value(i)`, the element at row-major index `i` of a `[rows,
/// cols]` tensor: the blocked transpose, for sources that convert as they go (the streamed
/// loader reads file bytes straight into this order).
pub(crate) fn transposed_by(rows: usize, cols: usize, value: impl Fn(usize) -> f32) -> Vec<f32> {
    let mut out = vec![0f32; rows * cols];
    const B: usize = 32;
    for r0 in (0..rows).step_by(B) {
        for c0 in (0..cols).step_by(B) {
            for r in r0..(r0 + B).min(rows) {
                for c in c0..(c0 + B).min(cols) {
                    out[c * rows + r] = value(r * cols + c);
                }
            }
        }
    }
    out
}

/// What initialises a parameter when the weights are random (benchmarks, training from
/// scratch). Checkpoint sources ignore it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Normal(0, std).
    Normal(f32),
    /// A constant.
    Constant(f32),
}

/// What the model needs from a source of weights: tensors by HF key and HF shape.
pub trait WeightSource {
    /// The tensor `key` with HF shape `shape`, as f32 in row-major order, or `None` when the
    /// source recorded a problem with it (missing, wrong shape) to report later from
    /// [`WeightSource::finish`]; the builder then puts a placeholder in.
    fn take(&mut self, key: &str, shape: &[usize], init: Init) -> Result<Option<Vec<f32>>>;

    /// The tensor `key` already on the device, flat, in `layout` (a source that uploads tensors
    /// as their bytes arrive: `crate::loader::stream`). `None`: use [`WeightSource::take`].
    fn take_device(&mut self, _key: &str, _shape: &[usize], _layout: Layout) -> Result<Option<Tensor<1>>> {
        Ok(None)
    }

    /// Reports every recorded problem, plus unused keys.
    fn finish(self: Box<Self>) -> Result<()>;

    /// Keys of the towers a build leaves out are not "unused": called once, before the build.
    fn skip(&mut self, _towers: super::clip::Towers) {}
}

/// A source plus the device the parameters go to, recording each parameter's layout.
pub(crate) struct Builder<'a> {
    source: &'a mut dyn WeightSource,
    device: Device,
    layouts: ParamLayouts,
}

impl<'a> Builder<'a> {
    pub fn new(source: &'a mut dyn WeightSource, device: &Device) -> Self {
        Builder { source, device: device.clone(), layouts: ParamLayouts::default() }
    }

    /// The layouts recorded so far.
    pub fn layouts(&self) -> &ParamLayouts {
        &self.layouts
    }

    /// The parameter `key` of HF shape `shape`, as stored.
    pub fn param<const D: usize>(&mut self, key: &str, shape: [usize; D], init: Init) -> Result<Param<Tensor<D>>> {
        self.param_layout(key, shape, Layout::AsIs, init)
    }

    /// The parameter `key` of HF shape `shape`, in `layout`.
    ///
    /// For native CPU inference (flex, no autodiff) a [`Layout::Transpose`] weight is not
    /// transposed: it is kept as stored, `[out, in]`, and the parameter is a transposed *view*
    /// of it (Burn tensors carry strides). The CPU kernels pack such a view's panels with
    /// in-register transposes as fast as from rows (`super::cpu::gemm`), the generic ops see
    /// `[in, out]` as everywhere else, and a load needs no transpose — so it can take the
    /// checkpoint's f32 tensors from a memory-mapped file without a copy
    /// ([`crate::loader::StreamingSource::push_shared`]). The source is asked for the layout it
    /// must deliver ([`Builder::source_layout`]).
    pub fn param_layout<const D: usize>(
        &mut self,
        key: &str,
        shape: [usize; D],
        layout: Layout,
        init: Init,
    ) -> Result<Param<Tensor<D>>> {
        self.layouts.0.insert(key.to_string(), layout);
        if layout == Layout::Transpose && D != 2 {
            return Err(Error::Weights(format!("`{key}` is {D}-D; only 2-D weights can be transposed")));
        }
        let source_layout = self.source_layout(layout);
        let view = layout == Layout::Transpose && source_layout == Layout::AsIs;
        let mut held = shape;
        if layout == Layout::Transpose {
            held.swap(0, 1);
        }
        // `stored`: the shape of what the source delivers.
        let stored = if view { shape } else { held };
        let as_param = |t: Tensor<D>| Param::from_tensor(if view { t.swap_dims(0, 1) } else { t });
        if let Some(flat) = self.source.take_device(key, &shape, source_layout)? {
            return Ok(as_param(flat.reshape(stored)));
        }
        let Some(values) = self.source.take(key, &shape, init)? else {
            return Ok(Param::from_tensor(Tensor::zeros([1; D], &self.device)));
        };
        let values = match (source_layout, shape.as_slice()) {
            (Layout::Transpose, &[rows, cols]) => transpose(&values, rows, cols),
            _ => values,
        };
        Ok(as_param(Tensor::from_data(TensorData::new(values, stored), &self.device)))
    }

    /// The layout a source delivers a parameter of `layout` in: as stored for transposed
    /// weights in native CPU inference (held as views, see [`Builder::param_layout`]), else
    /// `layout`. In the browser the linear layers run Burn's matmul, measured with `[in, out]`
    /// weights, so they keep that layout there.
    pub fn source_layout(&self, layout: Layout) -> Layout {
        let native_cpu_inference =
            !cfg!(target_arch = "wasm32") && self.device == Device::flex() && !self.device.is_autodiff();
        if layout == Layout::Transpose && native_cpu_inference { Layout::AsIs } else { layout }
    }

    /// `prefix.weight` `[d_out, d_in]` (+ `prefix.bias` `[d_out]`) as a Burn `Linear`.
    pub fn linear(&mut self, prefix: &str, d_in: usize, d_out: usize, bias: bool, std: f32) -> Result<Linear> {
        let weight =
            self.param_layout(&format!("{prefix}.weight"), [d_out, d_in], Layout::Transpose, Init::Normal(std))?;
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

    /// The encoder at `prefix` (`text_model.encoder` / `vision_model.encoder`), with HF's init
    /// (`CLIPPreTrainedModel._init_weights`, factor 1) for random sources.
    pub fn encoder(&mut self, prefix: &str, c: &EncoderConfig) -> Result<Encoder> {
        let layers = (0..c.num_hidden_layers)
            .map(|i| self.encoder_layer(&format!("{prefix}.layers.{i}"), c))
            .collect::<Result<Vec<_>>>()?;
        Ok(Encoder { layers })
    }

    /// `prefix.fc1` `[d → d_ff]` and `prefix.fc2` `[d_ff → d]` with the encoder's activation.
    pub fn mlp(&mut self, prefix: &str, c: &EncoderConfig) -> Result<Mlp> {
        let (d, d_ff) = (c.hidden_size, c.intermediate_size);
        let df = d as f32;
        let in_std = df.powf(-0.5) * (2.0 * c.num_hidden_layers as f32).powf(-0.5);
        let fc_std = (2.0 * df).powf(-0.5);
        Ok(Mlp {
            fc1: self.linear(&format!("{prefix}.fc1"), d, d_ff, true, fc_std)?,
            fc2: self.linear(&format!("{prefix}.fc2"), d_ff, d, true, in_std)?,
            act: c.hidden_act,
        })
    }

    /// One encoder layer at `prefix` (`…encoder.layers.{i}`).
    fn encoder_layer(&mut self, prefix: &str, c: &EncoderConfig) -> Result<EncoderLayer> {
        let d = c.hidden_size;
        let df = d as f32;
        let in_std = df.powf(-0.5) * (2.0 * c.num_hidden_layers as f32).powf(-0.5);
        let out_std = df.powf(-0.5);
        Ok(EncoderLayer {
            self_attn: Attention {
                q_proj: self.linear(&format!("{prefix}.self_attn.q_proj"), d, d, true, in_std)?,
                k_proj: self.linear(&format!("{prefix}.self_attn.k_proj"), d, d, true, in_std)?,
                v_proj: self.linear(&format!("{prefix}.self_attn.v_proj"), d, d, true, in_std)?,
                out_proj: self.linear(&format!("{prefix}.self_attn.out_proj"), d, d, true, out_std)?,
                num_heads: c.num_attention_heads,
            },
            layer_norm1: self.layer_norm(&format!("{prefix}.layer_norm1"), d, c.layer_norm_eps)?,
            mlp: self.mlp(&format!("{prefix}.mlp"), c)?,
            layer_norm2: self.layer_norm(&format!("{prefix}.layer_norm2"), d, c.layer_norm_eps)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_round_trips() {
        let v: Vec<f32> = (0..35 * 67).map(|i| i as f32).collect();
        let t = transpose(&v, 35, 67);
        assert_eq!(t[1], v[67]);
        assert_eq!(transpose(&t, 67, 35), v);
    }
}
