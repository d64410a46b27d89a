//! The matrix product of every linear layer at CPU inference: `C = epilogue(A·B)` with `A`
//! `[m, k]` (activations), `B` `[k, n]` (a weight as Burn holds it, `[d_in, d_out]`), `C`
//! `[m, n]`, all row-major, and the bias, activation and residual applied to each tile of `C`
//! while it is still in the L1 cache.
//!
//! Why our own: Burn's CPU backend calls the `gemm` crate, which measured well below the machine's
//! peak on CLIP's shapes (short and wide: 50 rows per image against 768–3072 columns), leaves the
//! element-wise work to separate passes over memory, and cannot be told which instruction set to
//! use. The layout is the classic one (Goto / BLIS): for each block of `KC` inner-dimension steps
//! a thread packs its columns of `B` into panels of `NR` columns (`[panel][k][NR]`), then, per
//! block of `MC` rows, `A` into panels of `MR` rows (`[panel][k][MR]`), and a micro-kernel holds an
//! `MR × NR` tile of `C` in registers through the `KC` steps: per step one load of `NR` values of
//! `B`, `MR` broadcasts of `A`, `MR·NR/lanes` fused multiply-adds. Packing reads each weight once
//! per forward — the read the product needs anyway — so nothing is packed ahead and the model
//! keeps one copy of its weights: natively the checkpoint's own `[out, in]` matrices, read as a
//! transposed `B` ([`BLayout::Cols`]) whose panels the x86 kernels pack by 8 × 8 transposes in
//! registers, as fast as copying rows (`webclip bench --scenarios gemm`, column `best, Wᵀ`).
//!
//! Threads split the columns (each streams its own part of the weight, the larger operand at
//! batch 1); a thread's `B` block stays in its L2 cache while the rows go by. Kernels per
//! instruction set ([`super::isa`]): AVX-512 `10 × 32` (20 of the 32 zmm registers accumulate;
//! 10 divides ViT's 50 tokens per image), AVX2 + FMA `6 × 16` (12 of 16 ymm), and a portable
//! `4 × 8` (SSE2, NEON after vectorisation) as the baseline. Native only in effect: in the
//! browser the linear layers keep Burn's matmul (see `super::linear`).

use std::cell::RefCell;

use super::isa::Isa;
use super::row_epilogue;
use crate::config::Activation;

/// What is applied to each element of `A·B` before it is stored: `act(xw + bias) + residual`.
#[derive(Clone, Copy, Default)]
pub(crate) struct Epilogue<'a> {
    /// `[n]`.
    pub bias: Option<&'a [f32]>,
    pub act: Option<Activation>,
    /// `[m, n]`, added last.
    pub residual: Option<&'a [f32]>,
}

impl Epilogue<'_> {
    fn is_identity(&self) -> bool {
        self.bias.is_none() && self.act.is_none() && self.residual.is_none()
    }
}

/// How `B` lies in memory.
#[derive(Clone, Copy)]
pub(crate) enum BLayout {
    /// `[k, n]` row-major with row stride `ld` (a weight as Burn's `Linear` holds it).
    Rows { ld: usize },
    /// Stored transposed, `[n, k]` row-major with row stride `ld` (PyTorch's `[out, in]`, a
    /// convolution kernel, the keys of an attention head).
    Cols { ld: usize },
}

/// `c = epilogue(a · b)` on `isa`: `a` `[m, k]`, `b` `[k, n]`, `c` `[m, n]`, row-major and
/// contiguous, on every core (tests; the model calls [`Gemm::run`]).
#[allow(clippy::too_many_arguments)]
#[cfg(test)]
pub(crate) fn gemm_with(isa: Isa, m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32], epi: Epilogue) {
    let job = Gemm { m, k, n, a, lda: k, b, b_layout: BLayout::Rows { ld: n }, ldc: n };
    job.run(isa, c, epi, true)
}

/// One product with explicit strides: `a` `[m, k]` row stride `lda`, `b` as [`BLayout`] says,
/// into `c` with row stride `ldc` (the caller's slice starts at `c[0][0]`).
#[derive(Clone, Copy)]
pub(crate) struct Gemm<'a> {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub a: &'a [f32],
    pub lda: usize,
    pub b: &'a [f32],
    pub b_layout: BLayout,
    pub ldc: usize,
}

