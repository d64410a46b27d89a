//! `webclip index` / `search` / `index merge` on a real folder: generated shapes-world drawings,
//! the fixture photos and corrupt files, with the trained shapes model the page bundles.
//! Checks the clip-retrieval layout (NPY header, L2-normalised rows equal to `embed`'s, parquet
//! metadata row-aligned), skipped files and the exit code, search by text and by image,
//! `--resume` after a lost partition, a model mismatch refused, and two shard processes run side
//! by side whose merged index equals the single-process one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn webclip(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_webclip")).args(args).output().expect("run webclip")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {} / {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

/// An `.npy` read independently of webclip's reader: (descr, rows, dim, values).
fn npy(path: &Path) -> (String, usize, usize, Vec<f32>) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..8], b"\x93NUMPY\x01\x00", "{path:?}");
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    assert_eq!((10 + hlen) % 64, 0, "data aligned to 64 bytes");
    let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    let descr = header.split("'descr': '").nth(1).unwrap().split('\'').next().unwrap().to_string();
    let shape = header.split("'shape': (").nth(1).unwrap().split(')').next().unwrap();
    let dims: Vec<usize> = shape.split(',').filter_map(|x| x.trim().parse().ok()).collect();
    let data = &b[10 + hlen..];
    let values: Vec<f32> = match descr.as_str() {
        "<f4" => data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        "<f2" => data.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        d => panic!("dtype {d}"),
    };
    assert_eq!(values.len(), dims[0] * dims[1]);
    (descr, dims[0], dims[1], values)
}

fn parquet_paths(path: &Path) -> Vec<(String, i32, i32, i64)> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;
    let r = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    r.get_row_iter(None)
        .unwrap()
        .map(|row| {
            let row = row.unwrap();
            (
                row.get_string(0).unwrap().clone(),
                row.get_int(1).unwrap(),
                row.get_int(2).unwrap(),
                row.get_long(3).unwrap(),
            )
        })
        .collect()
}

/// Every row of an index in partition order: (path, embedding).
fn rows(index: &Path) -> Vec<(String, Vec<f32>)> {
    let info: Value = serde_json::from_slice(&std::fs::read(index.join("index.json")).unwrap()).unwrap();
    let mut out = Vec::new();
    let mut ks: Vec<usize> = info["partitions"].as_object().unwrap().keys().map(|k| k.parse().unwrap()).collect();
    ks.sort_unstable();
    for k in ks {
        let (_, n, dim, values) = npy(&index.join(format!("img_emb/img_emb_{k}.npy")));
        let meta = parquet_paths(&index.join(format!("metadata/metadata_{k}.parquet")));
        assert_eq!(meta.len(), n, "partition {k}: metadata rows = embedding rows");
        assert_eq!(info["partitions"][k.to_string()].as_u64().unwrap() as usize, n);
        for (i, m) in meta.into_iter().enumerate() {
            out.push((m.0, values[i * dim..(i + 1) * dim].to_vec()));
        }
    }
    out
}

/// `webclip search --json` of `index` by `--text` or `--image`.
fn search(index: &Path, flag: &str, query: &str, top_k: usize) -> Value {
    let k = top_k.to_string();
    json(&webclip(&[
        "-q",
        "--device",
        "cpu",
        "search",
        "--index",
        index.to_str().unwrap(),
        flag,
        query,
        "--top-k",
        &k,
        "--json",
    ]))
}

