//! Where the time of a CPU forward pass goes: wall time and floating-point work per kind of op,
//! gathered only while switched on (`webclip bench --profile`). CPU ops are synchronous, so the
//! time around a call is the op's time; what no op claims is reported as "other" by the caller
//! (reshapes, copies, embeddings, allocation).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// A kind of op of the forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// The q, k, v projections.
    Qkv,
    /// The attention's output projection (+ residual).
    AttnOut,
    /// The first MLP layer (+ activation).
    Fc1,
    /// The second MLP layer (+ residual).
    Fc2,
    /// Any other linear layer (projections, pooling head).
    Gemm,
    /// Scores, softmax and the weighted sum of values.
    Attention,
    LayerNorm,
    /// Patches to vectors and their product with the patch weights.
    PatchEmbed,
}

impl Op {
    pub const ALL: [Op; 8] =
        [Op::Qkv, Op::AttnOut, Op::Fc1, Op::Fc2, Op::Gemm, Op::Attention, Op::LayerNorm, Op::PatchEmbed];

    pub fn name(self) -> &'static str {
        match self {
            Op::Qkv => "gemm q/k/v",
            Op::AttnOut => "gemm attn out",
            Op::Fc1 => "gemm fc1 + act",
            Op::Fc2 => "gemm fc2",
            Op::Gemm => "gemm other",
            Op::Attention => "attention",
            Op::LayerNorm => "layernorm",
            Op::PatchEmbed => "patch embed",
        }
    }
}

static ON: AtomicBool = AtomicBool::new(false);
static NANOS: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static FLOPS: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static CALLS: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

/// Starts (and clears) or stops gathering.
pub fn enable(on: bool) {
    if on {
        for i in 0..Op::ALL.len() {
            NANOS[i].store(0, Ordering::Relaxed);
            FLOPS[i].store(0, Ordering::Relaxed);
            CALLS[i].store(0, Ordering::Relaxed);
        }
    }
    ON.store(on, Ordering::Relaxed);
}

/// Runs `f`, adding its time and `flops` to `op` when gathering.
#[inline]
pub(crate) fn timed<T>(op: Op, flops: usize, f: impl FnOnce() -> T) -> T {
    // `Instant` does not exist in the browser; gathering is for the native benchmark.
    if cfg!(target_arch = "wasm32") || !ON.load(Ordering::Relaxed) {
        return f();
    }
    let t = Instant::now();
    let out = f();
    let i = op as usize;
    NANOS[i].fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
    FLOPS[i].fetch_add(flops as u64, Ordering::Relaxed);
    CALLS[i].fetch_add(1, Ordering::Relaxed);
    out
}

/// One op's totals since [`enable`].
#[derive(Clone, Debug)]
pub struct OpTime {
    pub op: Op,
    pub seconds: f64,
    pub flops: f64,
    pub calls: u64,
}

/// The totals per op since [`enable`], ops never seen left out.
pub fn totals() -> Vec<OpTime> {
    Op::ALL
        .iter()
        .map(|&op| {
            let i = op as usize;
            OpTime {
                op,
                seconds: NANOS[i].load(Ordering::Relaxed) as f64 * 1e-9,
                flops: FLOPS[i].load(Ordering::Relaxed) as f64,
                calls: CALLS[i].load(Ordering::Relaxed),
            }
        })
        .filter(|t| t.calls > 0)
        .collect()
}
