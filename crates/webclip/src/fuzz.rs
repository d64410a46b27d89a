//! Fuzz target bodies: one function per parser that takes bytes from outside (model files,
//! images, tokenizer input, saved trainer state).
//!
//! They live in the core, not in `fuzz/`, so that the nightly cargo-fuzz targets
//! (`fuzz/fuzz_targets/<name>.rs`) and the stable replay test (`tests/fuzz_corpus.rs`, which feeds
//! every committed corpus file and every crash ever found to these functions) run the same code,
//! and so that a refactor that moves a parser has to fix its fuzz body in the same change.
//!
//! Each body calls its parsers and ignores their `Result`s: the property checked is "never
//! panics, never aborts, bounded memory". Where an `Ok` value has a cheap property that must
//! hold (a decoded image's buffer matches its size, an accepted config stays within the bounds
//! that protect allocations), the body asserts it, so a wrong `Ok` is a crash too. Not part of
//! the public API.

use std::sync::OnceLock;

use crate::loader::{Naming, OPEN_CLIP_RENAMES, SafetensorsSource, inspect, open_clip_key};
use crate::model::{Init, WeightSource};
use crate::preprocess::{decode, preprocess, probe};
use crate::train::TrainerState;
use crate::{ClipConfig, PreprocessConfig, Templates, Tokenizer};

/// The real CLIP tokenizer, bundled so the body needs no filesystem (the core never touches one)
/// and fuzzes the same vocabulary and merges the checkpoints ship.
const CLIP_TOKENIZER_JSON: &[u8] = include_bytes!("../../../tests/fixtures/tokenizer.json");

/// CLIP's context length, the truncation every checkpoint uses.
const CONTEXT: usize = 77;

/// The bounds `config.rs` promises for an accepted config (far above every published CLIP):
/// what keeps a hostile config from making the model builder allocate absurd amounts. Repeated
/// here, not imported, so that the fuzzer checks the promise rather than the implementation.
const MAX_WIDTH: usize = 16_384;
const MAX_LAYERS: usize = 256;
const MAX_VOCAB: usize = 1_000_000;
const MAX_POSITIONS: usize = 16_384;
const MAX_IMAGE_SIDE: usize = 4_096;

/// `SafetensorsSource::new`, its naming and dtype detection, every tensor read through
/// `WeightSource::take` with the shape the model would ask for (derived from the header), then
/// `finish`; and `inspect`, which must agree with `new` on what is a valid file.
pub fn safetensors(data: &[u8]) {
    let table = inspect(data);
    let source = SafetensorsSource::new(data);
    assert_eq!(table.is_ok(), source.is_ok(), "inspect and SafetensorsSource::new disagree");
    let (Ok(table), Ok(mut source)) = (table, source) else {
        return;
    };
    let _ = source.dtype();
    let open_clip = source.naming() == Naming::OpenClip;
    for (name, (_dtype, shape)) in &table {
        if open_clip {
            for (hf, request) in open_clip_requests(name, shape) {
                check_take(&mut source, &hf, &request);
            }
        } else {
            // The model asks for `logit_scale` as `[1]`; a 0-d tensor is the same scalar.
            let request = if shape.is_empty() { vec![1] } else { shape.clone() };
            check_take(&mut source, name, &request);
        }
    }
    // A second request for a name the file lacks, as a config that disagrees with the weights
    // makes: recorded for `finish`, never a panic.
    let _ = source.take("text_model.embeddings.token_embedding.weight", &[3, 5], Init::Constant(0.0));
    let _ = Box::new(source).finish();
}

/// One `take`; an `Ok(Some(values))` must hold exactly the elements the requested shape has.
fn check_take(source: &mut SafetensorsSource<'_>, key: &str, shape: &[usize]) {
    if let Ok(Some(values)) = source.take(key, shape, Init::Constant(0.0)) {
        assert_eq!(values.len(), shape.iter().product::<usize>(), "take({key:?}, {shape:?})");
    }
}

