//! Training mechanics on the CPU backend: export round trip, what each mode updates, feature-
//! cached accumulation equal to the full batch, resume, NaN handling, WiSE-FT.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use webclip::export::{WeightDtype, export_hf};
use webclip::train::{MicroBatches, TrainConfig, TrainMode, Trainable, Trainer, param_infos};
use webclip::{Clip, DeviceChoice, ModelFiles, RgbImage};

fn cpu() -> webclip::burn::tensor::Device {
    webclip::device::open(DeviceChoice::Cpu).unwrap().0
}

fn load(name: &str) -> Clip {
    pollster::block_on(Clip::load(&model_files(name), &cpu())).unwrap()
}

fn batch() -> (Vec<RgbImage>, Vec<String>) {
    let files = ["chelsea.png", "coffee.png", "astronaut.png", "horse.png"];
    let texts = ["a photo of a cat", "a cup of coffee", "an astronaut in a suit", "a horse"];
    (
        files.iter().map(|f| webclip::preprocess::decode(&read(&format!("images/{f}"))).unwrap()).collect(),
        texts.iter().map(|s| s.to_string()).collect(),
    )
}

async fn weights(clip: &Clip) -> std::collections::BTreeMap<String, Vec<f32>> {
    let bytes = webclip::export::export_weights(clip, WeightDtype::F32).await.unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(k, v)| (k, v.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()))
        .collect()
}

/// A SigLIP export is the checkpoint it came from, tensor for tensor (so `SiglipModel` loads it
/// as it loaded the fixture), plus the pad token its processor needs; a CLIP model trained with
/// the sigmoid loss exports as CLIP (no `logit_bias`, which softmax scores do not use).
#[test]
fn siglip_export_is_the_checkpoint() {
    let clip = load("siglip-tiny");
    let folder = pollster::block_on(export_hf(&clip, WeightDtype::F32)).unwrap();
    let orig = model_files("siglip-tiny").weights;
    let (a, b) = (
        safetensors::SafeTensors::deserialize(&orig).unwrap(),
        safetensors::SafeTensors::deserialize(&folder.weights).unwrap(),
    );
    let mut keys: Vec<String> = a.names().into_iter().map(String::from).collect();
    keys.sort();
    let mut ours: Vec<String> = b.names().into_iter().map(String::from).collect();
    ours.sort();
    assert_eq!(keys, ours);
    for k in &keys {
        let (x, y) = (a.tensor(k).unwrap(), b.tensor(k).unwrap());
        assert_eq!(x.shape(), y.shape(), "{k}");
        assert_eq!(x.data(), y.data(), "{k}: f32 values are exact");
    }
    let tc: serde_json::Value = serde_json::from_slice(folder.tokenizer_config.as_ref().unwrap()).unwrap();
    assert_eq!(tc["pad_token"], "<pad>");
    let written: serde_json::Value = serde_json::from_slice(&folder.config).unwrap();
    assert_eq!(written["model_type"], "siglip");
    let pre: serde_json::Value = serde_json::from_slice(&folder.preprocessor).unwrap();
    assert_eq!(pre["image_processor_type"], "SiglipImageProcessor");
    let files = ModelFiles {
        config: Some(folder.config),
        open_clip_config: None,
        weights: folder.weights,
        tokenizer: folder.tokenizer,
        preprocessor: Some(folder.preprocessor),
        tokenizer_config: folder.tokenizer_config,
    };
    let again = pollster::block_on(Clip::load(&files, &cpu())).unwrap();
    assert_eq!(again.config(), clip.config());
    assert_eq!(again.preprocess_config(), clip.preprocess_config());
    assert_eq!(again.scoring(), clip.scoring());
    let texts = ["고양이 사진".to_string(), "a horse".to_string()];
    assert_eq!(
        pollster::block_on(again.embed_texts(&texts, None)).unwrap(),
        pollster::block_on(clip.embed_texts(&texts, None)).unwrap()
    );

    let mut cfg = config(TrainMode::Projections, false, false);
    cfg.loss = Some(webclip::train::Loss::Sigmoid);
    let mut tr = Trainer::new(load("tiny-legacy"), cfg).unwrap();
    let (imgs, texts) = batch();
    let r = pollster::block_on(tr.step(&imgs, &texts)).unwrap();
    assert!(r.logit_bias.is_some_and(|b| b != -10.0), "the bias trains: {:?}", r.logit_bias);
    let snap = pollster::block_on(tr.snapshot()).unwrap();
    assert_eq!(snap.scoring().name(), "softmax");
    let folder = pollster::block_on(export_hf(&snap, WeightDtype::F32)).unwrap();
    let keys = webclip::loader::inspect(&folder.weights).unwrap();
    assert!(!keys.contains_key("logit_bias") && keys["logit_scale"].1.is_empty());
    assert!(folder.tokenizer_config.is_none());
}

