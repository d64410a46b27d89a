//! The CPU backend's inference kernels (`model::cpu`): the same embeddings as the generic tensor
//! ops on the same backend, and the reference's (HF transformers / open_clip) numbers on every
//! instruction set the machine can run — AVX-512, AVX2 + FMA and the SSE2 baseline on an
//! AVX-512 machine — forced through `model::cpu::isa::force`. A separate test binary because
//! both switches are process-wide; the tests take a lock so they never overlap.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Mutex;

use common::*;
use webclip::model::cpu::{Isa, isa};
use webclip::{Clip, DeviceChoice};

static SWITCHES: Mutex<()> = Mutex::new(());

#[test]
fn fused_cpu_kernels_equal_generic_ops() {
    let _lock = SWITCHES.lock().unwrap_or_else(|e| e.into_inner());
    let (device, _) = webclip::device::open(DeviceChoice::Cpu).unwrap();
    let img = webclip::preprocess::decode(&read("images/chelsea.png")).unwrap();
    for name in ["tiny-legacy", "tiny-gelu-f16", "tiny-openclip", "siglip-tiny"] {
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

/// Every instruction set this CPU has, against the reference's embeddings (lossless inputs:
/// JPEG decoders differ, see parity.rs) and against each other.
#[test]
fn every_instruction_set_matches_the_reference() {
    let _lock = SWITCHES.lock().unwrap_or_else(|e| e.into_inner());
    webclip::model::cpu::set_enabled(true);
    let (device, _) = webclip::device::open(DeviceChoice::Cpu).unwrap();
    let supported = Isa::supported();
    eprintln!("instruction sets on this machine: {:?}", supported.iter().map(|i| i.name()).collect::<Vec<_>>());
    #[cfg(target_arch = "x86_64")]
    assert!(supported.contains(&Isa::Avx2), "every x86-64 machine CI runs on has AVX2");
    for name in ["tiny-legacy", "tiny-openclip", "siglip-tiny"] {
        let expected = json(&format!("expected/{name}.json"));
        let files: Vec<String> = strings(&expected["images"]).into_iter().filter(|f| f.ends_with(".png")).collect();
        let imgs: Vec<_> =
            files.iter().map(|f| webclip::preprocess::decode(&read(&format!("images/{f}"))).unwrap()).collect();
        let all_files = strings(&expected["images"]);
        let want_images = matrix(&expected["image_embeds"]);
        let want_texts = matrix(&expected["text_embeds"]);
        let texts = strings(&expected["texts"]);
        let mut first: Option<Vec<Vec<f32>>> = None;
        for &level in &supported {
            assert_eq!(isa::force(Some(level)).unwrap(), level);
            assert_eq!(isa::active(), level);
            let clip = pollster::block_on(Clip::load(&model_files(name), &device)).unwrap();
            let got_images = pollster::block_on(clip.embed_images(&imgs, None)).unwrap();
            let got_texts = pollster::block_on(clip.embed_texts(&texts, None)).unwrap();
            for (f, got) in files.iter().zip(&got_images) {
                let at = all_files.iter().position(|x| x == f).unwrap();
                let c = cos(got, &want_images[at]);
                assert!(c >= 0.999, "{name} on {}: image {f}: cos {c}", level.name());
            }
            for (got, want) in got_texts.iter().zip(&want_texts) {
                let c = cos(got, want);
                assert!(c >= 0.9999, "{name} on {}: text cos {c}", level.name());
            }
            let outputs: Vec<Vec<f32>> = got_images.into_iter().chain(got_texts).collect();
            match &first {
                None => first = Some(outputs),
                Some(base) => {
                    for (a, b) in base.iter().zip(&outputs) {
                        let c = cos(a, b);
                        assert!(c > 0.999_999, "{name}: {} vs {}: cos {c}", supported[0].name(), level.name());
                    }
                }
            }
        }
    }
    isa::force(None).unwrap();
    // Asking for more than the CPU has is an error, not a crash.
    if isa::detected() < Isa::Avx512 {
        assert!(isa::force(Some(Isa::Avx512)).is_err());
    }
}