impl Gemm<'_> {
    /// `c = epilogue(a · b)`; `parallel`: split the columns over the cores (callers that already
    /// run one product per core pass `false`). The residual, when given, has row stride `ldc`.
    pub(crate) fn run(&self, isa: Isa, c: &mut [f32], epi: Epilogue, parallel: bool) {
        let Gemm { m, k, n, lda, ldc, .. } = *self;
        if m == 0 || n == 0 {
            return;
        }
        let last = |rows: usize, ld: usize| (rows - 1) * ld;
        let b_len = match self.b_layout {
            BLayout::Rows { ld } => last(k.max(1), ld) + n,
            BLayout::Cols { ld } => last(n, ld) + k,
        };
        assert!(
            self.a.len() >= last(m, lda) + k && self.b.len() >= b_len && c.len() >= last(m, ldc) + n,
            "gemm operands shorter than their shapes"
        );
        assert!(epi.bias.is_none_or(|x| x.len() >= n) && epi.residual.is_none_or(|x| x.len() >= last(m, ldc) + n));
        if k == 0 {
            for i in 0..m {
                let row = &mut c[i * ldc..i * ldc + n];
                row.fill(0.0);
                row_epilogue(row, epi.bias, epi.residual.map(|r| &r[i * ldc..i * ldc + n]), epi.act);
            }
            return;
        }
        let (mr, nr) = match isa {
            Isa::Avx512 => (Avx512::MR, Avx512::NR),
            Isa::Avx2 => (Avx2::MR, Avx2::NR),
            Isa::Baseline => (Baseline::MR, Baseline::NR),
        };
        let panels = n.div_ceil(nr);
        // Below ~1 MFLOP a second thread costs more to wake than it saves.
        let threads = if !parallel || 2 * m * n * k < 1 << 20 { 1 } else { threads().min(panels) };
        with_buffer(&A_PACKED, m.div_ceil(mr) * mr * k, |a_packed| {
            pack_a(self.a, lda, m, k, mr, a_packed, threads > 1);
            let job = Job { g: *self, a_packed, c: c.as_mut_ptr(), epi };
            let kc = k.min(KC_MAX);
            let run = |t: usize| {
                let (p0, p1) = (t * panels / threads, (t + 1) * panels / threads);
                let cols = (p0 * nr, (p1 * nr).min(n));
                let bn = (cols.1 - cols.0).min(NC_MAX).div_ceil(nr) * nr;
                with_buffer(&B_PACKED, bn * kc, |bpack| {
                    // SAFETY: the pointers cover the shapes (asserted above); threads write
                    // disjoint column ranges of `c`; the instruction set is at most
                    // `detected()` (`isa::force`).
                    unsafe { run_on(isa, &job, cols, bpack) }
                })
            };
            #[cfg(not(target_arch = "wasm32"))]
            if threads > 1 {
                use rayon::prelude::*;
                (0..threads).into_par_iter().for_each(run);
                return;
            }
            (0..threads).for_each(run);
        })
    }
}

fn threads() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    {
        rayon::current_num_threads()
    }
    #[cfg(target_arch = "wasm32")]
    {
        1
    }
}

/// One product, shared read-only by the threads.
struct Job<'a> {
    g: Gemm<'a>,
    /// All of `A`, packed: `[panel][k][MR]`.
    a_packed: &'a [f32],
    c: *mut f32,
    epi: Epilogue<'a>,
}

// SAFETY: `c` is written at disjoint columns by the threads of one `Gemm::run` call, which
// outlives them; the rest is shared references.
unsafe impl Sync for Job<'_> {}

/// A micro-kernel and its blocking.
trait Kernel {
    const MR: usize;
    const NR: usize;
    /// Inner-dimension steps per packed block: the `KC × NR` panel of `B` fits the L1 cache.
    const KC: usize;
    /// Rows per packed block of `A` (`MC × KC` in L2).
    const MC: usize;
    /// Columns per packed block of `B` (`KC × NC`).
    const NC: usize;
    /// `C[..rows, ..cols] (=|+=) A_panel · B_panel` over `kc` steps; `a` is `[kc][MR]`, `b`
    /// `[kc][NR]`, `c` has row stride `ldc`; `first` overwrites, otherwise accumulates.
    ///
    /// # Safety
    /// The CPU has the kernel's instruction set; the pointers cover what they describe.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
        first: bool,
    );

    /// Packs the first steps of one full panel of a transposed `B`: `src` is row `0` of `NR`
    /// rows with stride `ld`; `out[kk][r] = src[r·ld + kk]`. Returns how many steps `kk` it
    /// wrote (the caller does the rest); the portable kernel writes none.
    ///
    /// # Safety
    /// `src` covers `NR` rows of `kc` values; the CPU has the kernel's instruction set.
    #[inline(always)]
    unsafe fn transpose_panel(_src: *const f32, _ld: usize, _kc: usize, _out: &mut [f32]) -> usize {
        0
    }
}

