//! The training commands' contract: finetune's per-step JSON equals PyTorch's losses for the
//! same recipe, --out is a loadable HF folder, --resume continues exactly, a non-finite loss
//! stops with the last good weights saved, data errors name the file and line; train-shapes,
//! shapes and wise-ft run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn webclip(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_webclip")).args(args).output().expect("run webclip")
}

fn ok(args: &[&str]) -> String {
    let out = webclip(args);
    assert!(out.status.success(), "webclip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn fail(args: &[&str]) -> String {
    let out = webclip(args);
    assert_eq!(out.status.code(), Some(1), "webclip {args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default().to_string()
}

struct Tmp(PathBuf);

impl Tmp {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("webclip-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
    fn path(&self, rel: &str) -> String {
        self.0.join(rel).display().to_string()
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn model(name: &str) -> String {
    fixtures().join("models").join(name).display().to_string()
}

/// A JSONL of the training reference's pairs (one image path relative, the others absolute).
fn reference_data(dir: &Tmp) -> String {
    let expected: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("expected/training.json")).unwrap()).unwrap();
    let mut lines = String::new();
    for (i, (f, t)) in
        expected["files"].as_array().unwrap().iter().zip(expected["texts"].as_array().unwrap()).enumerate()
    {
        let src = fixtures().join("images").join(f.as_str().unwrap());
        let image = if i == 0 {
            std::fs::copy(&src, dir.0.join("first.png")).unwrap();
            "first.png".to_string()
        } else {
            src.display().to_string()
        };
        lines.push_str(&serde_json::json!({"image": image, "text": t}).to_string());
        lines.push('\n');
    }
    let p = dir.path("data.jsonl");
    std::fs::write(&p, lines).unwrap();
    p
}

fn f32_tensors(path: &str) -> std::collections::BTreeMap<String, Vec<f32>> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(k, v)| {
            let vals = match v.dtype() {
                safetensors::Dtype::F32 => {
                    v.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
                }
                _ => v.data().chunks_exact(2).map(|c| half_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect(),
            };
            (k, vals)
        })
        .collect()
}

fn half_to_f32(h: u16) -> f32 {
    let (s, e, m) = ((h >> 15) as u32, ((h >> 10) & 0x1f) as u32, (h & 0x3ff) as u32);
    let bits = match e {
        0 if m == 0 => s << 31,
        0 => {
            let mut e = 127 - 15 + 1;
            let mut m = m;
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            (s << 31) | ((e as u32) << 23) | ((m & 0x3ff) << 13)
        }
        31 => (s << 31) | (0xff << 23) | (m << 13),
        _ => (s << 31) | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

fn model_tiny() -> String {
    model("tiny-legacy")
}

/// `webclip --device cpu --quiet finetune --model M --data D --out O` and `extra`.
fn finetune<'a>(model: &'a str, data: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["--device", "cpu", "--quiet", "finetune", "--model", model, "--data", data, "--out", out];
    a.extend_from_slice(extra);
    a
}

/// `webclip --device cpu --quiet wise-ft --base B --finetuned F --alpha A --out O`.
fn wise_ft<'a>(base: &'a str, finetuned: &'a str, alpha: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "--device",
        "cpu",
        "--quiet",
        "wise-ft",
        "--base",
        base,
        "--finetuned",
        finetuned,
        "--alpha",
        alpha,
        "--out",
        out,
    ]
}

const RECIPE: &[&str] = &[
    "--train",
    "all",
    "--lr",
    "1e-3",
    "--weight-decay",
    "0.2",
    "--warmup",
    "1",
    "--grad-clip",
    "1",
    "--no-shuffle",
    "--json",
];

#[test]
fn finetune_json_matches_pytorch_and_out_loads() {
    let dir = Tmp::new("ft");
    let data = reference_data(&dir);
    let out = dir.path("out");
    let m = model_tiny();
    let mut args = finetune(&m, &data, &out, &["--steps", "3", "--batch-size", "4"]);
    args.extend_from_slice(RECIPE);
    let stdout = ok(&args);
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    let expected: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("expected/training.json")).unwrap()).unwrap();
    let case = &expected["cases"]["all"];
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l.as_object().unwrap().len(), 4, "{l}");
        assert_eq!(l["step"].as_u64().unwrap() as usize, i + 1, "steps count from 1");
        let (got, want) = (l["loss"].as_f64().unwrap(), case["losses"][i].as_f64().unwrap());
        assert!((got - want).abs() <= 1e-4 * want, "step {i}: loss {got} vs PyTorch {want}");
        assert!((l["lr"].as_f64().unwrap() - case["lrs"][i].as_f64().unwrap()).abs() < 1e-12);
        assert!(l["logit_scale"].as_f64().unwrap() > 0.0);
    }
    for f in ["config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json"] {
        assert!(dir.0.join("out").join(f).exists(), "{f}");
    }
    // The written folder is a model like any other.
    let emb: Value =
        serde_json::from_str(&ok(&["--device", "cpu", "embed", "--model", &out, "--text", "a cat", "--json"])).unwrap();
    assert_eq!(emb["text_embeds"][0].as_array().unwrap().len(), 32);
    // Parameters after 3 steps = PyTorch's.
    let w = f32_tensors(&dir.path("out/model.safetensors"));
    let want = &case["params"]["visual_projection.weight"];
    let d = w["visual_projection.weight"]
        .iter()
        .zip(want.as_array().unwrap())
        .map(|(a, b)| (*a as f64 - b.as_f64().unwrap()).abs())
        .fold(0.0, f64::max);
    assert!(d <= 1e-4, "visual_projection after 3 CLI steps differs from PyTorch by {d}");
}

