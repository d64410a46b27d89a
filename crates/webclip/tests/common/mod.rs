//! Shared helpers for the integration tests: fixture paths and loaders, cosine similarity.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use webclip::ModelFiles;

/// tests/fixtures at the workspace root.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

pub fn read(rel: &str) -> Vec<u8> {
    let p = fixtures().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub fn json(rel: &str) -> Value {
    serde_json::from_slice(&read(rel)).unwrap()
}

/// www/models/shapes, the bundled shapes model.
pub fn shapes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www/models/shapes")
}

/// The bundled shapes model's files.
pub fn shapes_model_files() -> ModelFiles {
    let dir = shapes_dir();
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()));
    ModelFiles {
        config: Some(read("config.json")),
        open_clip_config: None,
        weights: read("model.safetensors"),
        tokenizer: read("tokenizer.json"),
        preprocessor: Some(read("preprocessor_config.json")),
        tokenizer_config: None,
    }
}

/// The files of a fixture model folder, as the CLI would read them.
pub fn model_files(name: &str) -> ModelFiles {
    let dir = fixtures().join("models").join(name);
    let opt = |f: &str| std::fs::read(dir.join(f)).ok();
    let weights = opt("model.safetensors").or_else(|| opt("open_clip_model.safetensors")).expect("weights");
    ModelFiles {
        config: opt("config.json"),
        open_clip_config: opt("open_clip_config.json"),
        weights,
        tokenizer: opt("tokenizer.json").expect("tokenizer.json"),
        preprocessor: opt("preprocessor_config.json"),
        tokenizer_config: opt("tokenizer_config.json"),
    }
}

pub fn cos(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

pub fn f32s(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

pub fn matrix(v: &Value) -> Vec<Vec<f32>> {
    v.as_array().unwrap().iter().map(f32s).collect()
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect()
}

pub const MODELS: &[&str] = &["tiny-legacy", "tiny-gelu-f16", "tiny-bf16", "tiny-openclip"];
