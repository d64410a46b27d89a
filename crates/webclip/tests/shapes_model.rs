//! The bundled shapes model (www/models/shapes, trained by `webclip train-shapes`): within the
//! size budget, read by HF transformers as webclip reads it, and zero-shot accurate on held-out
//! colour×shape combinations, on this generator's clean renderings and on drawings made with
//! another tool (Pillow).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use webclip::{Clip, DeviceChoice, Templates};

fn load() -> Clip {
    let (device, _) = webclip::device::open(DeviceChoice::Cpu).unwrap();
    pollster::block_on(Clip::load(&shapes_model_files(), &device)).unwrap()
}

#[test]
fn bundled_model_fits_the_budget() {
    let total: u64 = ["config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json"]
        .iter()
        .map(|f| std::fs::metadata(shapes_dir().join(f)).unwrap().len())
        .sum();
    let weights = std::fs::metadata(shapes_dir().join("model.safetensors")).unwrap().len();
    assert!(weights <= 16 << 20, "model.safetensors is {weights} bytes");
    eprintln!("shapes model: {weights} bytes of weights, {total} bytes in all");
}

#[test]
fn transformers_reads_it_as_webclip_does() {
    let expected = json("expected/shapes_model.json");
    let clip = load();
    let imgs: Vec<_> = strings(&expected["files"])
        .iter()
        .map(|f| webclip::preprocess::decode(&read(&format!("shapes_pil/{f}"))).unwrap())
        .collect();
    let got = pollster::block_on(clip.embed_images(&imgs, None)).unwrap();
    for (g, w) in got.iter().zip(matrix(&expected["image_embeds"])) {
        assert!(cos(g, &w) >= 0.999, "image cos {}", cos(g, &w));
    }
    let got = pollster::block_on(clip.embed_texts(&strings(&expected["texts"]), None)).unwrap();
    for (g, w) in got.iter().zip(matrix(&expected["text_embeds"])) {
        assert!(cos(g, &w) >= 0.9999, "text cos {}", cos(g, &w));
    }
    assert!((clip.logit_scale() - expected["logit_scale"].as_f64().unwrap() as f32).abs() < 1e-3);
}

#[test]
fn zero_shot_on_held_out_combinations() {
    let clip = load();
    let t = Templates::named("default").unwrap();
    let clean = pollster::block_on(webclip::shapes::zero_shot_accuracy(&clip, 0, 10, &t, 0.0)).unwrap();
    let full = pollster::block_on(webclip::shapes::zero_shot_accuracy(&clip, 0, 10, &t, 1.0)).unwrap();
    eprintln!(
        "clean: held-out {:.3} seen {:.3}; full world: held-out {:.3} seen {:.3}",
        clean.held_out, clean.seen, full.held_out, full.seen
    );
    assert!(clean.held_out >= 0.9, "held-out combinations, clean renderings: {}", clean.held_out);
    assert!(clean.seen >= 0.9, "seen combinations, clean renderings: {}", clean.seen);
    assert!(full.overall >= 0.7, "full world: {}", full.overall);
}

#[test]
fn transfers_to_drawings_made_elsewhere() {
    let clip = load();
    let index = json("shapes_pil/index.json");
    let names = webclip::shapes::class_names();
    let head = pollster::block_on(clip.classifier(&names, &Templates::named("default").unwrap(), None)).unwrap();
    let entries = index.as_array().unwrap();
    let imgs: Vec<_> = entries
        .iter()
        .map(|e| webclip::preprocess::decode(&read(&format!("shapes_pil/{}", e["image"].as_str().unwrap()))).unwrap())
        .collect();
    let embs = pollster::block_on(clip.embed_images(&imgs, None)).unwrap();
    let (mut right, mut held, mut held_right) = (0, 0, 0);
    for (e, emb) in entries.iter().zip(&embs) {
        let class = e["class"].as_str().unwrap();
        let best = &head.classify(emb, clip.scoring(), Some(1))[0].label;
        let held_out = webclip::shapes::HELD_OUT.iter().any(|&(c, s)| webclip::shapes::class_name(c, s) == class);
        right += (best == class) as usize;
        held += held_out as usize;
        held_right += (held_out && best == class) as usize;
    }
    let acc = right as f32 / entries.len() as f32;
    eprintln!("Pillow drawings: {right}/{} right, held-out {held_right}/{held}", entries.len());
    assert!(acc >= 0.85, "accuracy on Pillow drawings {acc}");
}
