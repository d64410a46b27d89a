//! CLIP in Burn, one file per tower plus the shared encoder. Every module's field path is the HF
//! checkpoint key of its parameters (see `crate::loader` for the OpenCLIP table).

mod build;
pub mod clip;
pub mod cpu;
pub mod encoder;
pub mod precision;
pub mod text;
pub mod vision;

pub use clip::{ClipModel, l2_normalize};
pub use precision::{Precision, PrecisionChoice};