#[test]
fn resume_after_a_failure_continues_exactly() {
    let dir = Tmp::new("resume");
    // Six pairs, batch 2, no shuffle: step 2 reads pairs 4 and 5. Pair 5's image is broken at
    // first, so the run stops after checkpointing step 2; once it is fixed, --resume finishes.
    let photos = ["chelsea.png", "coffee.png", "astronaut.png", "horse.png", "camera.png", "gray.png"];
    let mut lines = String::new();
    for (i, p) in photos.iter().enumerate() {
        std::fs::copy(fixtures().join("images").join(p), dir.0.join(format!("{i}.png"))).unwrap();
        lines.push_str(
            &serde_json::json!({"image": format!("{i}.png"), "text": format!("photo number {i}")}).to_string(),
        );
        lines.push('\n');
    }
    std::fs::write(dir.0.join("d.jsonl"), lines).unwrap();
    let (data, straight, b2) = (dir.path("d.jsonl"), dir.path("straight"), dir.path("b2"));
    let m = model_tiny();
    let run = |out: &str, steps: &str, extra: &[&str]| {
        let mut a = finetune(&m, &data, out, &["--steps", steps, "--batch-size", "2"]);
        a.extend_from_slice(RECIPE);
        a.extend_from_slice(extra);
        webclip(&a)
    };
    assert!(run(&straight, "4", &[]).status.success());
    let good = std::fs::read(dir.0.join("5.png")).unwrap();
    // Same PNG header, data cut: it passes the header check and fails when decoded at step 2.
    std::fs::write(dir.0.join("5.png"), &good[..good.len() / 2]).unwrap();
    let o = run(&b2, "4", &["--save-every", "2"]);
    assert_eq!(o.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(msg.contains("5.png"), "{msg}");
    let state: Value = serde_json::from_slice(&std::fs::read(dir.0.join("b2/trainer_state.json")).unwrap()).unwrap();
    assert_eq!(state["step"], 2, "the checkpoint at step 2 survives the failure");
    std::fs::write(dir.0.join("5.png"), &good).unwrap();
    let o = run(&b2, "4", &["--save-every", "2", "--resume"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let steps: Vec<Value> =
        String::from_utf8(o.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(steps.iter().map(|s| s["step"].as_u64().unwrap()).collect::<Vec<_>>(), [3, 4], "steps 3 and 4 remain");
    let (x, y) =
        (f32_tensors(&format!("{straight}/model.safetensors")), f32_tensors(&format!("{b2}/model.safetensors")));
    for (k, v) in &x {
        let d = v.iter().zip(&y[k]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(d < 1e-6, "`{k}` differs by {d} after resume");
    }
    // Resuming with other settings is refused.
    let o = run(&b2, "5", &["--resume"]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(e.contains("other settings"), "{e}");
}

#[test]
fn non_finite_loss_stops_with_weights_saved() {
    let dir = Tmp::new("nan");
    let data = reference_data(&dir);
    let out = dir.path("out");
    let m = model_tiny();
    let e = fail(&finetune(
        &m,
        &data,
        &out,
        &["--steps", "30", "--batch-size", "4", "--lr", "1e12", "--grad-clip", "0", "--warmup", "0"],
    ));
    assert!(e.contains("non-finite") && e.contains("last good weights are saved in"), "{e}");
    let w = f32_tensors(&dir.path("out/model.safetensors"));
    assert!(w.values().flatten().all(|v| v.is_finite()));
}

#[test]
fn data_errors_name_file_and_line() {
    let dir = Tmp::new("data");
    let m = model_tiny();
    let out = dir.path("out");
    let try_data = |content: &str| {
        std::fs::write(dir.0.join("d.jsonl"), content).unwrap();
        fail(&finetune(&m, &dir.path("d.jsonl"), &out, &["--steps", "1"]))
    };
    let img = fixtures().join("images/chelsea.png").display().to_string();
    let good = serde_json::json!({"image": img, "text": "a cat"}).to_string();
    let e = try_data(&format!("{good}\nnot json\n"));
    assert!(e.contains("d.jsonl:2: not a JSON object"), "{e}");
    let e = try_data(&format!("{good}\n{{\"image\": \"x.png\"}}\n"));
    assert!(e.contains("d.jsonl:2: missing \"text\""), "{e}");
    let e = try_data(&format!("{good}\n{}\n", serde_json::json!({"image": "nowhere.png", "text": "x"})));
    assert!(e.contains("nowhere.png: no such file"), "{e}");
    let e = try_data(&format!("{good}\n"));
    assert!(e.contains("1 image-text pairs; contrastive training needs at least 2"), "{e}");
    let e = try_data(&format!(
        "{good}\n{good}\n{}\n",
        serde_json::json!({"image": fixtures().join("images/empty.jpg"), "text": "x"})
    ));
    assert!(e.contains("empty.jpg: image: the file is empty"), "{e}");
    std::fs::write(dir.0.join("d.jsonl"), format!("{good}\n{good}\n")).unwrap();
    let e = fail(&finetune(&m, &dir.path("d.jsonl"), &out, &["--batch-size", "3"]));
    assert!(e.contains("--batch-size 3"), "{e}");
    let e = fail(&finetune(&m, &dir.path("d.jsonl"), &out, &["--train", "last:x"]));
    assert!(e.contains("expected projections, last:N"), "{e}");
}

#[test]
fn class_folders_shapes_train_shapes_and_wise_ft() {
    let dir = Tmp::new("misc");
    // `webclip shapes` writes PNGs and a captions.jsonl that finetune takes as is.
    ok(&["shapes", "--out", &dir.path("shapes"), "--count", "8", "--size", "32", "--seed", "3"]);
    let n = std::fs::read_dir(dir.0.join("shapes")).unwrap().count();
    assert_eq!(n, 9, "8 PNGs and captions.jsonl");
    // A folder of class subfolders.
    for (class, files) in [("red_circle", ["00000", "00001"]), ("blue_star", ["00002", "00003"])] {
        std::fs::create_dir_all(dir.0.join("classes").join(class)).unwrap();
        for f in files {
            let src = std::fs::read_dir(dir.0.join("shapes"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.to_string_lossy().contains(f))
                .unwrap();
            std::fs::copy(src, dir.0.join("classes").join(class).join(format!("{f}.png"))).unwrap();
        }
    }
    let m = model_tiny();
    let out = ok(&finetune(
        &m,
        &dir.path("classes"),
        &dir.path("ft"),
        &["--steps", "2", "--batch-size", "4", "--train", "projections", "--json"],
    ));
    assert_eq!(out.lines().count(), 2);
    let out = ok(&finetune(
        &m,
        &dir.path("shapes/captions.jsonl"),
        &dir.path("ft2"),
        &["--epochs", "1", "--batch-size", "4", "--train", "last:1", "--lock-image", "--json"],
    ));
    assert_eq!(out.lines().count(), 2, "one epoch of 8 pairs at batch 4");
    // WiSE-FT at α = 0 is the base model, at 1 the fine-tuned one.
    ok(&wise_ft(&m, &dir.path("ft"), "0", &dir.path("w0")));
    ok(&wise_ft(&m, &dir.path("ft"), "1", &dir.path("w1")));
    let (base, w0) = (f32_tensors(&format!("{m}/model.safetensors")), f32_tensors(&dir.path("w0/model.safetensors")));
    let (ft, w1) = (f32_tensors(&dir.path("ft/model.safetensors")), f32_tensors(&dir.path("w1/model.safetensors")));
    for (k, v) in &base {
        assert_eq!(v, &w0[k], "{k}");
        assert_eq!(ft[k], w1[k], "{k}");
    }
    let e = fail(&wise_ft(&m, &model("tiny-bf16"), "0.5", &dir.path("w")));
    assert!(e.contains("different architectures"), "{e}");
    // train-shapes end to end (a few steps: the real run is minutes, see README).
    let out = ok(&[
        "--device",
        "cpu",
        "--quiet",
        "train-shapes",
        "--out",
        &dir.path("tiny"),
        "--steps",
        "3",
        "--batch-size",
        "8",
        "--eval-every",
        "0",
        "--eval-per-class",
        "1",
        "--json",
    ]);
    let last: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(last["steps"], 3);
    // --stop-after: the first steps of the longer run (its learning-rate schedule), not a
    // shorter run — what the page's Learn view does.
    let lrs = |args: &[&str]| -> Vec<f64> {
        let mut a = vec!["--device", "cpu", "--quiet", "train-shapes", "--batch-size", "4", "--eval-every", "0"];
        a.extend_from_slice(&["--eval-per-class", "1", "--json", "--warmup", "1"]);
        a.extend_from_slice(args);
        ok(&a).lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()?["lr"].as_f64()).collect()
    };
    let stopped = lrs(&["--out", &dir.path("stop"), "--steps", "6", "--stop-after", "3"]);
    let full = lrs(&["--out", &dir.path("full6"), "--steps", "6"]);
    let short = lrs(&["--out", &dir.path("short3"), "--steps", "3"]);
    assert_eq!(stopped.len(), 3);
    assert_eq!(stopped[..], full[..3]);
    assert_ne!(stopped, short);
    let e = fail(&["--device", "cpu", "train-shapes", "--out", &dir.path("zero"), "--stop-after", "0"]);
    assert!(e.contains("--stop-after must be at least 1"), "{e}");
    assert_eq!(last["eval"]["clean"]["per_class"].as_array().unwrap().len(), 24);
    assert!(last["eval"]["full"]["held_out"].as_f64().is_some());
    ok(&[
        "--device",
        "cpu",
        "classify",
        "--model",
        &dir.path("tiny"),
        "--label",
        "red circle",
        "--label",
        "blue star",
        &dir.path("classes/red_circle/00000.png"),
    ]);
}