/// The HF keys the model would request to read the OpenCLIP tensor `name`, each with the
/// HF-layout shape it would ask for: rank 2 for the transposed projections, one third of the
/// rows for each of q/k/v of a packed `in_proj`. The candidates come from undoing the renames
/// and are kept only where `open_clip_key` maps them back to `name`, so a stale guess here costs
/// coverage, never a false crash.
fn open_clip_requests(name: &str, stored: &[usize]) -> Vec<(String, Vec<usize>)> {
    const BLOCK: &[(&str, &str)] = &[
        (".ln_1.", ".layer_norm1."),
        (".ln_2.", ".layer_norm2."),
        (".mlp.c_fc.", ".mlp.fc1."),
        (".mlp.c_proj.", ".mlp.fc2."),
        (".attn.out_proj.", ".self_attn.out_proj."),
    ];
    let mut out = Vec::new();
    for (hf_prefix, oc_prefix) in OPEN_CLIP_RENAMES {
        let Some(rest) = name.strip_prefix(oc_prefix) else {
            continue;
        };
        let mut base = format!("{hf_prefix}{rest}");
        for (oc, hf) in BLOCK {
            base = base.replace(oc, hf);
        }
        let mut candidates = vec![base.clone()];
        for suffix in ["weight", "bias"] {
            if let Some(stem) = base.strip_suffix(&format!(".attn.in_proj_{suffix}")) {
                for proj in ["q_proj", "k_proj", "v_proj"] {
                    candidates.push(format!("{stem}.self_attn.{proj}.{suffix}"));
                }
            }
        }
        for hf in candidates {
            let Some(remap) = open_clip_key(&hf) else {
                continue;
            };
            if remap.key != name {
                continue;
            }
            let mut shape = if stored.is_empty() { vec![1] } else { stored.to_vec() };
            if remap.transposed {
                shape = match shape[..] {
                    [r, c] => vec![c, r],
                    _ => vec![shape.iter().product(), 1],
                };
            }
            if remap.packed_part.is_some() {
                shape[0] /= 3;
            }
            out.push((hf, shape));
        }
    }
    out
}

/// Checks that an accepted model config keeps the promises the model builder relies on.
fn check_clip_config(c: &ClipConfig) {
    let within = |x: usize, max: usize| (1..=max).contains(&x);
    let (t, v) = (&c.text, &c.vision);
    for (tower, e) in [("text", &t.encoder), ("vision", &v.encoder)] {
        assert!(within(e.hidden_size, MAX_WIDTH), "{tower} hidden_size {}", e.hidden_size);
        assert!(within(e.intermediate_size, MAX_WIDTH * 8), "{tower} intermediate_size {}", e.intermediate_size);
        assert!(within(e.num_hidden_layers, MAX_LAYERS), "{tower} layers {}", e.num_hidden_layers);
        assert!(within(e.num_attention_heads, e.hidden_size), "{tower} heads {}", e.num_attention_heads);
        assert!(e.hidden_size.is_multiple_of(e.num_attention_heads));
        assert!(e.layer_norm_eps.is_finite());
    }
    assert!(within(t.vocab_size, MAX_VOCAB), "vocab_size {}", t.vocab_size);
    assert!(within(t.max_position_embeddings, MAX_POSITIONS), "positions {}", t.max_position_embeddings);
    assert_eq!(v.num_channels, 3);
    for (&image, &patch) in v.image_size.iter().zip(&v.patch_size) {
        assert!(within(image, MAX_IMAGE_SIDE) && within(patch, image) && image.is_multiple_of(patch));
    }
    assert!(v.num_positions() >= 2);
    assert!(within(c.projection_dim, MAX_WIDTH), "projection_dim {}", c.projection_dim);
    assert!(c.logit_scale_init_value.is_finite());
    assert!(c.validate("fuzz").is_ok());
}

