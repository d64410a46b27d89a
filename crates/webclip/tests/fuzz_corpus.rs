//! Replays the fuzz corpora on stable: every file in `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` (every crash the fuzzer ever found, minimised) goes through the
//! same `webclip::fuzz::<target>` body the nightly cargo-fuzz targets run. So CI checks, on every
//! change, that no input that once panicked (or that the fuzzer found interesting) panics now,
//! without nightly or libFuzzer. See fuzz/README.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Instant;

/// A fuzz target's body (`webclip::fuzz::<target>`).
type Body = fn(&[u8]);

/// Every fuzz target with its body. A target added to fuzz/ without a line here fails
/// `every_target_is_replayed`.
const TARGETS: &[(&str, Body)] = &[
    ("safetensors", webclip::fuzz::safetensors),
    ("hf_config", webclip::fuzz::hf_config),
    ("open_clip_config", webclip::fuzz::open_clip_config),
    ("image", webclip::fuzz::image),
    ("trainer_state", webclip::fuzz::trainer_state),
    ("tokenizer", webclip::fuzz::tokenizer),
    ("tokenizer_json", webclip::fuzz::tokenizer_json),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `dir`, sorted (hidden files skipped), or `None` when it does not exist.
fn files(dir: &Path) -> Option<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    out.sort();
    Some(out)
}

fn replay(target: &str, body: Body) {
    let start = Instant::now();
    let corpus = fuzz_dir().join("corpus").join(target);
    let corpus_files = files(&corpus).unwrap_or_else(|| panic!("{} is missing", corpus.display()));
    assert!(!corpus_files.is_empty(), "{} is empty", corpus.display());
    let regressions = files(&fuzz_dir().join("regressions").join(target)).unwrap_or_default();
    for path in corpus_files.iter().chain(&regressions) {
        let data = std::fs::read(path).unwrap();
        // The file name in the panic message says which input to minimise or debug.
        let result = std::panic::catch_unwind(|| body(&data));
        assert!(result.is_ok(), "{target}: {} panicked", path.display());
    }
    eprintln!(
        "{target}: {} corpus + {} regression inputs in {:.2} s",
        corpus_files.len(),
        regressions.len(),
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn every_target_is_replayed() {
    let dir = fuzz_dir().join("fuzz_targets");
    let on_disk: Vec<String> = files(&dir)
        .unwrap_or_else(|| panic!("{} is missing", dir.display()))
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut listed: Vec<String> = TARGETS.iter().map(|(name, _)| name.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "fuzz/fuzz_targets and TARGETS differ");
}

#[test]
fn safetensors() {
    replay("safetensors", webclip::fuzz::safetensors);
}

#[test]
fn hf_config() {
    replay("hf_config", webclip::fuzz::hf_config);
}

#[test]
fn open_clip_config() {
    replay("open_clip_config", webclip::fuzz::open_clip_config);
}

#[test]
fn image() {
    replay("image", webclip::fuzz::image);
}

#[test]
fn trainer_state() {
    replay("trainer_state", webclip::fuzz::trainer_state);
}

#[test]
fn tokenizer() {
    replay("tokenizer", webclip::fuzz::tokenizer);
}

#[test]
fn tokenizer_json() {
    replay("tokenizer_json", webclip::fuzz::tokenizer_json);
}