/// The largest `KC` and `NC` of the kernels (the size of a thread's packed `B`).
const KC_MAX: usize = 256;
const NC_MAX: usize = 1024;
const _: () = assert!(
    Avx512::KC <= KC_MAX
        && Avx2::KC <= KC_MAX
        && Baseline::KC <= KC_MAX
        && Avx512::NC <= NC_MAX
        && Avx2::NC <= NC_MAX
        && Baseline::NC <= NC_MAX
        && Avx512::MC % Avx512::MR == 0
        && Avx2::MC % Avx2::MR == 0
        && Baseline::MC % Baseline::MR == 0
);

/// Dispatches one thread's columns to the kernel of `isa`, compiled for it (packing and
/// epilogue included, so they vectorise for the same instruction set: no closure may stand
/// between the `#[target_feature]` function and the loops, or they compile for the baseline).
unsafe fn run_on(isa: Isa, job: &Job, cols: (usize, usize), bpack: &mut [f32]) {
    // SAFETY: forwarded from `Gemm::run`.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => run_avx512(job, cols, bpack),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => run_avx2(job, cols, bpack),
            _ => run_baseline(job, cols, bpack),
        }
    }
}

unsafe fn run_baseline(job: &Job, cols: (usize, usize), bpack: &mut [f32]) {
    // SAFETY: forwarded.
    unsafe { run::<Baseline>(job, cols, bpack) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512(job: &Job, cols: (usize, usize), bpack: &mut [f32]) {
    // SAFETY: forwarded.
    unsafe { run::<Avx512>(job, cols, bpack) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(job: &Job, cols: (usize, usize), bpack: &mut [f32]) {
    // SAFETY: forwarded.
    unsafe { run::<Avx2>(job, cols, bpack) }
}

thread_local! {
    /// The packed `A` of the products this thread starts (all of it: `m·k` floats, shared with
    /// the threads that split the columns), kept between calls so that a forward pass does not
    /// fault fresh pages in for every layer.
    static A_PACKED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// This thread's packed block of `B` (`KC·NC` floats at most).
    static B_PACKED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's buffer `key`, grown to `len` (a fresh one when it is already in
/// use further up this thread's stack: a pool thread can pick up another product while it
/// waits for its own).
fn with_buffer<R>(
    key: &'static std::thread::LocalKey<RefCell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut v) => {
            if v.len() < len {
                v.resize(len, 0.0);
            }
            f(&mut v[..len])
        }
        Err(_) => f(&mut vec![0.0; len]),
    })
}

/// The loop nest over one thread's columns `cols.0..cols.1`.
#[inline(always)]
unsafe fn run<K: Kernel>(job: &Job, cols: (usize, usize), bpack: &mut [f32]) {
    let Gemm { m, k, ldc, .. } = job.g;
    for (jc, pc) in (cols.0..cols.1).step_by(K::NC).flat_map(|jc| (0..k).step_by(K::KC).map(move |pc| (jc, pc))) {
        let nc = K::NC.min(cols.1 - jc);
        let npanels = nc.div_ceil(K::NR);
        let kc = K::KC.min(k - pc);
        let (first, last) = (pc == 0, pc + kc == k);
        pack_b::<K>(job.g.b, job.g.b_layout, pc, kc, jc, nc, bpack);
        for ic in (0..m).step_by(K::MC) {
            let mc = K::MC.min(m - ic);
            for q in 0..npanels {
                let jj = jc + q * K::NR;
                let w = K::NR.min(jc + nc - jj);
                for p in 0..mc.div_ceil(K::MR) {
                    let ii = ic + p * K::MR;
                    let h = K::MR.min(ic + mc - ii);
                    // Panel `ii / MR` of the packed `A`, steps `pc..pc+kc`.
                    let a = &job.a_packed[(ii / K::MR * k + pc) * K::MR..][..kc * K::MR];
                    let b = &bpack[q * kc * K::NR..][..kc * K::NR];
                    // SAFETY: the tile `[ii..ii+h, jj..jj+w]` is inside `c` and in this
                    // thread's columns; the panels hold `kc` steps.
                    unsafe {
                        let c = job.c.add(ii * ldc + jj);
                        K::tile(kc, a.as_ptr(), b.as_ptr(), c, ldc, h, w, first);
                        if last && !job.epi.is_identity() {
                            epilogue_tile(job, c, ii, jj, h, w);
                        }
                    }
                }
            }
        }
    }
}

/// `B[pc..pc+kc, jc..jc+nc]` into `[panel][k][NR]`, the last panel zero-padded. Reads whole
/// rows of the source (long sequential runs the prefetcher follows), not panel by panel.
#[inline(always)]
fn pack_b<K: Kernel>(b: &[f32], layout: BLayout, pc: usize, kc: usize, jc: usize, nc: usize, out: &mut [f32]) {
    let npanels = nc.div_ceil(K::NR);
    let tail = nc % K::NR;
    match layout {
        BLayout::Rows { ld } => {
            for kk in 0..kc {
                let src = &b[(pc + kk) * ld + jc..(pc + kk) * ld + jc + nc];
                for (q, chunk) in src.chunks(K::NR).enumerate() {
                    let dst = &mut out[(q * kc + kk) * K::NR..(q * kc + kk + 1) * K::NR];
                    if chunk.len() == K::NR {
                        // A copy of known length: a few vector moves, not a call to memcpy.
                        for (d, &v) in dst.iter_mut().zip(&chunk[..K::NR]) {
                            *d = v;
                        }
                    } else {
                        dst[..chunk.len()].copy_from_slice(chunk);
                        dst[chunk.len()..].fill(0.0);
                    }
                }
            }
        }
        BLayout::Cols { ld } => {
            // A transpose: PyTorch's `[out, in]` weights read in place, attention keys, the
            // patch kernel. Full panels go through the kernel's transpose (8 × 8 blocks in
            // registers on x86); the rest element by element.
            for q in 0..npanels {
                let w = if q + 1 == npanels && tail != 0 { tail } else { K::NR };
                let panel = &mut out[q * kc * K::NR..(q + 1) * kc * K::NR];
                let first = (jc + q * K::NR) * ld + pc;
                let done = if w == K::NR {
                    // SAFETY: the panel's `NR` rows of `kc` values from `first` are inside `b`
                    // (`Gemm::run` asserted the operand's extent); `panel` is `kc · NR`; the CPU
                    // has `K`'s instruction set (`pack_b` runs only inside `run::<K>`, called
                    // by the `#[target_feature]` function of that set).
                    unsafe { K::transpose_panel(b.as_ptr().add(first), ld, kc, panel) }
                } else {
                    0
                };
                for (kk, dst) in panel.chunks_exact_mut(K::NR).enumerate().skip(done) {
                    for (r, d) in dst[..w].iter_mut().enumerate() {
                        *d = b[first + r * ld + kk];
                    }
                    dst[w..].fill(0.0);
                }
            }
        }
    }
}

/// All of `A` (`[m, k]`, row stride `lda`) into `[panel][k][mr]`, the last panel zero-padded,
/// panels spread over the cores when `parallel`. Written as plain loads and stores on purpose:
/// the vectoriser otherwise turns this transpose into scatter instructions, measured slower
/// than the kernel it feeds.
fn pack_a(a: &[f32], lda: usize, m: usize, k: usize, mr: usize, out: &mut [f32], parallel: bool) {
    let panel = |(p, out): (usize, &mut [f32])| {
        let i0 = p * mr;
        for r in 0..mr {
            if i0 + r < m {
                let src = &a[(i0 + r) * lda..(i0 + r) * lda + k];
                for (dst, &v) in out[r..].iter_mut().step_by(mr).zip(src) {
                    // SAFETY: `dst` is an element of `out`.
                    unsafe { std::ptr::write_volatile(dst, v) };
                }
            } else {
                out[r..].iter_mut().step_by(mr).for_each(|x| *x = 0.0);
            }
        }
    };
    #[cfg(not(target_arch = "wasm32"))]
    if parallel {
        use rayon::prelude::*;
        out.par_chunks_mut(k * mr).enumerate().for_each(panel);
        return;
    }
    let _ = parallel;
    out.chunks_mut(k * mr).enumerate().for_each(panel);
}

/// Bias, activation and residual on a finished tile, while it is in L1.
#[inline(always)]
unsafe fn epilogue_tile(job: &Job, c: *mut f32, ii: usize, jj: usize, h: usize, w: usize) {
    let ldc = job.g.ldc;
    for r in 0..h {
        // SAFETY: row `ii + r`, columns `jj..jj+w` of `c`, this thread's.
        let row = unsafe { std::slice::from_raw_parts_mut(c.add(r * ldc), w) };
        let bias = job.epi.bias.map(|b| &b[jj..jj + w]);
        let res = job.epi.residual.map(|x| &x[(ii + r) * ldc + jj..(ii + r) * ldc + jj + w]);
        row_epilogue(row, bias, res, job.epi.act);
    }
}

/// Stores a kernel's tile from a scratch array when it is cut by the matrix edge.
#[inline(always)]
unsafe fn store_partial<const NR: usize>(
    t: &[[f32; NR]],
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
    first: bool,
) {
    for (i, row) in t.iter().enumerate().take(rows) {
        for (j, &v) in row.iter().enumerate().take(cols) {
            // SAFETY: inside the tile the caller owns.
            unsafe {
                let p = c.add(i * ldc + j);
                *p = if first { v } else { *p + v };
            }
        }
    }
}

/// Portable `4 × 8` kernel: plain f32 arithmetic the compiler turns into SSE2 / NEON / SIMD128.
struct Baseline;

impl Kernel for Baseline {
    const MR: usize = 4;
    const NR: usize = 8;
    const KC: usize = 256;
    const MC: usize = 64;
    const NC: usize = 1024;

    #[inline(always)]
    unsafe fn tile(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
        first: bool,
    ) {
        const MR: usize = Baseline::MR;
        const NR: usize = Baseline::NR;
        let mut acc = [[0f32; NR]; MR];
        // SAFETY: `a` is `[kc][MR]`, `b` `[kc][NR]`.
        let (a, b) = unsafe { (std::slice::from_raw_parts(a, kc * MR), std::slice::from_raw_parts(b, kc * NR)) };
        for (ak, bk) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
            for i in 0..MR {
                for j in 0..NR {
                    acc[i][j] += ak[i] * bk[j];
                }
            }
        }
        // SAFETY: the tile is the caller's.
        unsafe { store_partial(&acc, c, ldc, rows, cols, first) }
    }
}

#[cfg(target_arch = "x86_64")]
use x86::{Avx2, Avx512};

#[cfg(not(target_arch = "x86_64"))]
type Avx512 = Baseline;
#[cfg(not(target_arch = "x86_64"))]
type Avx2 = Baseline;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Kernel, store_partial};

    /// `10 × 32`: two zmm registers per row of the tile.
    pub(super) struct Avx512;

    impl Kernel for Avx512 {
        const MR: usize = 10;
        const NR: usize = 32;
        const KC: usize = 256;
        const MC: usize = 120;
        const NC: usize = 1024;

        #[inline(always)]
        unsafe fn tile(
            kc: usize,
            a: *const f32,
            b: *const f32,
            c: *mut f32,
            ldc: usize,
            rows: usize,
            cols: usize,
            first: bool,
        ) {
            // SAFETY: the caller's contract (AVX-512F present, pointers cover the panels/tile).
            unsafe { tile_avx512(kc, a, b, c, ldc, rows, cols, first) }
        }

        #[inline(always)]
        unsafe fn transpose_panel(src: *const f32, ld: usize, kc: usize, out: &mut [f32]) -> usize {
            // SAFETY: the caller's contract (AVX2 is part of both x86 levels).
            unsafe { transpose_panel_avx::<32>(src, ld, kc, out) }
        }
    }

    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_avx512(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
        first: bool,
    ) {
        const MR: usize = Avx512::MR;
        let mut lo = [_mm512_setzero_ps(); MR];
        let mut hi = [_mm512_setzero_ps(); MR];
        let (mut a, mut b) = (a, b);
        // SAFETY: `a` advances through `[kc][MR]`, `b` through `[kc][32]`.
        unsafe {
            for _ in 0..kc {
                let b0 = _mm512_loadu_ps(b);
                let b1 = _mm512_loadu_ps(b.add(16));
                for i in 0..MR {
                    let ai = _mm512_set1_ps(*a.add(i));
                    lo[i] = _mm512_fmadd_ps(ai, b0, lo[i]);
                    hi[i] = _mm512_fmadd_ps(ai, b1, hi[i]);
                }
                a = a.add(MR);
                b = b.add(32);
            }
            if rows == MR && cols == 32 {
                for i in 0..MR {
                    let p = c.add(i * ldc);
                    let (mut v0, mut v1) = (lo[i], hi[i]);
                    if !first {
                        v0 = _mm512_add_ps(v0, _mm512_loadu_ps(p));
                        v1 = _mm512_add_ps(v1, _mm512_loadu_ps(p.add(16)));
                    }
                    _mm512_storeu_ps(p, v0);
                    _mm512_storeu_ps(p.add(16), v1);
                }
            } else {
                let mut t = [[0f32; 32]; MR];
                for i in 0..MR {
                    _mm512_storeu_ps(t[i].as_mut_ptr(), lo[i]);
                    _mm512_storeu_ps(t[i].as_mut_ptr().add(16), hi[i]);
                }
                store_partial(&t, c, ldc, rows, cols, first);
            }
        }
    }

    /// `out[kk][r] = src[r·ld + kk]` for `r < NR` and `kk` up to a multiple of 8 below `kc`,
    /// 8 × 8 blocks at a time: eight row loads, the transpose in registers (unpack, shuffle,
    /// lane permute), eight row stores — where an element-wise transpose does 64 loads and
    /// stores. What `B` packing costs when the weights stay as stored (`[out, in]`).
    #[target_feature(enable = "avx2")]
    unsafe fn transpose_panel_avx<const NR: usize>(src: *const f32, ld: usize, kc: usize, out: &mut [f32]) -> usize {
        let steps = kc / 8 * 8;
        debug_assert!(out.len() >= kc * NR);
        let dst = out.as_mut_ptr();
        // SAFETY: rows `r0..r0+8 < NR` of `src`, columns `kk..kk+8 <= kc`; `dst` is `[kc][NR]`.
        unsafe {
            for kk in (0..steps).step_by(8) {
                for r0 in (0..NR).step_by(8) {
                    let row = |i: usize| _mm256_loadu_ps(src.add((r0 + i) * ld + kk));
                    let (r0v, r1, r2, r3, r4, r5, r6, r7) =
                        (row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7));
                    let t0 = _mm256_unpacklo_ps(r0v, r1);
                    let t1 = _mm256_unpackhi_ps(r0v, r1);
                    let t2 = _mm256_unpacklo_ps(r2, r3);
                    let t3 = _mm256_unpackhi_ps(r2, r3);
                    let t4 = _mm256_unpacklo_ps(r4, r5);
                    let t5 = _mm256_unpackhi_ps(r4, r5);
                    let t6 = _mm256_unpacklo_ps(r6, r7);
                    let t7 = _mm256_unpackhi_ps(r6, r7);
                    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                    let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                    let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                    let cols = [
                        _mm256_permute2f128_ps::<0x20>(u0, u4),
                        _mm256_permute2f128_ps::<0x20>(u1, u5),
                        _mm256_permute2f128_ps::<0x20>(u2, u6),
                        _mm256_permute2f128_ps::<0x20>(u3, u7),
                        _mm256_permute2f128_ps::<0x31>(u0, u4),
                        _mm256_permute2f128_ps::<0x31>(u1, u5),
                        _mm256_permute2f128_ps::<0x31>(u2, u6),
                        _mm256_permute2f128_ps::<0x31>(u3, u7),
                    ];
                    for (j, v) in cols.into_iter().enumerate() {
                        _mm256_storeu_ps(dst.add((kk + j) * NR + r0), v);
                    }
                }
            }
        }
        steps
    }

    /// `6 × 16`: two ymm registers per row of the tile.
    pub(super) struct Avx2;

    impl Kernel for Avx2 {
        const MR: usize = 6;
        const NR: usize = 16;
        const KC: usize = 256;
        const MC: usize = 72;
        const NC: usize = 1024;

        #[inline(always)]
        unsafe fn tile(
            kc: usize,
            a: *const f32,
            b: *const f32,
            c: *mut f32,
            ldc: usize,
            rows: usize,
            cols: usize,
            first: bool,
        ) {
            // SAFETY: the caller's contract (AVX2 + FMA present, pointers cover the panels/tile).
            unsafe { tile_avx2(kc, a, b, c, ldc, rows, cols, first) }
        }

        #[inline(always)]
        unsafe fn transpose_panel(src: *const f32, ld: usize, kc: usize, out: &mut [f32]) -> usize {
            // SAFETY: the caller's contract (AVX2 is part of both x86 levels).
            unsafe { transpose_panel_avx::<16>(src, ld, kc, out) }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_avx2(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        rows: usize,
        cols: usize,
        first: bool,
    ) {
        const MR: usize = Avx2::MR;
        let mut lo = [_mm256_setzero_ps(); MR];
        let mut hi = [_mm256_setzero_ps(); MR];
        let (mut a, mut b) = (a, b);
        // SAFETY: `a` advances through `[kc][MR]`, `b` through `[kc][16]`.
        unsafe {
            for _ in 0..kc {
                let b0 = _mm256_loadu_ps(b);
                let b1 = _mm256_loadu_ps(b.add(8));
                for i in 0..MR {
                    let ai = _mm256_broadcast_ss(&*a.add(i));
                    lo[i] = _mm256_fmadd_ps(ai, b0, lo[i]);
                    hi[i] = _mm256_fmadd_ps(ai, b1, hi[i]);
                }
                a = a.add(MR);
                b = b.add(16);
            }
            if rows == MR && cols == 16 {
                for i in 0..MR {
                    let p = c.add(i * ldc);
                    let (mut v0, mut v1) = (lo[i], hi[i]);
                    if !first {
                        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(p));
                        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(p.add(8)));
                    }
                    _mm256_storeu_ps(p, v0);
                    _mm256_storeu_ps(p.add(8), v1);
                }
            } else {
                let mut t = [[0f32; 16]; MR];
                for i in 0..MR {
                    _mm256_storeu_ps(t[i].as_mut_ptr(), lo[i]);
                    _mm256_storeu_ps(t[i].as_mut_ptr().add(8), hi[i]);
                }
                store_partial(&t, c, ldc, rows, cols, first);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, k: usize, n: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f64;
                for p in 0..k {
                    s += a[i * k + p] as f64 * b[p * n + j] as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    /// Every instruction set this CPU has, on shapes that cut every tile and block edge,
    /// against a float64 product; with a bias, an activation and a residual.
    #[test]
    fn every_isa_matches_a_naive_product() {
        let mut seed = 7u32;
        let mut rnd = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for &(m, k, n) in
            &[(1, 1, 1), (5, 3, 7), (50, 768, 96), (13, 300, 33), (131, 520, 1100), (2, 1, 40), (21, 37, 70)]
        {
            let a: Vec<f32> = (0..m * k).map(|_| rnd()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rnd()).collect();
            let bias: Vec<f32> = (0..n).map(|_| rnd()).collect();
            let res: Vec<f32> = (0..m * n).map(|_| rnd()).collect();
            let want = naive(m, k, n, &a, &b);
            for isa in Isa::supported() {
                let mut c = vec![f32::NAN; m * n];
                gemm_with(isa, m, k, n, &a, &b, &mut c, Epilogue::default());
                for (x, y) in c.iter().zip(&want) {
                    assert!((x - y).abs() < 1e-4 * (k as f32).sqrt(), "{isa:?} {m}x{k}x{n}: {x} vs {y}");
                }
                let epi = Epilogue { bias: Some(&bias), act: Some(Activation::Relu), residual: Some(&res) };
                gemm_with(isa, m, k, n, &a, &b, &mut c, epi);
                for i in 0..m * n {
                    let y = (want[i] + bias[i % n]).max(0.0) + res[i];
                    assert!((c[i] - y).abs() < 1e-4 * (k as f32).sqrt(), "{isa:?} epilogue {m}x{k}x{n}");
                }
                // `B` stored transposed (`[n, k]`, a weight as PyTorch holds it), the panels
                // packed by the kernel's in-register transposes.
                let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
                let g = Gemm { m, k, n, a: &a, lda: k, b: &bt, b_layout: BLayout::Cols { ld: k }, ldc: n };
                g.run(isa, &mut c, Epilogue::default(), true);
                for (x, y) in c.iter().zip(&want) {
                    assert!((x - y).abs() < 1e-4 * (k as f32).sqrt(), "{isa:?} Bᵀ {m}x{k}x{n}: {x} vs {y}");
                }
            }
        }
    }
}
