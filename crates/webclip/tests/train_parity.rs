//! Training parity with PyTorch (tests/fixtures/expected/training.json, from generate.py): the
//! loss, raw gradients and parameters after 3 AdamW steps of OpenCLIP's recipe, for three
//! training modes — on the CPU backend, and on wgpu checked against the CPU step by step.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;
use webclip::burn::tensor::Device;
use webclip::train::{TrainConfig, Trainable, Trainer};
use webclip::{Clip, DeviceChoice};

fn trainer(mode: &str, device: &Device, hp: &Value) -> Trainer {
    let clip = pollster::block_on(Clip::load(&model_files("tiny-legacy"), device)).unwrap();
    let mut cfg = TrainConfig {
        trainable: Trainable { mode: mode.parse().unwrap(), lock_image: false, lock_text: false },
        lr: hp["lr"].as_f64().unwrap(),
        warmup: hp["warmup"].as_u64().unwrap() as usize,
        total_steps: hp["steps"].as_u64().unwrap() as usize,
        grad_clip: Some(hp["grad_clip"].as_f64().unwrap()),
        ..TrainConfig::default()
    };
    cfg.adamw.weight_decay = hp["weight_decay"].as_f64().unwrap();
    cfg.adamw.beta1 = hp["beta1"].as_f64().unwrap();
    cfg.adamw.beta2 = hp["beta2"].as_f64().unwrap();
    cfg.adamw.eps = hp["eps"].as_f64().unwrap();
    Trainer::new(clip, cfg).unwrap()
}

fn batch(expected: &Value) -> (Vec<webclip::RgbImage>, Vec<String>) {
    let imgs = strings(&expected["files"])
        .iter()
        .map(|f| webclip::preprocess::decode(&read(&format!("images/{f}"))).unwrap())
        .collect();
    (imgs, strings(&expected["texts"]))
}

/// Parameters of interest, HF layout, rows picked out of the token embedding.
fn watched(tr: &Trainer, case: &Value) -> std::collections::BTreeMap<String, Vec<f32>> {
    let clip = pollster::block_on(tr.snapshot()).unwrap();
    let bytes = pollster::block_on(webclip::export::export_weights(&clip, webclip::export::WeightDtype::F32)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let get = |k: &str| -> Vec<f32> {
        st.tensor(k).unwrap().data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    };
    let mut out = std::collections::BTreeMap::new();
    for key in case["params"].as_object().unwrap().keys() {
        if let Some(base) = key.strip_suffix("@rows") {
            let rows: Vec<usize> =
                case["rows"][base].as_array().unwrap().iter().map(|r| r.as_u64().unwrap() as usize).collect();
            let full = get(base);
            let width = full.len() / 49408;
            out.insert(key.clone(), rows.iter().flat_map(|&r| full[r * width..(r + 1) * width].to_vec()).collect());
        } else {
            out.insert(key.clone(), get(key));
        }
    }
    out
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max)
}

#[test]
fn cpu_training_matches_pytorch() {
    let expected = json("expected/training.json");
    let (imgs, texts) = batch(&expected);
    let (device, _) = webclip::device::open(DeviceChoice::Cpu).unwrap();
    for (mode, case) in expected["cases"].as_object().unwrap() {
        let mut tr = trainer(mode, &device, &expected["hyper"]);
        // Loss and raw gradients at the start.
        let (loss, grads) = pollster::block_on(tr.gradients(&imgs, &texts)).unwrap();
        let want0 = case["losses"][0].as_f64().unwrap() as f32;
        assert!((loss - want0).abs() <= 1e-4 * want0, "{mode}: loss {loss} vs {want0}");
        let grads: std::collections::HashMap<String, Vec<f32>> = grads.into_iter().collect();
        for (key, want) in case["grads"].as_object().unwrap() {
            let want = f32s(want);
            let got = grads.get(key).unwrap_or_else(|| panic!("{mode}: no gradient for {key}"));
            let scale = want.iter().map(|x| x.abs()).fold(0f32, f32::max).max(1e-3);
            let err = max_abs(got, &want) / scale;
            assert!(err < 1e-3, "{mode}: gradient of {key}: max error {err} of its largest entry");
        }
        // Three steps: losses, learning rates, then the parameters.
        for step in 0..3 {
            let r = pollster::block_on(tr.step(&imgs, &texts)).unwrap();
            let want = case["losses"][step].as_f64().unwrap() as f32;
            assert!((r.loss - want).abs() <= 1e-4 * want, "{mode} step {step}: loss {} vs {want}", r.loss);
            assert!((r.lr - case["lrs"][step].as_f64().unwrap()).abs() < 1e-12);
        }
        let got = watched(&tr, case);
        let mut worst = 0f32;
        for (key, want) in case["params"].as_object().unwrap() {
            let d = max_abs(&got[key], &f32s(want));
            worst = worst.max(d);
            assert!(d <= 1e-4, "{mode}: `{key}` after 3 steps differs by {d}");
        }
        eprintln!("{mode}: losses match, worst parameter difference after 3 steps {worst:.2e}");
    }
}

