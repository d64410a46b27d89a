//! Multi-head attention and LayerNorm on host rows, for CPU inference.
//!
//! Attention works on the projections as the linear layers leave them, `[batch · tokens, d]` with
//! the heads side by side in the columns, so no reshape or transpose of q, k, v is ever made: per
//! (sequence, head) the scores are one product `Q·Kᵀ` (keys read in place as a transposed
//! operand), then a softmax per row, then `P·V`, with the same packed kernels as the linear
//! layers ([`super::gemm`]), one (sequence, head) per core at a time.

use super::exp;
use super::gemm::{BLayout, Epilogue, Gemm};
use super::isa::Isa;

/// Which keys a query sees.
#[derive(Clone, Copy)]
pub(crate) enum Mask<'a> {
    /// All of them (image tower, SigLIP's text tower).
    None,
    /// Keys up to the query's own position (CLIP's text tower).
    Causal,
    /// One query per sequence at these positions (`[batch]`), keys up to it.
    CausalAt(&'a [usize]),
}

/// `softmax(Q·Kᵀ / √hd) · V` per head: `q` `[batch · tq, d]`, `k`, `v` `[batch · tk, d]` →
/// `[batch · tq, d]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention(
    isa: Isa,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    batch: usize,
    tq: usize,
    tk: usize,
    d: usize,
    heads: usize,
    mask: Mask,
) -> Vec<f32> {
    let hd = d / heads;
    let scale = (hd as f32).powf(-0.5);
    let head =
        |item: usize| -> Vec<f32> {
            let (bi, h) = (item / heads, item % heads);
            let (q0, k0) = (bi * tq * d + h * hd, bi * tk * d + h * hd);
            let mut s = vec![0f32; tq * tk];
            Gemm { m: tq, k: hd, n: tk, a: &q[q0..], lda: d, b: &k[k0..], b_layout: BLayout::Cols { ld: d }, ldc: tk }
                .run(isa, &mut s, Epilogue::default(), false);
            // SAFETY: `isa` is at most what the CPU has (`isa::force`).
            unsafe { softmax_rows(isa, &mut s, tk, mask, bi, scale) };
            let mut o = vec![0f32; tq * hd];
            Gemm { m: tq, k: tk, n: hd, a: &s, lda: tk, b: &v[k0..], b_layout: BLayout::Rows { ld: d }, ldc: hd }.run(
                isa,
                &mut o,
                Epilogue::default(),
                false,
            );
            o
        };
    let items = batch * heads;
    #[cfg(not(target_arch = "wasm32"))]
    let outs: Vec<Vec<f32>> = {
        use rayon::prelude::*;
        (0..items).into_par_iter().map(head).collect()
    };
    #[cfg(target_arch = "wasm32")]
    let outs: Vec<Vec<f32>> = (0..items).map(head).collect();
    let mut out = vec![0f32; batch * tq * d];
    for (item, o) in outs.iter().enumerate() {
        let (bi, h) = (item / heads, item % heads);
        for (i, src) in o.chunks_exact(hd).enumerate() {
            let at = (bi * tq + i) * d + h * hd;
            out[at..at + hd].copy_from_slice(src);
        }
    }
    out
}

