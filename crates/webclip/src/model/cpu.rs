//! Host kernels for inference on Burn's CPU backend (flex).
//!
//! Why: flex runs every element-wise op as a scalar loop on one thread, allocating a new tensor
//! each time. In a CLIP block the matmuls are gemm-fast, but the bias adds, the activation (an
//! `exp` per element of the 4×-wide MLP) and the residual adds then leave one of the cores idle:
//! measured on ViT-B/32 text batches, swapping quick_gelu for a cheap op alone took throughput
//! from 29 to 36 texts/s. These kernels do `act(x·W + b)` and `residual + x·W + b` as the gemm
//! (through Burn) plus **one** fused, multi-threaded, vectorisable pass over the result in place
//! — flex tensors are host memory, so taking their data and giving it back is zero-copy.
//!
//! They run only where the result is the same computation: a flex tensor outside autodiff
//! (inference). Training and the GPU backends use the plain tensor ops of `encoder.rs`; the
//! parity tests run both paths against HF on the CPU and compare them.

use std::sync::atomic::{AtomicBool, Ordering};

use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

use crate::config::Activation;

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the fused CPU kernels off (`false`) or on, process-wide. For tests and benchmarks that
/// compare them with the generic tensor ops.
#[doc(hidden)]
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether this activation takes the fused path: an f32 flex tensor (an f16 model takes the
/// plain ops), no autodiff, not switched off.
pub(crate) fn applies_to<const D: usize>(x: &Tensor<D>) -> bool {
    if !ENABLED.load(Ordering::Relaxed) || x.dtype() != burn::tensor::DType::F32 {
        return false;
    }
    let device = x.device();
    !device.is_autodiff() && device == Device::flex()
}

/// The inputs of a fused epilogue handed back when flex's host memory could not be read as f32
/// (never seen): the caller finishes `act(xw + b) + residual` with tensor ops
/// (`super::encoder`) instead of computing anything from a partial read.
pub(crate) struct Unfused {
    /// `x·W`, no bias yet.
    pub xw: Tensor<2>,
    pub residual: Option<Tensor<2>>,
}

/// `act(x·W + b)`: `x` `[n, in]` → `[n, out]`, with bias and activation applied in one fused
/// pass over the matmul's output.
pub(crate) fn linear_act(x: Tensor<2>, lin: &Linear, act: Option<Activation>) -> Result<Tensor<2>, Box<Unfused>> {
    let y = x.matmul(lin.weight.val());
    if lin.bias.is_none() && act.is_none() {
        return Ok(y);
    }
    fused(y, lin, None, act)
}

/// `residual + x·W + b`: `x` `[n, in]`, `residual` `[n, out]` → `[n, out]`, fused as
/// [`linear_act`].
pub(crate) fn linear_residual(x: Tensor<2>, lin: &Linear, residual: Tensor<2>) -> Result<Tensor<2>, Box<Unfused>> {
    let y = x.matmul(lin.weight.val());
    fused(y, lin, Some(residual), None)
}

/// `act(y + bias) + residual` over the rows of `y`, in place in its host memory (flex tensors
/// are host memory: taking the data and giving it back is zero-copy when unshared).
fn fused(
    y: Tensor<2>,
    lin: &Linear,
    residual: Option<Tensor<2>>,
    act: Option<Activation>,
) -> Result<Tensor<2>, Box<Unfused>> {
    let device = y.device();
    let [_, cols] = y.dims();
    // Flex reads are synchronous (even in wasm, where its future is ready at once).
    let mut data = y.into_data();
    let bias = lin.bias.as_ref().map(|b| b.val().into_data());
    let residual = residual.map(Tensor::into_data);
    let done = match (
        data.as_mut_slice::<f32>(),
        bias.as_ref().map(|b| b.as_slice::<f32>()).transpose(),
        residual.as_ref().map(|r| r.as_slice::<f32>()).transpose(),
    ) {
        (Ok(buf), Ok(bias), Ok(res)) if res.is_none_or(|r| r.len() == buf.len()) => {
            apply_slice(buf, cols, bias, res, act);
            true
        }
        _ => false,
    };
    let y = Tensor::from_data(data, &device);
    if done {
        Ok(y)
    } else {
        Err(Box::new(Unfused { xw: y, residual: residual.map(|r| Tensor::from_data(r, &device)) }))
    }
}

/// Splits the rows into tasks of ~16k values (rayon natively; one thread in wasm).
fn apply_slice(buf: &mut [f32], cols: usize, bias: Option<&[f32]>, residual: Option<&[f32]>, act: Option<Activation>) {
    let rows_per_task = (16_384 / cols.max(1)).max(1);
    let chunk = rows_per_task * cols;
    let run = |(i, out): (usize, &mut [f32])| {
        let res = residual.map(|r| &r[i * chunk..i * chunk + out.len()]);
        rows(out, cols, bias, res, act);
    };
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        buf.par_chunks_mut(chunk).enumerate().for_each(run);
    }
    #[cfg(target_arch = "wasm32")]
    buf.chunks_mut(chunk).enumerate().for_each(run);
}