#[test]
fn export_round_trips() {
    let clip = load("tiny-gelu-f16");
    let folder = pollster::block_on(export_hf(&clip, WeightDtype::F32)).unwrap();
    // Same keys, shapes as the HF checkpoint it came from.
    let orig = webclip::loader::inspect(&model_files("tiny-gelu-f16").weights).unwrap();
    let ours = webclip::loader::inspect(&folder.weights).unwrap();
    assert_eq!(orig.keys().collect::<Vec<_>>(), ours.keys().collect::<Vec<_>>());
    for (k, (_, shape)) in &orig {
        assert_eq!(&ours[k].1, shape, "{k}");
    }
    let files = ModelFiles {
        config: Some(folder.config.clone()),
        open_clip_config: None,
        weights: folder.weights.clone(),
        tokenizer: folder.tokenizer.clone(),
        preprocessor: Some(folder.preprocessor.clone()),
        tokenizer_config: None,
    };
    let again = pollster::block_on(Clip::load(&files, &cpu())).unwrap();
    assert_eq!(again.config(), clip.config());
    assert_eq!(again.preprocess_config(), clip.preprocess_config());
    let (imgs, texts) = batch();
    let a = pollster::block_on(clip.embed_images(&imgs, None)).unwrap();
    let b = pollster::block_on(again.embed_images(&imgs, None)).unwrap();
    assert_eq!(a, b, "f32 export is exact");
    let ta = pollster::block_on(clip.embed_texts(&texts, None)).unwrap();
    let tb = pollster::block_on(again.embed_texts(&texts, None)).unwrap();
    assert_eq!(ta, tb);
    // OpenCLIP in, HF out: the same model under HF names.
    let oc = load("tiny-openclip");
    let folder = pollster::block_on(export_hf(&oc, WeightDtype::F16)).unwrap();
    let files = ModelFiles {
        config: Some(folder.config),
        open_clip_config: None,
        weights: folder.weights,
        tokenizer: folder.tokenizer,
        preprocessor: Some(folder.preprocessor),
        tokenizer_config: None,
    };
    let hf = pollster::block_on(Clip::load(&files, &cpu())).unwrap();
    let x = pollster::block_on(oc.embed_texts(&texts, None)).unwrap();
    let y = pollster::block_on(hf.embed_texts(&texts, None)).unwrap();
    for (x, y) in x.iter().zip(&y) {
        assert!(cos(x, y) > 0.9999, "{}", cos(x, y));
    }
}

fn config(mode: TrainMode, lock_image: bool, lock_text: bool) -> TrainConfig {
    TrainConfig {
        trainable: Trainable { mode, lock_image, lock_text },
        lr: 1e-3,
        warmup: 1,
        total_steps: 10,
        ..TrainConfig::default()
    }
}

#[test]
fn modes_update_only_their_parameters() {
    let (imgs, texts) = batch();
    for (mode, li, lt) in [
        (TrainMode::Projections, false, false),
        (TrainMode::Last(1), false, false),
        (TrainMode::All, true, false),
        (TrainMode::All, false, true),
    ] {
        let clip = load("tiny-legacy");
        let before = pollster::block_on(weights(&clip));
        let mut tr = Trainer::new(clip, config(mode, li, lt)).unwrap();
        let trainable: std::collections::HashSet<String> =
            tr.params().into_iter().filter(|p| p.trainable).map(|p| p.key).collect();
        let r = pollster::block_on(tr.step(&imgs, &texts)).unwrap();
        assert!(r.loss.is_finite() && r.loss > 0.0);
        let after = pollster::block_on(weights(&pollster::block_on(tr.snapshot()).unwrap()));
        for (k, v) in &before {
            let changed = v != &after[k];
            assert_eq!(
                changed,
                trainable.contains(k),
                "{mode:?} lock_image={li} lock_text={lt}: `{k}` changed={changed}"
            );
        }
    }
}

