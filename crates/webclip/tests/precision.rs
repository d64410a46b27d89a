//! f16 inference (`Clip::with_precision`): the f16 path against HF transformers' f32 numbers, on
//! the CPU backend (f16 asked for explicitly) and on wgpu (lavapipe in CI has `shaderFloat16`, so
//! `auto` picks f16 there, as a browser with WebGPU's `shader-f16` does), plus the policy itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use webclip::burn::tensor::{DType, Device};
use webclip::model::{Precision, PrecisionChoice};
use webclip::{Clip, DeviceChoice, Templates};

fn load(name: &str, device: &Device, choice: PrecisionChoice) -> Clip {
    pollster::block_on(Clip::load(&model_files(name), device)).unwrap().with_precision(choice).unwrap()
}

/// Embeddings and zero-shot probabilities of `clip` against the HF (f32) fixture of `name`,
/// lossless inputs only; returns (worst image cos, worst text cos, max |Δp|).
fn against_reference(name: &str, clip: &Clip) -> (f64, f64, f32) {
    let expected = json(&format!("expected/{name}.json"));
    let files: Vec<String> =
        strings(&expected["images"]).into_iter().filter(|f| f.ends_with(".png")).collect::<Vec<_>>();
    let all = strings(&expected["images"]);
    let imgs: Vec<_> =
        files.iter().map(|f| webclip::preprocess::decode(&read(&format!("images/{f}"))).unwrap()).collect();
    let want_img = matrix(&expected["image_embeds"]);
    let want_zs = matrix(&expected["zeroshot_default"]);
    let got = pollster::block_on(clip.embed_images(&imgs, None)).unwrap();
    let labels = strings(&expected["labels"]);
    let head = pollster::block_on(clip.classifier(&labels, &Templates::named("default").unwrap(), None)).unwrap();
    let (mut worst_img, mut worst_p) = (1.0f64, 0f32);
    for (f, g) in files.iter().zip(&got) {
        let i = all.iter().position(|a| a == f).unwrap();
        worst_img = worst_img.min(cos(g, &want_img[i]));
        for (a, b) in head.probabilities(g, clip.scoring()).iter().zip(&want_zs[i]) {
            worst_p = worst_p.max((a - b).abs());
        }
    }
    let texts = pollster::block_on(clip.embed_texts(&strings(&expected["texts"]), None)).unwrap();
    let worst_txt = texts.iter().zip(matrix(&expected["text_embeds"])).map(|(g, w)| cos(g, &w)).fold(1.0, f64::min);
    (worst_img, worst_txt, worst_p)
}

/// f16 error budget against f32 HF: f16 keeps ~3 significant digits per op, so the embeddings'
/// direction (cos) holds to ~1e-3 and probabilities to ~1e-2 — what a user of fp16 weights in
/// PyTorch sees too. (f32 parity is ≥ 0.999 / 0.9999 / 1e-3: tests/parity.rs.)
fn assert_f16_budget(what: &str, (img, txt, p): (f64, f64, f32)) {
    eprintln!("{what}: worst image cos {img:.6}, worst text cos {txt:.6}, max |Δp| {p:.2e}");
    assert!(img >= 0.998, "{what}: image cos {img}");
    assert!(txt >= 0.998, "{what}: text cos {txt}");
    assert!(p <= 2e-2, "{what}: probabilities differ by {p}");
}

fn param_dtypes(clip: &Clip) -> (DType, DType, DType) {
    let m = clip.model();
    let layer = &m.vision_model.encoder.layers[0];
    (layer.mlp.fc1.weight.val().dtype(), layer.layer_norm1.weight.val().dtype(), m.logit_scale.val().dtype())
}

#[test]
fn policy() {
    let (cpu, _) = webclip::device::open(DeviceChoice::Cpu).unwrap();
    // The CPU backend has no f16 arithmetic worth having: auto keeps f32 there.
    assert_eq!(Precision::resolve(PrecisionChoice::Auto, &cpu).unwrap(), Precision::F32);
    assert_eq!(Precision::resolve(PrecisionChoice::F32, &cpu).unwrap(), Precision::F32);
    assert_eq!(Precision::resolve(PrecisionChoice::F16, &cpu).unwrap(), Precision::F16);
    assert!("f64".parse::<PrecisionChoice>().unwrap_err().to_string().contains("auto, f32, f16"));
    assert_eq!("half".parse::<PrecisionChoice>().unwrap(), PrecisionChoice::F16);
}

#[test]
fn f16_on_the_cpu_backend_matches_reference() {
    let (cpu, _) = webclip::device::open(DeviceChoice::Cpu).unwrap();
    for name in ["tiny-legacy", "tiny-openclip", "tiny-gelu-f16"] {
        let clip = load(name, &cpu, PrecisionChoice::F16);
        assert_eq!(clip.precision(), Precision::F16);
        // Weights narrowed; LayerNorm and the temperature kept in f32 (model/precision.rs).
        assert_eq!(param_dtypes(&clip), (DType::F16, DType::F32, DType::F32), "{name}");
        assert_f16_budget(&format!("{name} cpu f16"), against_reference(name, &clip));
    }
}

