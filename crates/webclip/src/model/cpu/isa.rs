//! Which instruction set the CPU kernels run, chosen at run time, and the switch that forces a
//! lower one.
//!
//! Why a switch: the kernels have one path per instruction set (AVX-512, AVX2 + FMA, and the
//! baseline every CPU of the target has: SSE2 on x86-64, NEON on aarch64, SIMD128 in the
//! browser), and a machine only ever runs the best one it has. Forcing a lower one lets a test
//! check every x86 path against the reference numbers on whatever machine it runs on, and lets
//! `webclip bench` report AVX2 figures on an AVX-512 machine.
//!
//! The switch: `WEBCLIP_CPU_ISA=avx512|avx2|baseline` in the environment (read once, at the first
//! kernel call), [`force`] in code, `--cpu-isa` in the CLI. It can only lower: asking for an
//! instruction set the CPU lacks is an error, never a crash.
//!
//! What it covers: everything webclip's own kernels do at inference (every linear layer, the
//! attention, LayerNorm, the patch embedding). It does not reach the matmuls Burn's CPU backend
//! runs itself (training, and inference with the kernels switched off): those go through the
//! `gemm` crate, which picks AVX-512 or AVX2 from the CPU and offers no run-time override.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::{Error, Result};

/// An instruction-set level of the CPU kernels, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// What every CPU of the target has: SSE2 (x86-64), NEON (aarch64), SIMD128 (wasm32, the
    /// build enables it), scalar elsewhere. Portable code the compiler vectorises.
    Baseline,
    /// AVX2 + FMA (x86-64: Haswell and later, Zen): 8-wide f32, fused multiply-add.
    Avx2,
    /// AVX-512F (x86-64 servers, Zen 4+, some Intel desktops): 16-wide f32.
    Avx512,
}

impl Isa {
    /// The name `WEBCLIP_CPU_ISA` and `--cpu-isa` take, and reports print.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Baseline => BASELINE_NAME,
        }
    }

    /// Parses a name: `avx512`, `avx2`, or `baseline` (also its target's name: `sse2`, `neon`,
    /// `simd128`, `scalar`).
    pub fn parse(s: &str) -> Result<Isa> {
        match s.trim().to_ascii_lowercase().as_str() {
            "avx512" | "avx512f" | "avx-512" => Ok(Isa::Avx512),
            "avx2" => Ok(Isa::Avx2),
            "baseline" | "sse2" | "neon" | "simd128" | "scalar" => Ok(Isa::Baseline),
            other => Err(Error::InvalidInput(format!(
                "unknown CPU instruction set {other:?}: expected avx512, avx2 or baseline"
            ))),
        }
    }

    /// The levels this CPU can run, lowest first.
    pub fn supported() -> Vec<Isa> {
        [Isa::Baseline, Isa::Avx2, Isa::Avx512].into_iter().filter(|&i| i <= detected()).collect()
    }
}

#[cfg(target_arch = "x86_64")]
const BASELINE_NAME: &str = "sse2";
#[cfg(target_arch = "aarch64")]
const BASELINE_NAME: &str = "neon";
#[cfg(target_arch = "wasm32")]
const BASELINE_NAME: &str = "simd128";
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "wasm32")))]
const BASELINE_NAME: &str = "scalar";

/// The best level this CPU has.
pub fn detected() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Isa::Avx2;
        }
    }
    Isa::Baseline
}

/// 0: not decided yet; otherwise `1 + Isa as u8`.
static ACTIVE: AtomicU8 = AtomicU8::new(0);

fn encode(isa: Isa) -> u8 {
    1 + isa as u8
}

fn decode(v: u8) -> Isa {
    match v {
        3 => Isa::Avx512,
        2 => Isa::Avx2,
        _ => Isa::Baseline,
    }
}

/// The level the kernels run now: the forced one, else `WEBCLIP_CPU_ISA`, else [`detected`]. An
/// unusable `WEBCLIP_CPU_ISA` (unknown, or above the CPU) is reported once on stderr and ignored:
/// the kernels are called deep inside a forward pass, where there is no error to return.
pub fn active() -> Isa {
    match ACTIVE.load(Ordering::Relaxed) {
        0 => {
            let isa = from_env().unwrap_or_else(detected);
            ACTIVE.store(encode(isa), Ordering::Relaxed);
            isa
        }
        v => decode(v),
    }
}

fn from_env() -> Option<Isa> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let value = std::env::var("WEBCLIP_CPU_ISA").ok()?;
        match Isa::parse(&value).and_then(check) {
            Ok(isa) => return Some(isa),
            Err(e) => eprintln!("webclip: WEBCLIP_CPU_ISA ignored: {e}"),
        }
    }
    None
}

fn check(isa: Isa) -> Result<Isa> {
    let best = detected();
    if isa > best {
        return Err(Error::InvalidInput(format!(
            "this CPU cannot run {} kernels (its best is {})",
            isa.name(),
            best.name()
        )));
    }
    Ok(isa)
}

/// Forces the kernels to `isa` (`None`: back to the best the CPU has), process-wide. Errors when
/// the CPU lacks it.
pub fn force(isa: Option<Isa>) -> Result<Isa> {
    let isa = match isa {
        Some(i) => check(i)?,
        None => detected(),
    };
    ACTIVE.store(encode(isa), Ordering::Relaxed);
    Ok(isa)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_above_the_cpu_is_an_error() {
        for isa in [Isa::Baseline, Isa::Avx2, Isa::Avx512] {
            assert_eq!(Isa::parse(isa.name()).unwrap(), isa);
        }
        assert!(Isa::parse("avx9000").is_err());
        assert_eq!(Isa::supported().first(), Some(&Isa::Baseline));
        if detected() < Isa::Avx512 {
            assert!(check(Isa::Avx512).is_err());
        }
    }
}