#[test]
fn loss_falls_and_accumulation_is_exact() {
    let (imgs, texts) = batch();
    let mut full = Trainer::new(load("tiny-legacy"), config(TrainMode::All, false, false)).unwrap();
    let mut acc = Trainer::new(
        load("tiny-legacy"),
        TrainConfig { micro: MicroBatches::Count(2), ..config(TrainMode::All, false, false) },
    )
    .unwrap();
    let mut losses = Vec::new();
    for _ in 0..3 {
        let a = pollster::block_on(full.step(&imgs, &texts)).unwrap();
        let b = pollster::block_on(acc.step(&imgs, &texts)).unwrap();
        // The cached pass runs without autodiff (the CPU fused kernels): float noise only.
        assert!((a.loss - b.loss).abs() < 1e-4 * a.loss, "{} vs {}", a.loss, b.loss);
        losses.push(a.loss);
    }
    assert!(losses[2] < losses[0], "loss should fall: {losses:?}");
    let wa = pollster::block_on(weights(&pollster::block_on(full.snapshot()).unwrap()));
    let wb = pollster::block_on(weights(&pollster::block_on(acc.snapshot()).unwrap()));
    for (k, a) in &wa {
        let d = a.iter().zip(&wb[k]).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        // Adam divides by sqrt(v): float noise in tiny gradients shows up as ~1e-5 at lr 1e-3.
        assert!(d < 1e-4, "`{k}` differs by {d} between accumulated and full-batch steps");
    }
    let ev = pollster::block_on(full.evaluate(&imgs, &texts)).unwrap();
    assert_eq!(ev.similarity.len(), 4);
    assert!(ev.loss < losses[0]);
}

#[test]
fn resume_continues_exactly() {
    let (imgs, texts) = batch();
    let mut straight = Trainer::new(load("tiny-legacy"), config(TrainMode::All, false, false)).unwrap();
    for _ in 0..4 {
        pollster::block_on(straight.step(&imgs, &texts)).unwrap();
    }
    let mut first = Trainer::new(load("tiny-legacy"), config(TrainMode::All, false, false)).unwrap();
    for _ in 0..2 {
        pollster::block_on(first.step(&imgs, &texts)).unwrap();
    }
    let state = pollster::block_on(first.state()).unwrap();
    let folder =
        pollster::block_on(export_hf(&pollster::block_on(first.snapshot()).unwrap(), WeightDtype::F32)).unwrap();
    let files = ModelFiles {
        config: Some(folder.config),
        open_clip_config: None,
        weights: folder.weights,
        tokenizer: folder.tokenizer,
        preprocessor: Some(folder.preprocessor),
        tokenizer_config: None,
    };
    let mut resumed =
        Trainer::new(pollster::block_on(Clip::load(&files, &cpu())).unwrap(), config(TrainMode::All, false, false))
            .unwrap();
    resumed.restore(state).unwrap();
    assert_eq!(resumed.step_count(), 2);
    for _ in 0..2 {
        pollster::block_on(resumed.step(&imgs, &texts)).unwrap();
    }
    let a = pollster::block_on(weights(&pollster::block_on(straight.snapshot()).unwrap()));
    let b = pollster::block_on(weights(&pollster::block_on(resumed.snapshot()).unwrap()));
    for (k, x) in &a {
        let d = x.iter().zip(&b[k]).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
        assert!(d < 1e-6, "`{k}` differs by {d} after resume");
    }
}

#[test]
fn non_finite_loss_stops_and_keeps_weights() {
    let (imgs, texts) = batch();
    let mut tr = Trainer::new(
        load("tiny-legacy"),
        TrainConfig { lr: 1e12, grad_clip: None, warmup: 0, ..config(TrainMode::All, false, false) },
    )
    .unwrap();
    let mut last_good = None;
    let mut stopped = None;
    for _ in 0..20 {
        match pollster::block_on(tr.step(&imgs, &texts)) {
            Ok(_) => last_good = Some(pollster::block_on(weights(&pollster::block_on(tr.snapshot()).unwrap()))),
            Err(e) => {
                stopped = Some(e.to_string());
                break;
            }
        }
    }
    let msg = stopped.expect("lr 1e12 must blow the loss up within 20 steps");
    assert!(msg.contains("non-finite") && msg.contains("training loss at step"), "{msg}");
    // The weights are still the ones after the last good step.
    let now = pollster::block_on(weights(&pollster::block_on(tr.snapshot()).unwrap()));
    if let Some(good) = last_good {
        assert_eq!(now, good);
    }
}

#[test]
fn wise_ft_interpolates() {
    let (imgs, texts) = batch();
    let base = load("tiny-legacy");
    let mut tr = Trainer::new(load("tiny-legacy"), config(TrainMode::All, false, false)).unwrap();
    pollster::block_on(tr.step(&imgs, &texts)).unwrap();
    let ft = pollster::block_on(tr.snapshot()).unwrap();
    let wb = pollster::block_on(weights(&base));
    let wf = pollster::block_on(weights(&ft));
    for alpha in [0.0, 0.5, 1.0] {
        let (model, config, tok, pre, dev) = pollster::block_on(tr.snapshot()).unwrap().into_parts();
        let mixed = webclip::train::wise_ft(base.model(), model, alpha).unwrap();
        let clip = pollster::block_on(Clip::from_parts(mixed, config, tok, pre, &dev)).unwrap();
        let wm = pollster::block_on(weights(&clip));
        for (k, m) in &wm {
            for ((x, b), f) in m.iter().zip(&wb[k]).zip(&wf[k]) {
                let want = (1.0 - alpha as f32) * b + alpha as f32 * f;
                assert!((x - want).abs() < 1e-6, "alpha {alpha} `{k}`");
            }
        }
    }
    assert!(webclip::train::wise_ft(base.model(), ft.into_parts().0, 1.5).is_err());
    assert_eq!(param_infos(base.model()).len(), wb.len());
}