/// Checks that an accepted preprocessing config gives a bounded, finite output.
fn check_preprocess_config(p: &PreprocessConfig) {
    if let Some([h, w]) = p.output_size() {
        assert!((1..=MAX_IMAGE_SIDE).contains(&h) && (1..=MAX_IMAGE_SIDE).contains(&w), "output {h}x{w}");
    }
    if let Some(std) = p.std {
        assert!(std.iter().all(|s| *s != 0.0 && s.is_finite()), "std {std:?} accepted");
    }
    if let Some(mean) = p.mean {
        assert!(mean.iter().all(|m| m.is_finite()), "mean {mean:?} accepted");
    }
    if let Some(f) = p.rescale_factor {
        assert!(f.is_finite());
    }
}

/// HF `config.json` and `preprocessor_config.json` (the same JSON fed to both: the parsers
/// share their JSON reading, and a preprocessor file is usually tried with the model's size).
pub fn hf_config(data: &[u8]) {
    let mut size = [224, 224];
    if let Ok(c) = ClipConfig::from_config_json(data) {
        check_clip_config(&c);
        size = c.vision.image_size;
    }
    for image_size in [size, [48, 32]] {
        if let Ok(p) = PreprocessConfig::from_hf_json(data, image_size) {
            check_preprocess_config(&p);
        }
        if let Ok(p) = PreprocessConfig::from_siglip_json(data, image_size) {
            check_preprocess_config(&p);
        }
    }
}

/// OpenCLIP `open_clip_config.json` (model and preprocessing).
pub fn open_clip_config(data: &[u8]) {
    if let Ok((c, p)) = ClipConfig::from_open_clip_json(data) {
        check_clip_config(&c);
        check_preprocess_config(&p);
    }
}

/// The preprocessing configs the image body runs: HF's bicubic resize + center crop at 224,
/// OpenCLIP's (round-half-even crop, alpha dropped) at the tiny fixture's 48, and an exact-size
/// bilinear resize with no crop. Made by the parsers, so the body names no config internals.
fn image_configs() -> &'static [PreprocessConfig] {
    static CONFIGS: OnceLock<Vec<PreprocessConfig>> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let mut v = vec![PreprocessConfig::for_image_size([224, 224])];
        let open_clip = br#"{"model_cfg": {"embed_dim": 24, "vision_cfg": {"image_size": 48, "layers": 2,
            "width": 64, "head_width": 32, "patch_size": 16}, "text_cfg": {"width": 24, "heads": 3, "layers": 2}}}"#;
        if let Ok((_, p)) = ClipConfig::from_open_clip_json(open_clip) {
            v.push(p);
        }
        let exact = br#"{"size": {"height": 40, "width": 56}, "do_center_crop": false, "resample": 2}"#;
        if let Ok(p) = PreprocessConfig::from_hf_json(exact, [40, 56]) {
            v.push(p);
        }
        v
    })
}

/// `probe`, `decode` and `preprocess` of an encoded image in any supported format.
pub fn image(data: &[u8]) {
    let probed = probe(data);
    let Ok(img) = decode(data) else {
        return;
    };
    let [pw, ph] = match probed {
        Ok(size) => size,
        Err(e) => panic!("decode accepted an image that probe refused: {e}"),
    };
    // EXIF orientation may swap the sides; it never changes them otherwise.
    let (w, h) = (img.width, img.height);
    assert!((w, h) == (pw, ph) || (w, h) == (ph, pw), "probe said {pw}x{ph}, decode gave {w}x{h}");
    assert!(w >= 1 && h >= 1 && (w as u64) * (h as u64) <= crate::preprocess::MAX_PIXELS);
    assert_eq!(img.data.len(), w * h * 3, "RGB buffer of a {w}x{h} image");
    if let Some(alpha) = &img.alpha {
        assert_eq!(alpha.len(), w * h, "alpha buffer of a {w}x{h} image");
    }
    for cfg in image_configs() {
        let out = preprocess(&img, cfg);
        if let Some([oh, ow]) = cfg.output_size() {
            assert_eq!(out.len(), 3 * oh * ow, "preprocess output for {oh}x{ow}");
        }
        assert!(out.iter().all(|x| x.is_finite()), "non-finite pixel");
    }
}

