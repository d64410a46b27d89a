//! CLIP in Burn, one file per tower plus the shared encoder. Every module's field path is the HF
//! checkpoint key of its parameters (see `crate::loader` for the OpenCLIP table).
//!
//! - `build`: what the model needs from a weight source ([`WeightSource`]) and the builder
//!   that makes modules from one, recording each parameter's [`Layout`];
//! - `encoder`: the pre-LN transformer block both towers share;
//! - `text`, `vision`: the towers; `head`: SigLIP's attention-pooling head; `clip`: both
//!   towers plus projections, temperature and (SigLIP) bias;
//! - `cpu`: fused host kernels for inference on the CPU backend;
//! - `precision`: f16 inference;
//! - `params`: walking the parameters by HF key (the one module-path visitor).

mod build;
pub mod clip;
pub mod cpu;
pub mod encoder;
pub mod head;
pub mod params;
pub mod precision;
pub mod text;
pub mod vision;

pub(crate) use build::transposed_by;
pub use build::{Init, Layout, ParamLayouts, WeightSource, transpose};
pub use clip::{ClipModel, Towers, l2_normalize};
pub use precision::{Precision, PrecisionChoice};