#[test]
fn back_to_f32_and_into_training() {
    let (cpu, _) = webclip::device::open(DeviceChoice::Cpu).unwrap();
    let clip = load("tiny-legacy", &cpu, PrecisionChoice::F16);
    let f16_embs = pollster::block_on(clip.embed_texts(&["a photo of a cat"], None)).unwrap();
    // Back to f32: parameters widened (keeping the f16 rounding), the text cache cleared, the
    // same outputs within f16 noise but not the f16 ones.
    let clip = clip.with_precision(PrecisionChoice::F32).unwrap();
    assert_eq!(clip.precision(), Precision::F32);
    assert_eq!(param_dtypes(&clip).0, DType::F32);
    let f32_embs = pollster::block_on(clip.embed_texts(&["a photo of a cat"], None)).unwrap();
    assert!(cos(&f16_embs[0], &f32_embs[0]) >= 0.998);
    assert_ne!(f16_embs[0], f32_embs[0]);
    // into_parts of an f16 model gives an f32 model (what a trainer needs).
    let f16 = load("tiny-legacy", &cpu, PrecisionChoice::F16);
    let (model, ..) = f16.into_parts();
    assert_eq!(model.text_model.as_ref().unwrap().encoder.layers[0].self_attn.q_proj.weight.val().dtype(), DType::F32);
}

/// lavapipe implements Vulkan's shaderFloat16, so here `auto` takes f16 exactly as it does in a
/// browser whose adapter has WebGPU's `shader-f16`, and the f16 WGSL kernels run for real.
#[test]
fn f16_on_wgpu_matches_reference() {
    let (gpu, info) = webclip::device::open(DeviceChoice::Gpu)
        .expect("a wgpu adapter is needed (CI installs Mesa's lavapipe: apt-get install mesa-vulkan-drivers)");
    if !gpu.supports_dtype(DType::F16) {
        // Not silently skipped: the policy must then have chosen f32.
        assert_eq!(Precision::resolve(PrecisionChoice::Auto, &gpu).unwrap(), Precision::F32);
        assert!(Precision::resolve(PrecisionChoice::F16, &gpu).unwrap_err().to_string().contains("shader-f16"));
        panic!("{} has no f16 support; the f16 kernels were not exercised", info.name);
    }
    for name in ["tiny-legacy", "tiny-openclip"] {
        let clip = load(name, &gpu, PrecisionChoice::Auto);
        assert_eq!(clip.precision(), Precision::F16, "{name}: auto on a GPU with f16");
        assert_eq!(param_dtypes(&clip), (DType::F16, DType::F32, DType::F32), "{name}");
        assert_f16_budget(&format!("{name} wgpu f16 ({})", info.name), against_reference(name, &clip));
    }
}

/// A trained model (the bundled shapes CLIP, stored in f16) run in f16 against HF's f32
/// embeddings of the Pillow drawings, and its zero-shot answers against f32's.
#[test]
fn trained_shapes_model_in_f16() {
    let files = shapes_model_files();
    let (cpu, _) = webclip::device::open(DeviceChoice::Cpu).unwrap();
    let f32_clip = pollster::block_on(Clip::load(&files, &cpu)).unwrap();
    let f16_clip = pollster::block_on(Clip::load(&files, &cpu)).unwrap().with_precision(PrecisionChoice::F16).unwrap();
    let expected = json("expected/shapes_model.json");
    let imgs: Vec<_> = strings(&expected["files"])
        .iter()
        .map(|f| webclip::preprocess::decode(&read(&format!("shapes_pil/{f}"))).unwrap())
        .collect();
    let got = pollster::block_on(f16_clip.embed_images(&imgs, None)).unwrap();
    let worst = got.iter().zip(matrix(&expected["image_embeds"])).map(|(g, w)| cos(g, &w)).fold(1.0, f64::min);
    let texts = pollster::block_on(f16_clip.embed_texts(&strings(&expected["texts"]), None)).unwrap();
    let worst_t = texts.iter().zip(matrix(&expected["text_embeds"])).map(|(g, w)| cos(g, &w)).fold(1.0, f64::min);
    eprintln!("shapes f16 vs HF f32: worst image cos {worst:.6}, text cos {worst_t:.6}");
    assert!(worst >= 0.998 && worst_t >= 0.998, "image cos {worst}, text cos {worst_t}");
    // Same zero-shot answers over all 24 classes.
    let names = webclip::shapes::class_names();
    let t = Templates::named("default").unwrap();
    let top = |clip: &Clip| -> Vec<String> {
        let head = pollster::block_on(clip.classifier(&names, &t, None)).unwrap();
        pollster::block_on(clip.classify(&imgs, &head, Some(1), None))
            .unwrap()
            .into_iter()
            .map(|s| s[0].label.clone())
            .collect()
    };
    let (a, b) = (top(&f32_clip), top(&f16_clip));
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    eprintln!("shapes f16 vs f32: same top-1 on {same}/{} drawings", a.len());
    assert_eq!(same, a.len());
}
