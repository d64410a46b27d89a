//! Host kernels for inference on Burn's CPU backend (flex).
//!
//! Why: on the CPU the forward pass is matrix products plus a little element-wise work, and Burn's
//! CPU backend gives neither its best: its matmul (the `gemm` crate) measured well below the
//! machine's peak on CLIP's short, wide shapes, and it runs every element-wise op as a separate
//! pass that allocates a new tensor. Here every linear layer is one call of our own packed
//! matrix product ([`gemm`]) with the bias, activation and residual applied to each tile while it
//! is still in L1, on every core, with kernels per instruction set ([`isa`], which can be forced
//! lower to test and measure each path). Flex tensors are host memory: the kernels read the
//! weights and activations where they are (no copy) and hand the result back as a new tensor.
//!
//! They run only where the result is the same computation: a flex f32 tensor outside autodiff
//! (inference). Training and the GPU backends use the plain tensor ops of `encoder.rs`; the
//! parity tests run both paths against HF on the CPU and compare them.

mod attention;
pub(crate) mod gemm;
pub mod isa;
pub mod profile;

use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};

use crate::config::Activation;
use gemm::Epilogue;
pub use isa::Isa;
pub use profile::Op;

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the CPU kernels off (`false`) or on, process-wide. For tests and benchmarks that
/// compare them with the generic tensor ops.
#[doc(hidden)]
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether this activation takes the kernels: an f32 flex tensor (an f16 model takes the plain
/// ops), no autodiff, not switched off.
pub(crate) fn applies_to<const D: usize>(x: &Tensor<D>) -> bool {
    if !ENABLED.load(Ordering::Relaxed) || x.dtype() != burn::tensor::DType::F32 {
        return false;
    }
    let device = x.device();
    !device.is_autodiff() && device == Device::flex()
}

/// The host memory of a flex f32 tensor, made contiguous if it is a strided view. `None` for a
/// tensor of another backend or dtype (callers check [`applies_to`] first, so never seen).
pub(crate) fn host<const D: usize>(t: Tensor<D>) -> Option<FlexTensor> {
    let t = t.try_into_primitive::<Flex>().ok()?;
    if t.dtype() != burn::tensor::DType::F32 {
        return None;
    }
    Some(if t.as_slice::<f32>().is_some() { t } else { t.to_contiguous() })
}

/// A flex tensor of `shape` over `data` (moved, not copied).
pub(crate) fn from_host<const D: usize>(data: Vec<f32>, shape: [usize; D]) -> Tensor<D> {
    Tensor::from_primitive::<Flex>(FlexTensor::from_data(TensorData::new(data, shape)))
}

/// `act(x·W + b)`: `x` `[n, in]` → `[n, out]` in one pass of [`gemm`]. `None` when a tensor is not
/// flex f32 host memory (callers check [`applies_to`]; then they run the tensor ops).
pub(crate) fn linear_act(x: &Tensor<2>, lin: &Linear, act: Option<Activation>, op: Op) -> Option<Tensor<2>> {
    linear(x, lin, act, None, op)
}

/// `residual + x·W + b`: `x` `[n, in]`, `residual` `[n, out]` → `[n, out]`, as [`linear_act`].
pub(crate) fn linear_residual(x: &Tensor<2>, lin: &Linear, residual: &Tensor<2>, op: Op) -> Option<Tensor<2>> {
    linear(x, lin, None, Some(residual), op)
}

/// The bias and (`[m, n]`) residual of a linear layer as host memory. `None` when either is not
/// flex f32 host memory or the residual has another shape.
#[allow(clippy::type_complexity)]
fn epilogue_host(
    lin: &Linear,
    residual: Option<&Tensor<2>>,
    m: usize,
    n: usize,
) -> Option<(Option<FlexTensor>, Option<FlexTensor>)> {
    let bias = match &lin.bias {
        Some(b) => Some(host(b.val())?),
        None => None,
    };
    let residual = match residual {
        Some(r) if r.dims() == [m, n] => Some(host(r.clone())?),
        Some(_) => return None,
        None => None,
    };
    Some((bias, residual))
}

/// The f32 values of an optional host tensor (`Some(None)` when absent, `None` if unreadable).
fn values(t: &Option<FlexTensor>) -> Option<Option<&[f32]>> {
    match t {
        Some(t) => Some(Some(t.as_slice::<f32>()?)),
        None => Some(None),
    }
}

/// In the browser: Burn's matmul (the `gemm` crate's SIMD128 kernels), then bias, activation
/// and residual in one pass over its output, in place. Our packed kernels brought nothing there
/// (measured in Chromium on ViT-B/32: an explicit SIMD128 `6 × 8` kernel 2.10 / 2.04 images/s at
/// batch 1 / 8 against 2.00 / 2.28 for this path, the portable one 0.75 / 0.81), so the browser
/// keeps the library's product; attention, LayerNorm and the patch embedding stay Burn's there
/// too ([`native_kernels`]).
#[cfg(target_arch = "wasm32")]
fn linear(
    x: &Tensor<2>,
    lin: &Linear,
    act: Option<Activation>,
    residual: Option<&Tensor<2>>,
    _op: Op,
) -> Option<Tensor<2>> {
    let [m, _] = x.dims();
    let y = x.clone().matmul(lin.weight.val());
    let [_, n] = y.dims();
    if lin.bias.is_none() && act.is_none() && residual.is_none() {
        return Some(y);
    }
    let mut y = host(y)?;
    let (bias, residual) = epilogue_host(lin, residual, m, n)?;
    let (bias_s, res_s) = (values(&bias)?, values(&residual)?);
    // Copy-on-write: in place when the product's buffer is unshared (always, in practice).
    let out = y.storage_mut::<f32>();
    for (i, row) in out.chunks_exact_mut(n).enumerate() {
        row_epilogue(row, bias_s, res_s.map(|r| &r[i * n..(i + 1) * n]), act);
    }
    Some(Tensor::from_primitive::<Flex>(y))
}

/// Whether attention, LayerNorm and the patch embedding take webclip's kernels: natively yes;
/// in the browser Burn's ops (see the wasm `linear`).
const fn native_kernels() -> bool {
    !cfg!(target_arch = "wasm32")
}

#[cfg(not(target_arch = "wasm32"))]
fn linear(
    x: &Tensor<2>,
    lin: &Linear,
    act: Option<Activation>,
    residual: Option<&Tensor<2>>,
    op: Op,
) -> Option<Tensor<2>> {
    let [m, k] = x.dims();
    let [wk, n] = lin.weight.dims();
    if wk != k {
        return None;
    }
    let x = host(x.clone())?;
    let (w, b_layout) = weight_host(lin.weight.val())?;
    let (bias, residual) = epilogue_host(lin, residual, m, n)?;
    let epi = Epilogue { bias: values(&bias)?, act, residual: values(&residual)? };
    let mut out = vec![0f32; m * n];
    let a = x.as_slice::<f32>()?;
    let b = w.storage::<f32>().get(..k * n)?;
    let g = gemm::Gemm { m, k, n, a, lda: k, b, b_layout, ldc: n };
    profile::timed(op, 2 * m * k * n, || g.run(isa::active(), &mut out, epi, true));
    Some(from_host(out, [m, n]))
}

/// A weight, logically `[k, n]`, as host memory and how it lies there: the transposed view of the
/// `[n, k]` matrix stored in the checkpoint (how native CPU inference holds Linear weights, see
/// `super::build`), or `[k, n]` rows (a trained or cast model; any other view is copied).
#[cfg(not(target_arch = "wasm32"))]
fn weight_host(w: Tensor<2>) -> Option<(FlexTensor, gemm::BLayout)> {
    let [k, n] = w.dims();
    let t = w.try_into_primitive::<Flex>().ok()?;
    if t.dtype() != burn::tensor::DType::F32 {
        return None;
    }
    let layout = t.layout();
    if layout.start_offset() == 0 && layout.strides() == [1, k as isize] {
        return Some((t, gemm::BLayout::Cols { ld: k }));
    }
    let t = if t.as_slice::<f32>().is_some() { t } else { t.to_contiguous() };
    Some((t, gemm::BLayout::Rows { ld: n }))
}

/// Multi-head attention on the projections' rows (`q` `[batch · tq, d]`, `k`, `v`
/// `[batch · tk, d]`) → `[batch · tq, d]` (see [`attention`]). `None` when a tensor is not flex
/// f32 host memory.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention_rows(
    q: &Tensor<2>,
    k: &Tensor<2>,
    v: &Tensor<2>,
    batch: usize,
    tq: usize,
    tk: usize,
    heads: usize,
    mask: attention::Mask,
) -> Option<Tensor<2>> {
    if !native_kernels() {
        return None;
    }
    let [_, d] = q.dims();
    let (q, k, v) = (host(q.clone())?, host(k.clone())?, host(v.clone())?);
    let (qs, ks, vs) = (q.as_slice::<f32>()?, k.as_slice::<f32>()?, v.as_slice::<f32>()?);
    if qs.len() != batch * tq * d || ks.len() != batch * tk * d || vs.len() != ks.len() || d % heads != 0 {
        return None;
    }
    let flops = 4 * batch * tq * tk * d;
    let out = profile::timed(Op::Attention, flops, || {
        attention::attention(isa::active(), qs, ks, vs, batch, tq, tk, d, heads, mask)
    });
    Some(from_host(out, [batch * tq, d]))
}