/// q8: int8 matrices with per-row scales, the rest f16 — a quarter-size file that loads
/// everywhere a folder loads, close to the f32 model; and broken q8 files say what is wrong.
#[test]
fn q8_export_loads_close_to_f32() {
    for name in ["tiny-legacy", "siglip-tiny"] {
        let clip = load(name);
        let f32_folder = pollster::block_on(export_hf(&clip, WeightDtype::F32)).unwrap();
        let q8 = pollster::block_on(export_hf(&clip, WeightDtype::Q8)).unwrap();
        let ratio = q8.weights.len() as f64 / f32_folder.weights.len() as f64;
        let st = safetensors::SafeTensors::deserialize(&q8.weights).unwrap();
        let fc1 = st.tensor("text_model.encoder.layers.0.mlp.fc1.weight").unwrap();
        assert_eq!(fc1.dtype(), safetensors::Dtype::I8);
        assert_eq!(st.tensor("text_model.encoder.layers.0.mlp.fc1.weight_scale").unwrap().shape(), [fc1.shape()[0], 1]);
        assert_eq!(st.tensor("text_model.embeddings.token_embedding.weight").unwrap().dtype(), safetensors::Dtype::I8);
        assert_eq!(st.tensor("text_model.final_layer_norm.weight").unwrap().dtype(), safetensors::Dtype::F16);
        let config: serde_json::Value = serde_json::from_slice(&q8.config).unwrap();
        assert_eq!(config["quantization_config"]["quant_method"], "compressed-tensors");
        let files = ModelFiles {
            config: Some(q8.config.clone()),
            open_clip_config: None,
            weights: q8.weights.clone(),
            tokenizer: q8.tokenizer.clone(),
            preprocessor: Some(q8.preprocessor.clone()),
            tokenizer_config: q8.tokenizer_config.clone(),
        };
        let back = pollster::block_on(Clip::load(&files, &cpu())).unwrap();
        let (imgs, texts) = batch();
        let (a, b) = (
            pollster::block_on(clip.embed_images(&imgs, None)).unwrap(),
            pollster::block_on(back.embed_images(&imgs, None)).unwrap(),
        );
        let worst_img = a.iter().zip(&b).map(|(x, y)| cos(x, y)).fold(1.0, f64::min);
        let (a, b) = (
            pollster::block_on(clip.embed_texts(&texts, None)).unwrap(),
            pollster::block_on(back.embed_texts(&texts, None)).unwrap(),
        );
        let worst_txt = a.iter().zip(&b).map(|(x, y)| cos(x, y)).fold(1.0, f64::min);
        eprintln!("{name}: q8 file {ratio:.3}× f32, worst image cos {worst_img:.6}, text cos {worst_txt:.6}");
        assert!(worst_img >= 0.999 && worst_txt >= 0.999, "{name}: {worst_img} {worst_txt}");
        // Tiny models carry proportionally more f16 tensors (norms, biases) than ViT-B/32.
        assert!(ratio < 0.4, "{name}: {ratio}");
    }

    // A q8 file with a scale missing, and one with scales of the wrong length.
    let q8 = pollster::block_on(export_hf(&load("tiny-legacy"), WeightDtype::Q8)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&q8.weights).unwrap();
    let rebuild = |skip: &str, bad_len: bool| -> Vec<u8> {
        let owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = st
            .tensors()
            .into_iter()
            .filter(|(k, _)| k != skip || bad_len)
            .map(|(k, v)| {
                if k == skip {
                    (k, v.dtype(), vec![3, 1], v.data()[..12].to_vec())
                } else {
                    (k, v.dtype(), v.shape().to_vec(), v.data().to_vec())
                }
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView)> = owned
            .iter()
            .map(|(k, d, s, b)| (k.clone(), safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize(views, None).unwrap()
    };
    let key = "vision_model.encoder.layers.1.mlp.fc1.weight_scale";
    for (bad_len, want) in [(false, "is int8 but the file has no"), (true, "has 3 values for the")] {
        let files = ModelFiles { weights: rebuild(key, bad_len), ..model_files("tiny-legacy") };
        let e = pollster::block_on(Clip::load(&files, &cpu())).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains("fc1.weight"), "{e}");
    }
}