/// `TrainerState::from_safetensors`; an accepted state must survive a write and a re-read
/// bit for bit (it is how a fine-tuning run resumes).
pub fn trainer_state(data: &[u8]) {
    let Ok(state) = TrainerState::from_safetensors(data) else {
        return;
    };
    let Ok(bytes) = state.to_safetensors() else {
        panic!("a state read from safetensors could not be written back");
    };
    let again = match TrainerState::from_safetensors(&bytes) {
        Ok(again) => again,
        Err(e) => panic!("a written state could not be read back: {e}"),
    };
    let bits = |s: &TrainerState| -> Vec<(String, Vec<u32>, Vec<u32>)> {
        s.moments
            .iter()
            .map(|(k, m, v)| {
                (k.clone(), m.iter().map(|x| x.to_bits()).collect(), v.iter().map(|x| x.to_bits()).collect())
            })
            .collect()
    };
    assert_eq!((state.step, state.updates), (again.step, again.updates));
    assert!(bits(&state) == bits(&again), "moments changed in a write/read round trip");
}

fn clip_tokenizer() -> Option<&'static Tokenizer> {
    static TOKENIZER: OnceLock<Option<Tokenizer>> = OnceLock::new();
    TOKENIZER.get_or_init(|| Tokenizer::from_bytes(CLIP_TOKENIZER_JSON, CONTEXT).ok()).as_ref()
}

/// The real CLIP tokenizer on arbitrary text (lossily decoded from the bytes), plus the other
/// entry points that take user text: template files, custom templates, label lists, and the
/// filled prompts the classifier tokenizes.
pub fn tokenizer(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Some(tok) = clip_tokenizer() else {
        panic!("the bundled tokenizer.json does not load");
    };
    check_ids(tok, &text);

    let lines: Vec<&str> = text.lines().collect();
    let _ = crate::zeroshot::check_labels(&lines);
    let _ = Templates::custom(&lines);
    if let Ok(templates) = Templates::from_lines(&text) {
        for t in templates.as_slice() {
            assert_eq!(t.matches("{}").count(), 1, "template {t:?} accepted");
        }
        // A few filled prompts, bounded so a long input stays fast.
        let labels = lines.iter().take(4);
        for (t, label) in templates.as_slice().iter().take(4).zip(labels) {
            check_ids(tok, &Templates::fill(t, label));
        }
    }
}

/// Encodes `text`; accepted ids must be `<start> … <end>` within the context and the vocab.
fn check_ids(tok: &Tokenizer, text: &str) {
    let Ok(ids) = tok.encode(text) else {
        return;
    };
    assert!((2..=CONTEXT).contains(&ids.len()), "{} ids", ids.len());
    let vocab = tok.vocab_size();
    assert!(ids.iter().all(|&i| (i as usize) < vocab), "id outside the vocab");
    assert_eq!(Some(ids[0]), tok.token_id("<|startoftext|>"));
    assert_eq!(ids.last().copied(), tok.token_id("<|endoftext|>"));
}

/// A `tokenizer.json` from outside (a checkpoint folder): loaded, then used on a fixed prompt.
pub fn tokenizer_json(data: &[u8]) {
    let Ok(tok) = Tokenizer::from_bytes(data, CONTEXT) else {
        return;
    };
    let _ = tok.vocab_size();
    if let Ok(ids) = tok.encode("a photo of a cat. naïve café 🐈 {}") {
        assert!(ids.len() <= CONTEXT, "{} ids", ids.len());
    }
}