fn normalised(v: &[Value]) -> Vec<f32> {
    let v: Vec<f32> = v.iter().map(|x| x.as_f64().unwrap() as f32).collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

#[test]
fn index_search_resume_shards_and_merge() {
    let dir = std::env::temp_dir().join(format!("webclip-index-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let col = dir.join("photos");
    let model = root().join("www/models/shapes");
    let m = model.to_str().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    // 120 drawings, the fixture photos (one with an EXIF rotation), and four bad files.
    let out = webclip(&["-q", "shapes", "--out", &s(&col.join("shapes")), "--count", "120"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let photos = col.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let fixtures = root().join("tests/fixtures/images");
    for f in ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "exif_rot6.jpg", "horse.png", "camera.png"] {
        std::fs::copy(fixtures.join(f), photos.join(f)).unwrap();
    }
    for f in ["not_an_image.jpg", "empty.jpg", "bomb_20000.png"] {
        std::fs::copy(fixtures.join(f), photos.join(format!("bad_{f}"))).unwrap();
    }
    let rocket = std::fs::read(fixtures.join("rocket.jpg")).unwrap();
    std::fs::write(photos.join("bad_truncated.jpg"), &rocket[..rocket.len() / 3]).unwrap();
    let (good, bad) = (127usize, 4usize);

    // One process, f32, partitions of 25 inputs.
    let single = dir.join("single");
    let args = ["--device", "cpu", "index", "--model", m, &s(&col), "--out", &s(&single), "--dtype", "f32"];
    let out = webclip(&[&args[..], &["--partition-size", "25", "--json"]].concat());
    assert_eq!(out.status.code(), Some(3), "skipped files → exit 3: {}", String::from_utf8_lossy(&out.stderr));
    let summary = json(&out);
    assert_eq!(summary["embedded"].as_u64(), Some(good as u64));
    assert_eq!(summary["skipped"].as_u64(), Some(bad as u64));
    assert_eq!(summary["written_partitions"].as_u64(), Some(6)); // 131 inputs / 25
    let errors = std::fs::read_to_string(single.join("errors.jsonl")).unwrap();
    let errors: Vec<Value> = errors.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(errors.len(), bad);
    for e in &errors {
        let (path, reason) = (e["path"].as_str().unwrap(), e["reason"].as_str().unwrap());
        assert!(path.contains("bad_"), "{path}");
        let expected = if path.contains("bomb") {
            "pixel limit"
        } else if path.contains("empty") {
            "empty"
        } else if path.contains("truncated") {
            "truncated"
        } else {
            "not a recognised image"
        };
        assert!(reason.contains(expected), "{path}: {reason}");
    }
    let info: Value = serde_json::from_slice(&std::fs::read(single.join("index.json")).unwrap()).unwrap();
    assert_eq!(info["count"].as_u64(), Some(good as u64));
    assert_eq!(info["embedding_dim"].as_u64(), Some(64));
    assert_eq!(info["complete"], Value::Bool(true));
    let all = rows(&single);
    assert_eq!(all.len(), good);
    let mut sorted = all.iter().map(|r| r.0.clone()).collect::<Vec<_>>();
    sorted.sort();
    assert_eq!(sorted, all.iter().map(|r| r.0.clone()).collect::<Vec<_>>(), "rows in sorted path order");
    // Rows are `embed`'s embeddings, L2-normalised.
    let mut drawings: Vec<PathBuf> = std::fs::read_dir(col.join("shapes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    drawings.sort();
    let drawing = drawings[7].clone();
    let probe = [s(&photos.join("exif_rot6.jpg")), s(&drawing)];
    let mut embed_args = vec!["-q", "--device", "cpu", "embed", "--model", m, "--json"];
    for p in &probe {
        embed_args.extend(["--image", p.as_str()]);
    }
    let e = json(&webclip(&embed_args));
    for (i, p) in probe.iter().enumerate() {
        let want = normalised(e["image_embeds"][i].as_array().unwrap());
        let got = &all.iter().find(|r| &r.0 == p).unwrap_or_else(|| panic!("{p} not indexed")).1;
        let d = want.iter().zip(got).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(d < 1e-5, "{p}: max diff {d}");
    }
    // Metadata: the EXIF-rotated photo's size after rotation, the file size.
    let meta: Vec<_> =
        (0..6).flat_map(|k| parquet_paths(&single.join(format!("metadata/metadata_{k}.parquet")))).collect();
    let rot = meta.iter().find(|r| r.0.ends_with("exif_rot6.jpg")).unwrap();
    let shape_meta = meta.iter().find(|r| r.0 == probe[1]).unwrap();
    assert_eq!(shape_meta.3 as u64, std::fs::metadata(&drawing).unwrap().len());
    assert!(rot.1 > 0 && rot.2 > 0);

    // Search by text (the shapes model knows its world) and by image.
    let hits = search(&single, "--text", "a red circle", 5);
    let top = hits[0]["image_path"].as_str().unwrap();
    assert!(top.contains("red_circle"), "top hit for 'a red circle': {top}");
    let scores: Vec<f64> = hits.as_array().unwrap().iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let query = &probe[1];
    let hits = search(&single, "--image", query, 1);
    assert_eq!(hits[0]["image_path"].as_str(), Some(query.as_str()));
    assert!(hits[0]["score"].as_f64().unwrap() > 0.9999);

    // The same folder again without --resume is refused; another model is refused.
    let out = webclip(&[&args[..], &["--partition-size", "25"]].concat());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"), "{}", String::from_utf8_lossy(&out.stderr));
    let tiny = root().join("tests/fixtures/models/tiny-legacy");
    let out = webclip(&[
        "--device",
        "cpu",
        "index",
        "--model",
        tiny.to_str().unwrap(),
        &s(&col),
        "--out",
        &s(&single),
        "--resume",
        "--dtype",
        "f32",
        "--partition-size",
        "25",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another model"), "{}", String::from_utf8_lossy(&out.stderr));

    // An interrupted run: partition 2 lost (as if killed while writing it), --resume redoes it alone.
    let before = std::fs::read(single.join("img_emb/img_emb_2.npy")).unwrap();
    std::fs::remove_file(single.join("img_emb/img_emb_2.npy")).unwrap();
    let out = webclip(&[&args[..], &["--partition-size", "25", "--resume", "--json"]].concat());
    let summary = json(&out);
    assert_eq!(summary["resumed_partitions"].as_u64(), Some(5));
    assert_eq!(summary["written_partitions"].as_u64(), Some(1));
    assert_eq!(std::fs::read(single.join("img_emb/img_emb_2.npy")).unwrap(), before, "the redone partition");
    assert_eq!(rows(&single).len(), good);
    let info2: Value = serde_json::from_slice(&std::fs::read(single.join("index.json")).unwrap()).unwrap();
    assert_eq!(info2, info, "index.json after the resume");
    assert_eq!(std::fs::read_to_string(single.join("errors.jsonl")).unwrap().lines().count(), bad);

    // Two shard processes side by side, merged: the single-process index's rows, in order.
    let shards: Vec<PathBuf> = (0..2).map(|i| dir.join(format!("shard{i}"))).collect();
    let children: Vec<_> = (0..2)
        .map(|i| {
            let shard = format!("{i}/2");
            Command::new(env!("CARGO_BIN_EXE_webclip"))
                .args(["-q", "--device", "cpu", "index", "--model", m, &s(&col), "--out", &s(&shards[i])])
                .args(["--dtype", "f32", "--partition-size", "25", "--shard", &shard])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        let status = c.wait().unwrap();
        assert!(matches!(status.code(), Some(0 | 3)), "{status:?}");
    }
    let merged = dir.join("merged");
    let out = webclip(&["-q", "index", "merge", &s(&shards[0]), &s(&shards[1]), "--out", &s(&merged)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (a, b) = (rows(&single), rows(&merged));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.0, y.0);
        assert_eq!(x.1, y.1, "{}", x.0);
    }
    let minfo: Value = serde_json::from_slice(&std::fs::read(merged.join("index.json")).unwrap()).unwrap();
    assert_eq!(minfo["count"], info["count"]);
    assert_eq!(minfo["skipped"], info["skipped"]);
    assert_eq!(minfo["complete"], Value::Bool(true));
    let hits = search(&merged, "--text", "a red circle", 1);
    assert_eq!(hits[0]["image_path"].as_str(), Some(top));

    // Paths on stdin and the default f16: the same rows within f16 precision.
    let half_idx = dir.join("f16");
    let mut child = Command::new(env!("CARGO_BIN_EXE_webclip"))
        .args(["-q", "--device", "cpu", "index", "--model", m, "-", "--out", &s(&half_idx)])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for p in all.iter().take(30) {
            writeln!(stdin, "{}", p.0).unwrap();
        }
    }
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let (descr, ..) = npy(&half_idx.join("img_emb/img_emb_0.npy"));
    assert_eq!(descr, "<f2");
    for (x, y) in rows(&half_idx).iter().zip(&all) {
        assert_eq!(x.0, y.0);
        let d = x.1.iter().zip(&y.1).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(d < 1e-3, "{}: f16 row differs by {d}", x.0);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