/// A probe of burn 0.22 on WebGPU saw a stale first AdamW step with autotune on
/// (docs/architecture.md, "Autotuning"): every step here is compared with the CPU backend's.
#[test]
fn wgpu_training_matches_cpu_step_by_step() {
    let expected = json("expected/training.json");
    let (imgs, texts) = batch(&expected);
    let (gpu, info) = webclip::device::open(DeviceChoice::Gpu).expect("a wgpu adapter (lavapipe in CI)");
    let (cpu, _) = webclip::device::open(DeviceChoice::Cpu).unwrap();
    let case = &expected["cases"]["all"];
    let mut g = trainer("all", &gpu, &expected["hyper"]);
    let mut c = trainer("all", &cpu, &expected["hyper"]);
    for step in 0..3 {
        let rg = pollster::block_on(g.step(&imgs, &texts)).unwrap();
        let rc = pollster::block_on(c.step(&imgs, &texts)).unwrap();
        assert!(
            (rg.loss - rc.loss).abs() <= 1e-4 * rc.loss,
            "{} step {step}: wgpu {} vs cpu {}",
            info.name,
            rg.loss,
            rc.loss
        );
        assert!((rg.logit_scale - rc.logit_scale).abs() < 1e-5);
        let (wg, wc) = (watched(&g, case), watched(&c, case));
        for (k, v) in &wc {
            let d = max_abs(&wg[k], v);
            assert!(d <= 1e-4, "step {step}: `{k}` differs by {d} between wgpu and cpu");
        }
    }
}

/// The sigmoid loss (tests/fixtures/expected/siglip_training.json, from generate_siglip.py):
/// SigLIP in two modes and CLIP given the paper's bias, against PyTorch — loss, raw gradients,
/// the temperature and bias after each step, parameters after three steps.
#[test]
fn cpu_sigmoid_training_matches_pytorch() {
    use webclip::train::Loss;
    let expected = json("expected/siglip_training.json");
    let (imgs, texts) = batch(&expected);
    let (device, _) = webclip::device::open(DeviceChoice::Cpu).unwrap();
    let hp = &expected["hyper"];
    for (name, case) in expected["cases"].as_object().unwrap() {
        let (kind, mode) = name.split_once(':').unwrap();
        let model = if kind == "siglip" { "siglip-tiny" } else { "tiny-legacy" };
        let clip = pollster::block_on(Clip::load(&model_files(model), &device)).unwrap();
        let mut cfg = TrainConfig {
            trainable: Trainable { mode: mode.parse().unwrap(), lock_image: false, lock_text: false },
            lr: hp["lr"].as_f64().unwrap(),
            warmup: hp["warmup"].as_u64().unwrap() as usize,
            total_steps: hp["steps"].as_u64().unwrap() as usize,
            grad_clip: Some(hp["grad_clip"].as_f64().unwrap()),
            // SigLIP's own loss is the default; CLIP is asked for it.
            loss: (kind != "siglip").then_some(Loss::Sigmoid),
            ..TrainConfig::default()
        };
        cfg.adamw.weight_decay = hp["weight_decay"].as_f64().unwrap();
        cfg.adamw.beta2 = hp["beta2"].as_f64().unwrap();
        let mut tr = Trainer::new(clip, cfg).unwrap();
        assert_eq!(tr.loss_kind(), Loss::Sigmoid);
        let (loss, grads) = pollster::block_on(tr.gradients(&imgs, &texts)).unwrap();
        let want0 = case["losses"][0].as_f64().unwrap() as f32;
        assert!((loss - want0).abs() <= 1e-4 * want0, "{name}: loss {loss} vs {want0}");
        let grads: std::collections::HashMap<String, Vec<f32>> = grads.into_iter().collect();
        for (key, want) in case["grads"].as_object().unwrap() {
            let want = f32s(want);
            let got = grads.get(key).unwrap_or_else(|| panic!("{name}: no gradient for {key}"));
            let scale = want.iter().map(|x| x.abs()).fold(0f32, f32::max).max(1e-3);
            let err = max_abs(got, &want) / scale;
            assert!(err < 1e-3, "{name}: gradient of {key}: max error {err} of its largest entry");
        }
        for step in 0..3 {
            let r = pollster::block_on(tr.step(&imgs, &texts)).unwrap();
            let want = case["losses"][step].as_f64().unwrap() as f32;
            assert!((r.loss - want).abs() <= 1e-4 * want, "{name} step {step}: loss {} vs {want}", r.loss);
            let (bias, scale) =
                (case["logit_bias"][step].as_f64().unwrap(), case["logit_scale"][step].as_f64().unwrap());
            assert!(
                (r.logit_bias.unwrap() as f64 - bias).abs() < 1e-5,
                "{name} step {step}: bias {:?} vs {bias}",
                r.logit_bias
            );
            assert!(
                (r.logit_scale as f64 - scale).abs() < 1e-5,
                "{name} step {step}: scale {} vs {scale}",
                r.logit_scale
            );
        }
        let got = watched(&tr, case);
        let mut worst = 0f32;
        for (key, want) in case["params"].as_object().unwrap() {
            let d = max_abs(&got[key], &f32s(want));
            worst = worst.max(d);
            assert!(d <= 1e-4, "{name}: `{key}` after 3 steps differs by {d}");
        }
        eprintln!("{name}: losses match, worst parameter difference after 3 steps {worst:.2e}");
    }
}
