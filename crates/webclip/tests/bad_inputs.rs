//! docs/bad-inputs.md, model and text parts: each case gets an error that names the
//! problem (or, where the note says so, works).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use webclip::model::PrecisionChoice;
use webclip::{Clip, DeviceChoice, ModelFiles, Templates};

fn cpu() -> webclip::burn::tensor::Device {
    webclip::device::open(DeviceChoice::Cpu).unwrap().0
}

fn load_err(files: &ModelFiles) -> String {
    match pollster::block_on(Clip::load(files, &cpu())) {
        Ok(_) => panic!("loaded a bad model"),
        Err(e) => e.to_string(),
    }
}

/// Rewrites the safetensors of `files` through `edit(name, dtype, shape, data)`.
fn rewrite(files: &ModelFiles, edit: impl Fn(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>)) -> Vec<u8> {
    let st = SafeTensors::deserialize(&files.weights).unwrap();
    let mut list: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> =
        st.tensors().into_iter().map(|(k, v)| (k, v.dtype(), v.shape().to_vec(), v.data().to_vec())).collect();
    edit(&mut list);
    let views: Vec<(String, TensorView)> =
        list.iter().map(|(k, d, s, b)| (k.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn model_files_errors() {
    let good = model_files("tiny-legacy");

    let mut f = good.clone();
    f.config = None;
    assert!(load_err(&f).contains("missing config.json"));

    let mut f = good.clone();
    f.config = Some(b"{ not json".to_vec());
    assert!(load_err(&f).starts_with("config.json: not valid JSON"), "{}", load_err(&f));

    // A config that disagrees with the weights: names the tensor and both shapes.
    let mut f = good.clone();
    f.config = Some(
        br#"{"projection_dim": 32, "text_config": {"hidden_size": 48, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "eos_token_id": 2}, "vision_config": {"hidden_size": 64, "intermediate_size": 96,
        "num_hidden_layers": 2, "num_attention_heads": 4}}"#
            .to_vec(),
    );
    let e = load_err(&f);
    assert!(
        e.contains("wrong shapes")
            && e.contains("text_model.embeddings.token_embedding.weight")
            && e.contains("[49408, 48]"),
        "{e}"
    );

    // One layer more in the config than in the weights: the missing keys are named.
    let mut f = good.clone();
    f.config = Some(
        br#"{"projection_dim": 32, "text_config": {"hidden_size": 32, "intermediate_size": 128, "num_hidden_layers": 3,
        "num_attention_heads": 4, "eos_token_id": 2}, "vision_config": {"hidden_size": 64, "intermediate_size": 96,
        "num_hidden_layers": 2, "num_attention_heads": 4}}"#
            .to_vec(),
    );
    let e = load_err(&f);
    assert!(e.contains("missing keys: text_model.encoder.layers.2."), "{e}");

    let mut f = good.clone();
    f.weights = rewrite(&good, |l| l.retain(|t| t.0 != "visual_projection.weight"));
    let e = load_err(&f);
    assert!(e.contains("missing keys: visual_projection.weight"), "{e}");

    let mut f = good.clone();
    f.weights = rewrite(&good, |l| l.push(("vision_model.extra_head.weight".into(), Dtype::F32, vec![2], vec![0; 8])));
    let e = load_err(&f);
    assert!(e.contains("unexpected keys: vision_model.extra_head.weight"), "{e}");

    let mut f = good.clone();
    f.weights = rewrite(&good, |l| {
        let t = l.iter_mut().find(|t| t.0 == "logit_scale").unwrap();
        *t = ("logit_scale".into(), Dtype::I64, vec![], vec![0; 8]);
    });
    let e = load_err(&f);
    assert!(e.contains("`logit_scale` has dtype I64; supported are F32, F16, BF16 and I8"), "{e}");

    let mut f = good.clone();
    f.weights = rewrite(&good, |l| {
        let t = l.iter_mut().find(|t| t.0 == "visual_projection.weight").unwrap();
        t.2 = vec![t.2[1], t.2[0]];
    });
    let e = load_err(&f);
    assert!(e.contains("`visual_projection.weight`: expected shape [32, 64] from the config, found [64, 32]"), "{e}");

    // A NaN in the weights is reported, not passed on as NaN probabilities.
    let mut f = good.clone();
    f.weights = rewrite(&good, |l| {
        let t = l.iter_mut().find(|t| t.0 == "visual_projection.weight").unwrap();
        t.3[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    });
    let clip = pollster::block_on(Clip::load(&f, &cpu())).unwrap();
    let img = webclip::preprocess::decode(&read("images/chelsea.png")).unwrap();
    let e = pollster::block_on(clip.embed_images(&[img], None)).unwrap_err().to_string();
    assert!(e.contains("non-finite values (NaN or infinity) for an image"), "{e}");

    // Broken containers.
    let mut f = good.clone();
    f.weights = good.weights[..6].to_vec();
    assert!(load_err(&f).contains("too short"));
    let mut f = good.clone();
    f.weights = good.weights[..200].to_vec();
    assert!(load_err(&f).contains("truncated"), "{}", load_err(&f));
    let mut f = good.clone();
    f.weights = good.weights[..good.weights.len() - 100].to_vec();
    assert!(load_err(&f).contains("truncated"), "{}", load_err(&f));
    let mut f = good.clone();
    let mut huge = (150_000_000u64).to_le_bytes().to_vec();
    huge.extend_from_slice(&good.weights[8..]);
    f.weights = huge;
    assert!(load_err(&f).contains("100000000-byte limit"));
    let mut f = good.clone();
    f.weights = vec![];
    assert!(load_err(&f).contains("empty"));

    // Tokenizer and preprocessing that do not fit the model.
    let mut f = good.clone();
    f.tokenizer = b"<html>not found</html>".to_vec();
    assert!(load_err(&f).contains("tokenizer.json could not be loaded"));
    let mut f = good.clone();
    f.preprocessor = Some(br#"{"crop_size": {"height": 336, "width": 336}}"#.to_vec());
    let e = load_err(&f);
    assert!(e.contains("produces 336x336 images but the vision model takes 224x224"), "{e}");
}

#[test]
fn dtypes_f32_f16_bf16_load() {
    for (name, dtype) in [("tiny-legacy", "F32"), ("tiny-gelu-f16", "F16"), ("tiny-bf16", "BF16")] {
        let files = model_files(name);
        let inspect = webclip::loader::inspect(&files.weights).unwrap();
        assert_eq!(inspect["logit_scale"].0, dtype);
        pollster::block_on(Clip::load(&files, &cpu())).unwrap();
    }
}

#[test]
fn labels_and_templates() {
    let clip = pollster::block_on(Clip::load(&model_files("tiny-legacy"), &cpu())).unwrap();
    let default = Templates::named("default").unwrap();
    let err = |labels: &[&str]| pollster::block_on(clip.classifier(labels, &default, None)).unwrap_err().to_string();
    assert!(err(&[]).contains("no labels given"));
    assert!(err(&["cat", "dog", "cat"]).contains("\"cat\" is given twice"));
    assert!(err(&["cat", ""]).contains("empty"));
    assert!(Templates::custom(&["photo of"]).unwrap_err().to_string().contains("no {}"));

    // One label: probability 1.
    let head = pollster::block_on(clip.classifier(&["cat"], &default, None)).unwrap();
    let img = webclip::preprocess::decode(&read("images/chelsea.png")).unwrap();
    let p = pollster::block_on(clip.classify(std::slice::from_ref(&img), &head, None, None)).unwrap();
    assert_eq!(p[0].len(), 1);
    assert!((p[0][0].prob - 1.0).abs() < 1e-6);

    // 10 000 labels work, batched, and the cache makes the second head free.
    let labels: Vec<String> = (0..10_000).map(|i| format!("class number {i}")).collect();
    let mut calls = 0;
    let head = pollster::block_on(clip.classifier(&labels, &default, Some(&mut |_, _| calls += 1))).unwrap();
    assert!(calls >= 10_000 / clip.text_batch, "progress reported per batch ({calls})");
    assert_eq!(head.labels().len(), 10_000);
    let p = pollster::block_on(clip.classify(std::slice::from_ref(&img), &head, Some(5), None)).unwrap();
    assert_eq!(p[0].len(), 5);
    assert!(p[0].windows(2).all(|w| w[0].prob >= w[1].prob));
    let all = head.probabilities(&pollster::block_on(clip.embed_images(&[img], None)).unwrap()[0], clip.scoring());
    assert!((all.iter().sum::<f32>() - 1.0).abs() < 1e-3);
    let mut again = 0;
    pollster::block_on(clip.classifier(&labels, &default, Some(&mut |_, _| again += 1))).unwrap();
    assert_eq!(again, 0, "cached labels are not re-encoded");
}

#[test]
fn odd_texts() {
    let clip = pollster::block_on(Clip::load(&model_files("tiny-gelu-f16"), &cpu())).unwrap();
    let long = "x".repeat(10_000);
    let texts = ["", "   ", long.as_str(), "\u{FFFD} replacement and \u{0000} nul"];
    let e = pollster::block_on(clip.embed_texts(&texts, None)).unwrap();
    assert_eq!(e.len(), 4);
    assert!(e.iter().flatten().all(|x| x.is_finite()));
    // Empty and all-space texts tokenize identically, so they embed identically.
    assert_eq!(e[0], e[1]);
}

#[test]
fn random_models_are_deterministic() {
    let mut config = webclip::ClipConfig::default();
    config.text.encoder.hidden_size = 32;
    config.text.encoder.intermediate_size = 64;
    config.text.encoder.num_hidden_layers = 2;
    config.text.encoder.num_attention_heads = 2;
    config.vision.encoder.hidden_size = 32;
    config.vision.encoder.intermediate_size = 64;
    config.vision.encoder.num_hidden_layers = 2;
    config.vision.encoder.num_attention_heads = 2;
    config.vision.image_size = [64, 64];
    config.vision.patch_size = [16, 16];
    config.projection_dim = 16;
    let tok = || webclip::Tokenizer::from_bytes(&read("tokenizer.json"), 77).unwrap();
    let img = webclip::preprocess::decode(&read("images/coffee.png")).unwrap();
    let run = |seed| {
        let clip = pollster::block_on(Clip::random(config.clone(), tok(), &cpu(), seed)).unwrap();
        assert!((clip.logit_scale() - 2.6592).abs() < 1e-6);
        let t = pollster::block_on(clip.embed_texts(&["a cup of coffee"], None)).unwrap();
        let i = pollster::block_on(clip.embed_images(std::slice::from_ref(&img), None)).unwrap();
        (t, i)
    };
    let (a, b, c) = (run(1), run(1), run(2));
    assert_eq!(a, b, "same seed, same model");
    assert_ne!(a.0, c.0, "another seed, another model");
    assert_eq!(a.0[0].len(), 16);
}

/// Streams `weights` into a loader in chunks of the sizes in `sizes` (cycled).
fn stream(files: &ModelFiles, weights: &[u8], sizes: &[usize]) -> webclip::Result<Clip> {
    stream_as(files, weights, sizes, PrecisionChoice::F32)
}

/// [`stream`] into a model that runs in `precision`.
fn stream_as(files: &ModelFiles, weights: &[u8], sizes: &[usize], precision: PrecisionChoice) -> webclip::Result<Clip> {
    let mut load = Clip::begin_load(files, &cpu())?.with_precision(precision)?;
    let (mut at, mut i) = (0, 0);
    while at < weights.len() {
        let n = sizes[i % sizes.len()].min(weights.len() - at);
        load.push(&weights[at..at + n])?;
        at += n;
        i += 1;
    }
    pollster::block_on(load.finish())
}

/// Streamed loading (the page's path for large checkpoints) gives exactly the model the
/// whole-file path gives, whatever the chunk sizes, for every dtype, both families and q8; a
/// download that ends early, runs long or lacks a tensor is refused with the reason.
#[test]
fn streamed_load_equals_whole_file() {
    let texts = ["a photo of a cat".to_string(), "고양이 사진".to_string()];
    let img = webclip::preprocess::decode(&read("images/chelsea.png")).unwrap();
    // Both models give exactly the same text and image embeddings.
    let same = |a: &Clip, b: &Clip, what: &str| {
        let (ta, tb) = (a.embed_texts(&texts, None), b.embed_texts(&texts, None));
        assert_eq!(pollster::block_on(ta).unwrap(), pollster::block_on(tb).unwrap(), "{what}: texts");
        let (ia, ib) =
            (a.embed_images(std::slice::from_ref(&img), None), b.embed_images(std::slice::from_ref(&img), None));
        assert_eq!(pollster::block_on(ia).unwrap(), pollster::block_on(ib).unwrap(), "{what}: image");
    };
    let q8 = {
        let clip = pollster::block_on(Clip::load(&model_files("siglip-tiny"), &cpu())).unwrap();
        let f = pollster::block_on(webclip::export::export_hf(&clip, webclip::export::WeightDtype::Q8)).unwrap();
        ModelFiles {
            config: Some(f.config),
            open_clip_config: None,
            weights: f.weights,
            tokenizer: f.tokenizer,
            preprocessor: Some(f.preprocessor),
            tokenizer_config: f.tokenizer_config,
        }
    };
    let cases: Vec<(&str, ModelFiles)> = vec![
        ("tiny-legacy", model_files("tiny-legacy")),
        ("tiny-gelu-f16", model_files("tiny-gelu-f16")),
        ("tiny-bf16", model_files("tiny-bf16")),
        ("siglip-min-bf16", model_files("siglip-min-bf16")),
        ("siglip-tiny q8", q8),
    ];
    for (name, files) in &cases {
        let whole = pollster::block_on(Clip::load(files, &cpu())).unwrap();
        for sizes in [&[1usize, 3, 7][..], &[4096], &[files.weights.len()]] {
            let streamed = stream(files, &files.weights, sizes).unwrap_or_else(|e| panic!("{name} {sizes:?}: {e}"));
            same(&whole, &streamed, &format!("{name} {sizes:?}"));
            assert_eq!(whole.scoring(), streamed.scoring());
        }
        // The whole file handed over at once (the CLI's memory map): f32 tensors become the
        // weights without a copy, everything else is converted as usual.
        let file = bytes::Bytes::from(files.weights.clone());
        let mut load = Clip::begin_load(files, &cpu()).unwrap();
        assert!(load.shares_f32());
        load.push_shared(file.clone()).unwrap_or_else(|e| panic!("{name} shared: {e}"));
        let shared = pollster::block_on(load.finish()).unwrap();
        same(&whole, &shared, &format!("{name} shared"));
        if *name == "tiny-legacy" {
            // An f32 file: a Linear weight is the file's own bytes, held as a transposed view.
            let w = shared.model().vision_model.encoder.layers[0].self_attn.q_proj.weight.val();
            let w = w.try_into_primitive::<webclip::burn::backend::Flex>().unwrap();
            let p = w.storage::<f32>().as_ptr() as usize;
            let range = file.as_ptr() as usize..file.as_ptr() as usize + file.len();
            assert!(range.contains(&p), "{name}: the weight was copied");
            assert_eq!(w.layout().strides()[0], 1, "{name}: a transposed view of the stored [out, in]");
        }
    }
    // f16: streamed matrices go to the device as f16 as they arrive; the model equals the
    // whole-file load cast afterwards, for an f32, an f16 and a q8 file.
    for (name, files) in [&cases[0], &cases[1], &cases[4]] {
        let whole =
            pollster::block_on(Clip::load(files, &cpu())).unwrap().with_precision(PrecisionChoice::F16).unwrap();
        let streamed = stream_as(files, &files.weights, &[4093], PrecisionChoice::F16).unwrap();
        assert_eq!(streamed.precision(), webclip::model::Precision::F16, "{name}");
        same(&whole, &streamed, &format!("{name} f16"));
    }
    let mut late = Clip::begin_load(&cases[0].1, &cpu()).unwrap();
    late.push(&cases[0].1.weights[..16]).unwrap();
    let e = late.with_precision(PrecisionChoice::F16).err().unwrap().to_string();
    assert!(e.contains("before its first byte"), "{e}");

    let files = model_files("tiny-legacy");
    let w = &files.weights;
    let e = stream(&files, &w[..w.len() - 10], &[4096]).err().unwrap().to_string();
    assert!(e.contains("the file ended after") && e.contains("truncated download"), "{e}");
    let mut long = w.clone();
    long.extend_from_slice(&[0; 4]);
    let e = stream(&files, &long, &[4096]).err().unwrap().to_string();
    assert!(e.contains("more bytes arrived"), "{e}");
    let without = rewrite(&files, |l| l.retain(|t| t.0 != "text_projection.weight"));
    let e = stream(&files, &without, &[4096]).err().unwrap().to_string();
    assert!(e.contains("missing keys: text_projection.weight"), "{e}");
    let e = stream(&files, b"\xff\xff\xff\xff\xff\xff\xff\xff{}", &[4096]).err().unwrap().to_string();
    assert!(e.contains("over the 100000000-byte limit"), "{e}");
    let e = stream(&files, &model_files("tiny-gelu-f16").weights, &[4096]).err().unwrap().to_string();
    assert!(e.contains("expected shape"), "{e}");
    let oc = model_files("tiny-openclip");
    let e = Clip::begin_load(&oc, &cpu()).err().unwrap().to_string();
    assert!(e.contains("OpenCLIP folders whole"), "{e}");
}

/// A model loaded with its image tower only (a Library's embedding worker): the image
/// embeddings are exactly the whole model's, on every load path and naming (HF, OpenCLIP,
/// streamed q8 SigLIP); the text tower's keys are let go, not reported as unused; text and
/// training are refused with the reason; and the planned weights are smaller.
#[test]
fn image_tower_only() {
    use webclip::model::Towers;
    let img = webclip::preprocess::decode(&read("images/chelsea.png")).unwrap();
    let embed = |c: &Clip| pollster::block_on(c.embed_images(std::slice::from_ref(&img), None)).unwrap();
    for name in ["tiny-legacy", "tiny-openclip", "siglip-tiny"] {
        let files = model_files(name);
        let whole = pollster::block_on(Clip::load(&files, &cpu())).unwrap();
        let image = pollster::block_on(Clip::load_towers(&files, &cpu(), Towers::Image)).unwrap();
        assert_eq!(embed(&image), embed(&whole), "{name}");
        assert!(image.model().text_model.is_none() && image.model().text_projection.is_none());
        let err = pollster::block_on(image.embed_texts(&["a cat"], None)).unwrap_err().to_string();
        assert!(err.contains("image tower only"), "{name}: {err}");
        let err = webclip::train::Trainer::new(image, Default::default()).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("image tower only")), "{name}: training refused");
        if let Some(config_json) = &files.config {
            let mut load = Clip::begin_load_towers(&files, &cpu(), Towers::Image).unwrap();
            for c in files.weights.chunks(777) {
                load.push(c).unwrap();
            }
            assert_eq!(embed(&pollster::block_on(load.finish()).unwrap()), embed(&whole), "{name} streamed");
            let config = webclip::ClipConfig::from_config_json(config_json).unwrap();
            let bytes = |t| webclip::loader::stream::StreamingSource::f32_weight_bytes(&config, &cpu(), t).unwrap();
            assert!(bytes(Towers::Image) < bytes(Towers::Both), "{name}");
        }
    }
}