/// [`softmax`] on each row of `s` (`[tq, tk]`, sequence `bi`), compiled for `isa`.
unsafe fn softmax_rows(isa: Isa, s: &mut [f32], tk: usize, mask: Mask, bi: usize, scale: f32) {
    #[inline(always)]
    fn rows(s: &mut [f32], tk: usize, mask: Mask, bi: usize, scale: f32) {
        for (i, row) in s.chunks_exact_mut(tk).enumerate() {
            let visible = match mask {
                Mask::None => tk,
                Mask::Causal => (i + 1).min(tk),
                Mask::CausalAt(pos) => (pos[bi] + 1).min(tk),
            };
            softmax(row, visible, scale);
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx2,fma")]
        unsafe fn avx512(s: &mut [f32], tk: usize, mask: Mask, bi: usize, scale: f32) {
            rows(s, tk, mask, bi, scale)
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2(s: &mut [f32], tk: usize, mask: Mask, bi: usize, scale: f32) {
            rows(s, tk, mask, bi, scale)
        }
        // SAFETY: the caller's.
        unsafe {
            match isa {
                Isa::Avx512 => return avx512(s, tk, mask, bi, scale),
                Isa::Avx2 => return avx2(s, tk, mask, bi, scale),
                Isa::Baseline => {}
            }
        }
    }
    let _ = isa;
    rows(s, tk, mask, bi, scale)
}

/// `softmax(row[..visible] · scale)`, zero after `visible`.
#[inline(always)]
fn softmax(row: &mut [f32], visible: usize, scale: f32) {
    let (seen, hidden) = row.split_at_mut(visible);
    hidden.fill(0.0);
    let max = lanes(seen, f32::NEG_INFINITY, |acc, x| acc.max(x), f32::max);
    for x in seen.iter_mut() {
        *x = exp((*x - max) * scale);
    }
    let inv = 1.0 / lanes(seen, 0.0, |acc, x| acc + x, |a, b| a + b);
    for x in seen.iter_mut() {
        *x *= inv;
    }
}

/// A reduction over 16 independent lanes (which the compiler keeps in vector registers: a
/// single running float would be a serial chain it may not reorder), then across them.
#[inline(always)]
fn lanes(x: &[f32], init: f32, step: impl Fn(f32, f32) -> f32, merge: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 16];
    let chunks = x.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = step(*a, v);
        }
    }
    let mut r = acc.into_iter().fold(init, &merge);
    for &v in rest {
        r = step(r, v);
    }
    r
}

/// LayerNorm over rows of `d`: `x` `[rows, d]` → `[rows, d]`, mean and variance in two passes
/// (as PyTorch's CPU kernel), rows spread over the cores.
pub(crate) fn layer_norm(isa: Isa, x: &[f32], d: usize, weight: &[f32], bias: &[f32], eps: f32) -> Vec<f32> {
    let mut out = x.to_vec();
    let norm = |rows: &mut [f32]| {
        for row in rows.chunks_exact_mut(d) {
            // SAFETY: `isa` is at most what the CPU has (`isa::force`).
            unsafe { norm_row(isa, row, weight, bias, eps) }
        }
    };
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        let rows_per_task = (16_384 / d.max(1)).max(1);
        out.par_chunks_mut(rows_per_task * d).for_each(norm);
    }
    #[cfg(target_arch = "wasm32")]
    norm(&mut out);
    out
}

unsafe fn norm_row(isa: Isa, row: &mut [f32], w: &[f32], b: &[f32], eps: f32) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx2,fma")]
        unsafe fn avx512(row: &mut [f32], w: &[f32], b: &[f32], eps: f32) {
            norm_generic(row, w, b, eps)
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2(row: &mut [f32], w: &[f32], b: &[f32], eps: f32) {
            norm_generic(row, w, b, eps)
        }
        // SAFETY: the caller's.
        unsafe {
            match isa {
                Isa::Avx512 => return avx512(row, w, b, eps),
                Isa::Avx2 => return avx2(row, w, b, eps),
                Isa::Baseline => {}
            }
        }
    }
    let _ = isa;
    norm_generic(row, w, b, eps)
}

#[inline(always)]
fn norm_generic(row: &mut [f32], w: &[f32], b: &[f32], eps: f32) {
    let d = row.len() as f32;
    let mean = lanes(row, 0.0, |a, x| a + x, |a, b| a + b) / d;
    let var = lanes(row, 0.0, |a, x| a + (x - mean) * (x - mean), |a, b| a + b) / d;
    let inv = 1.0 / (var + eps).sqrt();
    for ((y, &w), &b) in row.iter_mut().zip(w).zip(b) {
        *y = (*y - mean) * inv * w + b;
    }
}
