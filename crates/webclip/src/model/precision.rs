//! Inference precision: f32 everywhere, or f16 weights and activations on GPUs that have f16
//! arithmetic (WebGPU's `shader-f16`, Vulkan's `shaderFloat16`).
//!
//! Why f16: a ViT-B/32 is 605 MB of f32 weights; in f16 it is half of that in GPU memory and
//! half the bytes every matmul reads, which is what bounds a transformer at small batch on a GPU.
//! OpenAI trained CLIP in mixed precision, so f16 inference is how the weights were meant to run.
//!
//! What stays f32 and why:
//! - LayerNorm: its parameters and its arithmetic. The residual stream reaches magnitudes where
//!   an f16 mean/variance loses digits, and this is what PyTorch's autocast keeps in f32 too. The
//!   activation is widened for the norm and narrowed after it.
//! - `logit_scale` (and SigLIP's `logit_bias`): one number each, read once to the host.
//! - Everything outside the model: pixels are made in f32 and narrowed on the device, features
//!   are widened when read back, and zero-shot/ranking arithmetic runs on the host in f32.
//! - Training: always f32. A trainer built from an f16 model widens it again
//!   ([`crate::Clip::into_parts`]); the f16 rounding of the weights stays.
//!
//! `auto` takes f16 only on a GPU backend whose device reports f16 support; the CPU backend keeps
//! f32 (no f16 arithmetic there, only conversions). Asking for f16 explicitly works on any device
//! that supports the dtype (the CPU backend included, which is how the tests check the f16 path
//! without a GPU) and is a clear error elsewhere.

use burn::module::Param;
use burn::tensor::{DType, Device, FloatDType, Tensor};

use super::ClipModel;
use super::params::{self, KeyedMapper};
use crate::error::{Error, Result};

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrecisionChoice {
    /// f16 on a GPU with f16 support, else f32.
    #[default]
    Auto,
    /// f32 everywhere.
    F32,
    /// f16 weights and activations (LayerNorm in f32); an error where the device lacks f16.
    F16,
}

impl std::str::FromStr for PrecisionChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(PrecisionChoice::Auto),
            "f32" | "fp32" | "float32" => Ok(PrecisionChoice::F32),
            "f16" | "fp16" | "float16" | "half" => Ok(PrecisionChoice::F16),
            other => Err(Error::InvalidInput(format!("unknown precision {other:?} (auto, f32, f16)"))),
        }
    }
}

impl From<Precision> for PrecisionChoice {
    /// The choice that resolves to `precision` on any device that can run it (to carry a
    /// model's precision over to another model built on the same device).
    fn from(precision: Precision) -> Self {
        match precision {
            Precision::F32 => PrecisionChoice::F32,
            Precision::F16 => PrecisionChoice::F16,
        }
    }
}

impl std::fmt::Display for PrecisionChoice {
    /// The name [`FromStr`](std::str::FromStr) reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PrecisionChoice::Auto => "auto",
            PrecisionChoice::F32 => "f32",
            PrecisionChoice::F16 => "f16",
        })
    }
}

/// The precision a model runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    F16,
}

impl Precision {
    /// `"f32"` or `"f16"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
        }
    }

    /// The float dtype of the narrowed parameters and activations.
    pub fn dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::F16 => FloatDType::F16,
        }
    }

    /// Resolves `choice` for `device` (see the module docs).
    pub fn resolve(choice: PrecisionChoice, device: &Device) -> Result<Precision> {
        let f16 = device.supports_dtype(DType::F16);
        match choice {
            PrecisionChoice::F32 => Ok(Precision::F32),
            PrecisionChoice::Auto => Ok(if f16 && *device != Device::flex() { Precision::F16 } else { Precision::F32 }),
            PrecisionChoice::F16 if f16 => Ok(Precision::F16),
            PrecisionChoice::F16 => Err(Error::Device(
                "f16 was asked for but this device has no f16 arithmetic (WebGPU: the adapter lacks \
                 the shader-f16 feature); use precision \"auto\" or \"f32\""
                    .into(),
            )),
        }
    }
}

/// Casts every parameter of `model` to `precision`, except those kept in f32 (module docs).
/// [`crate::Clip::with_precision`] does this for a loaded model; benchmarks use it on a bare one.
pub fn cast_model(model: ClipModel, precision: Precision) -> ClipModel {
    params::map(model, &mut Caster { to: precision.dtype() })
}

struct Caster {
    to: FloatDType,
}

impl KeyedMapper for Caster {
    fn map<const D: usize>(&mut self, key: &str, owner: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let keep_f32 = owner == "LayerNorm" || key == "logit_scale" || key == "logit_bias";
        let to = if keep_f32 { FloatDType::F32 } else { self.to };
        if param.val().dtype() == DType::from(to) {
            return param;
        }
        param.map(|t| t.cast(to))
    }
}
