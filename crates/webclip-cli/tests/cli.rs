//! The CLI contract: output shapes of embed/tokenize/classify/rank --json, their numbers against
//! the reference fixtures, and one-line errors with a non-zero exit.

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

fn ok_json(args: &[&str]) -> Value {
    let out = webclip(args);
    assert!(out.status.success(), "webclip {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn err_line(args: &[&str]) -> String {
    let out = webclip(args);
    assert!(!out.status.success(), "webclip {args:?} should fail");
    assert_eq!(out.status.code(), Some(1), "{args:?}");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    // Notes may precede it; the reason is one line, the last.
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("webclip: error: ")).collect();
    assert_eq!(errors.len(), 1, "one error line expected, got {stderr:?}");
    assert_eq!(stderr.lines().last(), Some(errors[0]), "{stderr}");
    errors[0].to_string()
}

fn p(rel: &str) -> String {
    fixtures().join(rel).display().to_string()
}

fn cos(a: &[Value], b: &[Value]) -> f64 {
    let (mut d, mut na, mut nb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
        d += x * y;
        na += x * x;
        nb += y * y;
    }
    d / (na.sqrt() * nb.sqrt())
}

#[test]
fn embed_json_matches_reference() {
    let expected: Value = serde_json::from_slice(&std::fs::read(p("expected/tiny-legacy.json")).unwrap()).unwrap();
    let model = p("models/tiny-legacy");
    let out = ok_json(&[
        "--device",
        "cpu",
        "embed",
        "--model",
        &model,
        "--image",
        &p("images/chelsea.png"),
        "--image",
        &p("images/coffee.png"),
        "--text",
        "a photo of a cat.",
        "--text",
        "an astronaut",
        "--json",
    ]);
    let obj = out.as_object().unwrap();
    assert_eq!(obj.len(), 3);
    let imgs = out["image_embeds"].as_array().unwrap();
    let txts = out["text_embeds"].as_array().unwrap();
    assert_eq!((imgs.len(), txts.len()), (2, 2));
    assert_eq!(imgs[0].as_array().unwrap().len(), 32);
    let names: Vec<&str> = expected["images"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for (k, file) in ["chelsea.png", "coffee.png"].iter().enumerate() {
        let i = names.iter().position(|n| n == file).unwrap();
        let c = cos(imgs[k].as_array().unwrap(), expected["image_embeds"][i].as_array().unwrap());
        assert!(c >= 0.999, "{file}: {c}");
    }
    let texts: Vec<&str> = expected["texts"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for (k, t) in ["a photo of a cat.", "an astronaut"].iter().enumerate() {
        let i = texts.iter().position(|n| n == t).unwrap();
        let c = cos(txts[k].as_array().unwrap(), expected["text_embeds"][i].as_array().unwrap());
        assert!(c >= 0.9999, "{t}: {c}");
    }
    let ls = out["logit_scale"].as_f64().unwrap();
    assert!((ls - expected["logit_scale"].as_f64().unwrap()).abs() < 1e-5);
    // Text only is fine too; the other list is empty.
    let out = ok_json(&["--device", "cpu", "embed", "--model", &model, "--text", "x", "--json"]);
    assert_eq!(out["image_embeds"].as_array().unwrap().len(), 0);
}

#[test]
fn tokenize_json() {
    let out =
        ok_json(&["tokenize", "--model", &p("models/tiny-legacy"), "a photo of a cat.", "Hello World!", "--json"]);
    assert_eq!(
        out,
        serde_json::json!([[49406, 320, 1125, 539, 320, 2368, 269, 49407], [49406, 3306, 1002, 256, 49407]])
    );
    let long = "the quick brown fox ".repeat(200);
    let out = ok_json(&["tokenize", "--model", &p("models/tiny-openclip"), &long, "--json"]);
    let ids = out[0].as_array().unwrap();
    assert_eq!(ids.len(), 77);
    assert_eq!(ids[76], 49407);
}

#[test]
fn classify_json_matches_reference() {
    let expected: Value = serde_json::from_slice(&std::fs::read(p("expected/tiny-gelu-f16.json")).unwrap()).unwrap();
    let labels: Vec<String> =
        expected["labels"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    let names: Vec<&str> = expected["images"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let mut args: Vec<String> =
        ["--device", "cpu", "classify", "--model", &p("models/tiny-gelu-f16"), "--templates", "cifar", "--json"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    for l in &labels {
        args.push("--label".into());
        args.push(l.clone());
    }
    let files = ["chelsea.png", "astronaut.png", "horse.png"];
    for f in files {
        args.push(p(&format!("images/{f}")));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ok_json(&argv);
    let arr = out.as_array().unwrap();
    assert_eq!(arr.len(), 3);
    for (k, f) in files.iter().enumerate() {
        assert_eq!(arr[k]["image"].as_str().unwrap(), p(&format!("images/{f}")));
        let scores = arr[k]["scores"].as_array().unwrap();
        assert_eq!(scores.len(), labels.len());
        let probs: Vec<f64> = scores.iter().map(|s| s["prob"].as_f64().unwrap()).collect();
        assert!(probs.windows(2).all(|w| w[0] >= w[1]), "sorted descending");
        let i = names.iter().position(|n| n == f).unwrap();
        for s in scores {
            let j = labels.iter().position(|l| l == s["label"].as_str().unwrap()).unwrap();
            let want = expected["zeroshot_cifar"][i][j].as_f64().unwrap();
            assert!((s["prob"].as_f64().unwrap() - want).abs() <= 1e-3, "{f} {}", labels[j]);
        }
    }
    // --top-k and --labels-file.
    let dir = std::env::temp_dir().join(format!("webclip-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lf = dir.join("labels.txt");
    std::fs::write(&lf, "cat\n\ndog\n  horse  \n").unwrap();
    let out = ok_json(&[
        "--device",
        "cpu",
        "classify",
        "--model",
        &p("models/tiny-legacy"),
        "--labels-file",
        lf.to_str().unwrap(),
        "--top-k",
        "2",
        &p("images/chelsea.png"),
        "--json",
    ]);
    assert_eq!(out[0]["scores"].as_array().unwrap().len(), 2);
    // A template file.
    let tf = dir.join("templates.txt");
    std::fs::write(&tf, "a drawing of a {}.\n# comment\na {} in the wild\n").unwrap();
    ok_json(&[
        "--device",
        "cpu",
        "classify",
        "--model",
        &p("models/tiny-legacy"),
        "--label",
        "cat",
        "--label",
        "dog",
        "--templates",
        tf.to_str().unwrap(),
        &p("images/chelsea.png"),
        "--json",
    ]);
    std::fs::write(&tf, "no placeholder here\n").unwrap();
    let e = err_line(&[
        "--device",
        "cpu",
        "classify",
        "--model",
        &p("models/tiny-legacy"),
        "--label",
        "cat",
        "--templates",
        tf.to_str().unwrap(),
        &p("images/chelsea.png"),
    ]);
    assert!(e.contains("no {} where the label goes"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn rank_json_matches_reference() {
    let expected: Value = serde_json::from_slice(&std::fs::read(p("expected/tiny-openclip.json")).unwrap()).unwrap();
    let names: Vec<String> =
        expected["images"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    // Palette images are resized differently by open_clip (see the parity test's `loose`).
    let lossless: Vec<&String> = names.iter().filter(|n| n.ends_with(".png") && !n.starts_with("palette")).collect();
    let paths: Vec<String> = lossless.iter().map(|n| p(&format!("images/{n}"))).collect();
    let mut args =
        vec!["--device", "cpu", "rank", "--model", &p("models/tiny-openclip"), "--text", "a photo of a cat", "--json"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
    args.extend(paths.iter().cloned());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ok_json(&argv);
    let arr = out.as_array().unwrap();
    assert_eq!(arr.len(), paths.len());
    // Same order as the reference restricted to these images, same scores.
    let want: Vec<(String, f64)> = expected["rank"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (names[r["index"].as_u64().unwrap() as usize].clone(), r["score"].as_f64().unwrap()))
        .filter(|(n, _)| n.ends_with(".png") && !n.starts_with("palette"))
        .collect();
    for (got, (name, score)) in arr.iter().zip(&want) {
        assert_eq!(got["image"].as_str().unwrap(), p(&format!("images/{name}")));
        assert!((got["score"].as_f64().unwrap() - score).abs() < 1e-3);
        assert_eq!(paths[got["index"].as_u64().unwrap() as usize], got["image"].as_str().unwrap());
    }
}

#[test]
fn errors_are_one_line_with_exit_1() {
    let m = p("models/tiny-legacy");
    let e = err_line(&["embed", "--model", "/nonexistent/model", "--text", "x"]);
    assert!(e.contains("/nonexistent/model: no such folder"), "{e}");
    // `classify` on the CPU with the tiny model and these arguments.
    let classify = |args: &[&str]| err_line(&[&["--device", "cpu", "classify", "--model", &m][..], args].concat());
    let cat = |image: &str| classify(&["--label", "cat", image]);
    let e = cat(&p("images/not_an_image.jpg"));
    assert!(e.contains("not_an_image.jpg") && e.contains("not a recognised image format"), "{e}");
    let e = cat(&p("images/empty.jpg"));
    assert!(e.contains("empty.jpg: image: the file is empty"), "{e}");
    let e = cat(&p("images/bomb_20000.png"));
    assert!(e.contains("limit"), "{e}");
    // A PNG whose header is fine but whose data is cut short fails when it is decoded, naming it.
    let e = classify(&["--label", "cat", &p("images/chelsea.png"), &p("images/truncated.png")]);
    assert!(e.contains("truncated.png: image:"), "{e}");
    let e = cat(&p("images/truncated.jpg"));
    assert!(e.contains("truncated.jpg: image: the JPEG file is truncated"), "{e}");
    let e = cat("/nonexistent.png");
    assert!(e.contains("/nonexistent.png: no such file"), "{e}");
    let chelsea = p("images/chelsea.png");
    let e = classify(&[&chelsea]);
    assert!(e.contains("no labels given"), "{e}");
    let e = classify(&["--label", "a", "--label", "a", &chelsea]);
    assert!(e.contains("given twice"), "{e}");
    let e = classify(&["--label", "a", "--templates", "nope", &chelsea]);
    assert!(e.contains("neither a template set"), "{e}");
    let e = err_line(&["embed", "--model", &m]);
    assert!(e.contains("nothing to embed"), "{e}");
    // A folder without tokenizer.json.
    let dir = std::env::temp_dir().join(format!("webclip-notok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixtures().join("models/tiny-legacy/config.json"), dir.join("config.json")).unwrap();
    std::fs::copy(fixtures().join("models/tiny-legacy/model.safetensors"), dir.join("model.safetensors")).unwrap();
    let e = err_line(&["--device", "cpu", "embed", "--model", dir.to_str().unwrap(), "--text", "x"]);
    assert!(e.contains("tokenizer.json: missing"), "{e}");
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("pytorch_model.bin"), b"pickle").unwrap();
    let e = err_line(&["--device", "cpu", "embed", "--model", dir.to_str().unwrap(), "--text", "x"]);
    assert!(e.contains("safetensors"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
    // Usage errors are clap's (exit 2).
    let out = webclip(&["--device", "tpu", "embed"]);
    assert_eq!(out.status.code(), Some(2));
    let out = webclip(&["--precision", "f8", "embed", "--model", "m", "--text", "t"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("auto, f32, f16"));
}

/// `--precision f16` on the CPU backend: the f16 model path through the CLI, close to f32.
#[test]
fn precision_f16_embeds_close_to_f32() {
    let model = p("models/tiny-legacy");
    let args = |precision: &'static str| -> Vec<String> {
        ["--device", "cpu", "--precision", precision, "embed", "--model", &model, "--text", "a photo of a cat"]
            .iter()
            .map(|s| s.to_string())
            .chain(["--image".to_string(), p("images/chelsea.png"), "--json".to_string()])
            .collect()
    };
    let run = |precision: &'static str| {
        let a = args(precision);
        ok_json(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let (full, half) = (run("f32"), run("f16"));
    for key in ["image_embeds", "text_embeds"] {
        let (a, b) = (full[key][0].as_array().unwrap(), half[key][0].as_array().unwrap());
        assert_ne!(a, b, "{key}: f16 must compute something else than f32");
        assert!(cos(a, b) >= 0.998, "{key}: cos {}", cos(a, b));
    }
}

/// A SigLIP folder through the same commands: sigmoid scores said in the JSON, equal to
/// transformers' (template ensembling over Korean templates included), `logit_bias` in `embed`,
/// Korean text embedded like transformers embeds it.
#[test]
fn siglip_classify_and_embed_json() {
    let expected: Value = serde_json::from_slice(&std::fs::read(p("expected/siglip-tiny.json")).unwrap()).unwrap();
    let model = p("models/siglip-tiny");
    let images = expected["images"].as_array().unwrap();
    let labels: Vec<&str> = expected["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    let templates = std::env::temp_dir().join(format!("webclip-ko-templates-{}.txt", std::process::id()));
    let ko: Vec<&str> = expected["templates"]["ko"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    std::fs::write(&templates, ko.join("\n")).unwrap();
    let files = ["chelsea.png", "astronaut.png"];
    let mut args = vec!["--device", "cpu", "classify", "--model", &model, "--json"];
    args.extend(["--templates", templates.to_str().unwrap()]);
    for l in &labels {
        args.extend(["--label", l]);
    }
    let paths: Vec<String> = files.iter().map(|f| p(&format!("images/{f}"))).collect();
    for path in &paths {
        args.push(path);
    }
    let out = ok_json(&args);
    std::fs::remove_file(&templates).ok();
    for (f, entry) in files.iter().zip(out.as_array().unwrap()) {
        assert_eq!(entry["scoring"], "sigmoid");
        let row = images.iter().position(|i| i == f).unwrap();
        let want = &expected["zeroshot"]["ko"][row];
        let scores = entry["scores"].as_array().unwrap();
        assert_eq!(scores.len(), labels.len());
        let sum: f64 = scores.iter().map(|s| s["prob"].as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() > 0.05, "independent sigmoids do not sum to 1 ({sum})");
        for s in scores {
            let i = labels.iter().position(|l| *l == s["label"].as_str().unwrap()).unwrap();
            let (got, w) = (s["prob"].as_f64().unwrap(), want[i].as_f64().unwrap());
            assert!((got - w).abs() < 1e-3, "{f} {}: {got} vs {w}", labels[i]);
        }
    }
    let out = ok_json(&["--device", "cpu", "embed", "--model", &model, "--json", "--text", "고양이 사진"]);
    assert!((out["logit_bias"].as_f64().unwrap() - expected["logit_bias"].as_f64().unwrap()).abs() < 1e-5);
    let i = expected["texts"].as_array().unwrap().iter().position(|t| t == "고양이 사진").unwrap();
    let c = cos(out["text_embeds"][0].as_array().unwrap(), expected["text_embeds"][i].as_array().unwrap());
    assert!(c > 0.9999, "{c}");
    // A CLIP model says softmax and has no bias.
    let out = ok_json(&["--device", "cpu", "embed", "--model", &p("models/tiny-legacy"), "--json", "--text", "a"]);
    assert!(out.get("logit_bias").is_none());
}

/// A SigLIP folder with only the SentencePiece model (as google/siglip-base-patch16-224 ships)
/// is refused with the file it lacks and how to make it.
#[test]
fn siglip_folder_without_tokenizer_json() {
    let dir = std::env::temp_dir().join(format!("webclip-spiece-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "model.safetensors", "preprocessor_config.json"] {
        std::fs::copy(fixtures().join("models/siglip-tiny").join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("spiece.model"), b"\x0a\x00").unwrap();
    let e = err_line(&["--device", "cpu", "embed", "--model", dir.to_str().unwrap(), "--text", "a"]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(e.contains("tokenizer.json") && e.contains("spiece.model"), "{e}");
}
