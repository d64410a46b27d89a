//! The CPU backend's fused inference kernels (`model::cpu`) against the generic tensor ops on the
//! same backend: the same embeddings, for both activations in the fixtures. A separate test
//! binary because the switch is process-wide.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use webclip::{Clip, DeviceChoice};

#[test]
fn fused_cpu_kernels_equal_generic_ops() {
    let (device, _) = webclip::device::open(DeviceChoice::Cpu).unwrap();
    let img = webclip::preprocess::decode(&read("images/chelsea.png")).unwrap();
    for name in ["tiny-legacy", "tiny-gelu-f16", "tiny-openclip"] {
        let run = |fused: bool| {
            webclip::model::cpu::set_enabled(fused);
            let clip = pollster::block_on(Clip::load(&model_files(name), &device)).unwrap();
            let i = pollster::block_on(clip.embed_images(std::slice::from_ref(&img), None)).unwrap();
            let t =
                pollster::block_on(clip.embed_texts(&["a photo of a cat", "a much longer sentence about a dog"], None))
                    .unwrap();
            (i, t)
        };
        let (gi, gt) = run(false);
        let (fi, ft) = run(true);
        for (a, b) in gi.iter().chain(&gt).zip(fi.iter().chain(&ft)) {
            let c = cos(a, b);
            assert!(c > 0.999_999, "{name}: fused vs generic cos {c}");
        }
    }
}