pub(crate) use attention::Mask;

/// LayerNorm over the last axis of a flex f32 tensor (see [`attention::layer_norm`]). `None`
/// when a tensor is not flex f32 host memory.
pub(crate) fn layer_norm<const D: usize>(
    x: &Tensor<D>,
    weight: &Tensor<1>,
    bias: &Tensor<1>,
    eps: f64,
) -> Option<Tensor<D>> {
    if !native_kernels() {
        return None;
    }
    let dims = x.dims();
    let d = dims[D - 1];
    let (xh, w, b) = (host(x.clone())?, host(weight.clone())?, host(bias.clone())?);
    let (xs, ws, bs) = (xh.as_slice::<f32>()?, w.as_slice::<f32>()?, b.as_slice::<f32>()?);
    if ws.len() != d || bs.len() != d {
        return None;
    }
    let out = attention::layer_norm(isa::active(), xs, d, ws, bs, eps as f32);
    Some(from_host(out, dims))
}

/// Seconds per call of the product `[m, k] · [k, n]` on `isa`: the fastest of `reps` calls after
/// one warm-up call (the least disturbed by other work on the machine), for `webclip bench
/// --scenarios gemm`. `b_stored_transposed`: `b` is `[n, k]` (a weight as PyTorch stores it,
/// read in place) rather than `[k, n]`. Panics if `a` or `b` is shorter than its shape.
#[doc(hidden)]
#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::too_many_arguments)]
pub fn time_gemm(
    isa: Isa,
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    b_stored_transposed: bool,
    reps: usize,
) -> f64 {
    let mut c = vec![0f32; m * n];
    let b_layout = if b_stored_transposed { gemm::BLayout::Cols { ld: k } } else { gemm::BLayout::Rows { ld: n } };
    let g = gemm::Gemm { m, k, n, a, lda: k, b, b_layout, ldc: n };
    g.run(isa, &mut c, Epilogue::default(), true);
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let t = std::time::Instant::now();
        g.run(isa, &mut c, Epilogue::default(), true);
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

/// `x · Wᵀ + b` for a weight stored `[out, in]` (`w`, as PyTorch and a convolution kernel hold
/// it): `x` `[n, in]` → `[n, out]`, the weight read in place. `None` when a tensor is not flex
/// f32 host memory.
pub(crate) fn linear_transposed(x: &Tensor<2>, w: &Tensor<2>, bias: Option<&Tensor<1>>, op: Op) -> Option<Tensor<2>> {
    if !native_kernels() {
        return None;
    }
    let [m, k] = x.dims();
    let [n, wk] = w.dims();
    if wk != k {
        return None;
    }
    let (x, w) = (host(x.clone())?, host(w.clone())?);
    let bias = match bias {
        Some(b) => Some(host(b.clone())?),
        None => None,
    };
    let epi = Epilogue {
        bias: match &bias {
            Some(b) => Some(b.as_slice::<f32>()?),
            None => None,
        },
        ..Default::default()
    };
    let mut out = vec![0f32; m * n];
    let (a, b) = (x.as_slice::<f32>()?, w.as_slice::<f32>()?);
    let g = gemm::Gemm { m, k, n, a, lda: k, b, b_layout: gemm::BLayout::Cols { ld: k }, ldc: n };
    profile::timed(op, 2 * m * k * n, || g.run(isa::active(), &mut out, epi, true));
    Some(from_host(out, [m, n]))
}

/// `act(row + bias) + residual` in place: the epilogue of every linear layer (see [`gemm`]).
#[inline(always)]
pub(crate) fn row_epilogue(row: &mut [f32], bias: Option<&[f32]>, res: Option<&[f32]>, act: Option<Activation>) {
    if let Some(b) = bias {
        for (y, b) in row.iter_mut().zip(b) {
            *y += *b;
        }
    }
    // Plain loops, no closures: they must compile inside the caller's `#[target_feature]`.
    match act {
        None => {}
        Some(Activation::QuickGelu) => {
            for y in row.iter_mut() {
                *y = quick_gelu(*y);
            }
        }
        Some(Activation::Gelu) => {
            for y in row.iter_mut() {
                *y = gelu_erf(*y);
            }
        }
        Some(Activation::GeluTanh) => {
            for y in row.iter_mut() {
                *y = gelu_tanh(*y);
            }
        }
        Some(Activation::Relu) => {
            for y in row.iter_mut() {
                *y = y.max(0.0);
            }
        }
    }
    if let Some(res) = res {
        for (y, x) in row.iter_mut().zip(res) {
            *y += *x;
        }
    }
}

/// `exp(x)` for f32, branch-free (Cephes `expf`: range reduction by ln 2 in two parts and a
/// degree-6 polynomial; relative error ≤ 2 ulp over the clamped range). `n = round(x / ln 2)` by
/// the 1.5·2²³ trick rather than `floor`, which SSE2 lacks (it became a call into libm per
/// element on the baseline path).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.336_55, 88.376_26);
    const ROUND: f32 = 12_582_912.0;
    let n = (x * LOG2E + ROUND) - ROUND;
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