/// Dispatches the row kernel to the best instruction set available at run time.
fn rows(out: &mut [f32], cols: usize, bias: Option<&[f32]>, res: Option<&[f32]>, act: Option<Activation>) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { rows_avx512(out, cols, bias, res, act) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { rows_avx2(out, cols, bias, res, act) };
        }
    }
    rows_generic(out, cols, bias, res, act)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn rows_avx512(
    out: &mut [f32],
    cols: usize,
    bias: Option<&[f32]>,
    res: Option<&[f32]>,
    act: Option<Activation>,
) {
    rows_generic(out, cols, bias, res, act)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_avx2(out: &mut [f32], cols: usize, bias: Option<&[f32]>, res: Option<&[f32]>, act: Option<Activation>) {
    rows_generic(out, cols, bias, res, act)
}

/// The kernel: straight-line f32 arithmetic the compiler vectorises per instruction set.
#[inline(always)]
fn rows_generic(out: &mut [f32], cols: usize, bias: Option<&[f32]>, res: Option<&[f32]>, act: Option<Activation>) {
    for (r, row) in out.chunks_exact_mut(cols).enumerate() {
        if let Some(b) = bias {
            for (y, b) in row.iter_mut().zip(b) {
                *y += *b;
            }
        }
        match act {
            None => {}
            Some(Activation::QuickGelu) => row.iter_mut().for_each(|y| *y = quick_gelu(*y)),
            Some(Activation::Gelu) => row.iter_mut().for_each(|y| *y = gelu_erf(*y)),
            Some(Activation::GeluTanh) => row.iter_mut().for_each(|y| *y = gelu_tanh(*y)),
            Some(Activation::Relu) => row.iter_mut().for_each(|y| *y = y.max(0.0)),
        }
        if let Some(res) = res {
            for (y, x) in row.iter_mut().zip(&res[r * cols..(r + 1) * cols]) {
                *y += *x;
            }
        }
    }
}

/// `exp(x)` for f32, branch-free (Cephes `expf`: range reduction by ln 2 in two parts and a
/// degree-6 polynomial; relative error ≤ 2 ulp over the clamped range).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.336_55, 88.376_26);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// OpenAI's `x * sigmoid(1.702 x)`.
#[inline(always)]
fn quick_gelu(x: f32) -> f32 {
    x / (1.0 + exp(-1.702 * x))
}

/// `0.5 x (1 + erf(x / √2))`, erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7).
#[inline(always)]
fn gelu_erf(x: f32) -> f32 {
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    let a = z.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = ((((1.061_405_4 * t - 1.453_152_1) * t + 1.421_413_8) * t - 0.284_496_74) * t + 0.254_829_6) * t;
    let erf_abs = 1.0 - poly * exp(-a * a);
    let erf = if z < 0.0 { -erf_abs } else { erf_abs };
    0.5 * x * (1.0 + erf)
}

/// `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
#[inline(always)]
fn gelu_tanh(x: f32) -> f32 {
    let u = 0.797_884_6 * (x + 0.044_715 * x * x * x);
    let tanh = 1.0 - 2.0 / (1.0 + exp(2.0 * u));
    0.5 * x * (1.0 + tanh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_activations_are_accurate() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let rel = ((exp(x) as f64 - (x as f64).exp()) / (x as f64).exp()).abs();
            worst = worst.max(rel);
            x += 0.013;
        }
        assert!(worst < 5e-7, "exp relative error {worst}");
        for i in -4000..4000 {
            let x = i as f32 / 400.0;
            let xd = x as f64;
            let qg = xd / (1.0 + (-1.702 * xd).exp());
            assert!((quick_gelu(x) as f64 - qg).abs() < 1e-6 * (1.0 + qg.abs()), "quick_gelu({x})");
            let g = 0.5 * xd * (1.0 + erf64(xd / 2f64.sqrt()));
            assert!((gelu_erf(x) as f64 - g).abs() < 2e-6, "gelu({x}) {} vs {g}", gelu_erf(x));
            let gt = 0.5 * xd * (1.0 + (0.7978845608 * (xd + 0.044715 * xd.powi(3))).tanh());
            assert!((gelu_tanh(x) as f64 - gt).abs() < 2e-6, "gelu_tanh({x})");
        }
        assert!(quick_gelu(-200.0).abs() < 1e-30);
        assert!(quick_gelu(200.0) == 200.0);
    }

    /// erf in f64 (reference for the test only): the Maclaurin series below 2.5, the
    /// asymptotic expansion of erfc above (both far more accurate than the f32 kernel).
    fn erf64(x: f64) -> f64 {
        let z = x.abs();
        let v = if z < 2.5 {
            let (mut sum, mut term, mut n) = (z, z, 0.0);
            while term.abs() > 1e-18 {
                n += 1.0;
                term *= -z * z / n;
                sum += term / (2.0 * n + 1.0);
            }
            2.0 / std::f64::consts::PI.sqrt() * sum
        } else {
            let z2 = z * z;
            let series = 1.0 - 1.0 / (2.0 * z2) + 3.0 / (4.0 * z2 * z2) - 15.0 / (8.0 * z2 * z2 * z2)
                + 105.0 / (16.0 * z2.powi(4));
            1.0 - (-z2).exp() / (z * std::f64::consts::PI.sqrt()) * series
        };
        v.copysign(x)
    }
}
