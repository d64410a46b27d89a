//! `webclip index` and `webclip search`: a photo collection embedded once, searched instantly.
//!
//! The index is clip-retrieval's layout, so its tools (autofaiss, faiss, clip-retrieval's back
//! end) read it unchanged:
//!
//! ```text
//! INDEX/img_emb/img_emb_{k}.npy            [rows, dim] L2-normalised, f16 (default) or f32
//! INDEX/metadata/metadata_{k}.parquet      image_path, width, height, file_size; row-aligned
//! INDEX/index.json                         model id and hash, dim, dtype, counts, partitions
//! INDEX/errors.jsonl                       one line per skipped file: path, reason, partition
//! ```
//!
//! Partitions: the sorted inputs are cut into runs of `--partition-size` files; each run's
//! embeddings and metadata are written when the run is done, to a temporary name then renamed,
//! so a partition is on disk whole or not at all and `--resume` redoes only what is missing.
//!
//! Shards (`--shard I/N`): the job's partitions are dealt to the `N` shards in contiguous runs
//! (every shard computes the same deal from the same sorted input list), and each shard writes
//! its partitions under their numbers in the whole job. Copying the shards' `img_emb/` and
//! `metadata/` folders (and `errors.jsonl` lines) into one folder therefore gives exactly the
//! single-process index; `webclip index merge A B … --out C` does that copy and writes the
//! merged `index.json` (counts, partitions, and whether every shard of the split is there).

//! Throughput: a reader thread decodes and preprocesses the next batch on every core (rayon)
//! while the model runs the current one; a channel of two batches bounds memory whatever the
//! collection's size.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;
use webclip::Clip;
pub use webclip::index::{Dtype, ErrorLine, IndexInfo, Meta};
use webclip::index::{
    Found, ModelHash, NpyView, SEARCH_BLOCK, emb_name, meta_name, metadata_parquet, normalise_rows, npy_bytes,
    push_top, read_metadata, scan_block, unit,
};

use crate::files::io_reason;
use crate::progress::Reporter;
use crate::{CliError, Result};

/// Exit code of an `index` run that skipped files (each is in `errors.jsonl`); 0 when none was,
/// 1 for an error that stopped the run, 2 for a usage error.
pub const EXIT_SKIPPED: u8 = 3;

/// `--dtype`: the embedding dtype on disk.
pub fn parse_dtype(s: &str) -> std::result::Result<Dtype, String> {
    s.parse().map_err(|e: webclip::Error| e.to_string())
}

pub fn emb_path(dir: &Path, k: usize) -> PathBuf {
    dir.join(emb_name(k))
}

pub fn meta_path(dir: &Path, k: usize) -> PathBuf {
    dir.join(meta_name(k))
}

fn io_err(p: &Path, e: std::io::Error) -> CliError {
    CliError::File(p.to_path_buf(), io_reason(&e))
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename: readers and
/// `--resume` see the whole file or none of it.
fn write_atomic(path: &Path, write: impl FnOnce(&mut std::fs::File) -> Result<()>) -> Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or_default()));
    let mut f = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
    write(&mut f)?;
    f.sync_all().map_err(|e| io_err(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

// ---------------------------------------------------------------------------------------------
// Inputs and the partition plan

/// The image files named by `sources` (folders walked recursively for [`webclip::index::IMAGE_EXTENSIONS`], text
/// files of paths, `-` for paths on stdin), sorted, duplicates removed.
pub fn collect_inputs(sources: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for s in sources {
        if s.as_os_str() == "-" {
            for line in std::io::stdin().lock().lines() {
                let line = line.map_err(|e| CliError::Other(format!("reading paths from stdin: {e}")))?;
                let line = line.trim();
                if !line.is_empty() {
                    out.push(PathBuf::from(line));
                }
            }
        } else if s.is_dir() {
            walk(s, &mut out)?;
        } else if s.is_file() {
            if has_image_extension(s) {
                out.push(s.clone());
            } else {
                let text = std::fs::read_to_string(s).map_err(|e| io_err(s, e))?;
                let base = s.parent().unwrap_or(Path::new("."));
                for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    let p = PathBuf::from(line);
                    out.push(if p.is_absolute() { p } else { base.join(p) });
                }
            }
        } else {
            return Err(CliError::File(s.clone(), "no such file or folder".into()));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn has_image_extension(p: &Path) -> bool {
    p.file_name().and_then(|e| e.to_str()).is_some_and(webclip::index::has_image_extension)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_err(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let p = entry.path();
        let kind = entry.file_type().map_err(|e| io_err(&p, e))?;
        if kind.is_dir() {
            walk(&p, out)?;
        } else if has_image_extension(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// `I/N` (0-based shard `I` of `N`).
pub fn parse_shard(s: &str) -> std::result::Result<[usize; 2], String> {
    let (i, n) = s.split_once('/').ok_or("--shard takes I/N, e.g. 0/4")?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| "--shard: I is not a number")?,
        n.trim().parse().map_err(|_| "--shard: N is not a number")?,
    );
    if n == 0 || i >= n {
        return Err(format!("--shard {i}/{n}: I must be below N (shards are numbered from 0)"));
    }
    Ok([i, n])
}

/// The partitions of shard `[i, n]` of `inputs` files: `(k, range of the sorted inputs)`. The
/// whole job's partitions (runs of `partition_size` sorted inputs, numbered from 0) are dealt
/// to the shards in contiguous runs, so shard `I` holds exactly partitions `I·P/N .. (I+1)·P/N`
/// of the single-process index, under the same numbers: the shards' folders copied together
/// *are* that index, bit for bit (the same files in the same batches).
pub fn plan(inputs: usize, partition_size: usize, [i, n]: [usize; 2]) -> Vec<(usize, Range<usize>)> {
    let p = partition_size.max(1);
    let total = inputs.div_ceil(p);
    (i * total / n..(i + 1) * total / n).map(|k| (k, k * p..((k + 1) * p).min(inputs))).collect()
}

// ---------------------------------------------------------------------------------------------
// Model identity

/// The model folder's name and its [`ModelHash`] (the core's, so the page computes the same one
/// for the same folder): the small config files, the weights file's length and 16 windows of
/// 64 KiB spread over it (reading 1 MiB keeps it instant).
pub fn model_identity(dir: &Path) -> Result<(String, String)> {
    let mut h = ModelHash::new();
    for name in webclip::index::HASHED_FILES {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            h.small_file(name, &b);
        }
    }
    for name in ["model.safetensors", "open_clip_model.safetensors"] {
        let p = dir.join(name);
        let Ok(mut f) = std::fs::File::open(&p) else { continue };
        let len = f.metadata().map_err(|e| io_err(&p, e))?.len();
        use std::io::{Read, Seek, SeekFrom};
        let mut samples = Vec::new();
        for r in ModelHash::sample_ranges(len) {
            let mut buf = vec![0u8; (r.end - r.start) as usize];
            f.seek(SeekFrom::Start(r.start)).map_err(|e| io_err(&p, e))?;
            f.read_exact(&mut buf).map_err(|e| io_err(&p, e))?;
            samples.push(buf);
        }
        h.weights(len, &samples.iter().map(Vec::as_slice).collect::<Vec<_>>());
    }
    let id = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());
    Ok((id, h.finish()))
}

// ---------------------------------------------------------------------------------------------
// .npy

pub fn write_npy(path: &Path, dtype: Dtype, dim: usize, values: &[f32]) -> Result<()> {
    let bytes = npy_bytes(dtype, dim, values);
    write_atomic(path, |f| f.write_all(&bytes).map_err(|e| io_err(path, e)))
}

/// A memory-mapped `.npy` of `[rows, dim]` f16 or f32.
pub struct Npy {
    map: memmap2::Mmap,
    view: NpyView,
}

impl Npy {
    pub fn open(path: &Path) -> Result<Npy> {
        let file = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
        // SAFETY: read-only map of an index file; a file truncated meanwhile faults rather than
        // being misread.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| io_err(path, e))?;
        let view = NpyView::parse(&map).map_err(|e| CliError::File(path.to_path_buf(), e.to_string()))?;
        Ok(Npy { map, view })
    }

    pub fn rows(&self) -> usize {
        self.view.rows
    }

    pub fn dim(&self) -> usize {
        self.view.dim
    }

    /// Rows `range` as f32 into `out` (`range.len() · dim`); `halves` is scratch for f16 files.
    pub fn rows_f32(&self, range: Range<usize>, out: &mut [f32], halves: &mut Vec<half::f16>) {
        self.view.rows_f32(&self.map, range, out, halves)
    }
}

// ---------------------------------------------------------------------------------------------
// Parquet metadata

fn write_meta(path: &Path, rows: &[Meta]) -> Result<()> {
    let bytes = metadata_parquet(rows).map_err(|e| CliError::File(path.to_path_buf(), e.to_string()))?;
    write_atomic(path, |f| f.write_all(&bytes).map_err(|e| io_err(path, e)))
}

/// The rows of a metadata file written by [`write_meta`] (or any parquet with those columns).
pub fn read_meta(path: &Path) -> Result<Vec<Meta>> {
    let bytes = std::fs::read(path).map_err(|e| io_err(path, e))?;
    read_metadata(bytes::Bytes::from(bytes)).map_err(|e| CliError::File(path.to_path_buf(), e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// index

pub struct IndexJob<'a> {
    pub model_dir: &'a Path,
    pub sources: &'a [PathBuf],
    pub out: &'a Path,
    pub dtype: Dtype,
    pub partition_size: usize,
    pub shard: [usize; 2],
    pub resume: bool,
}

/// What `index` reports at the end (`--json`).
#[derive(Debug, Serialize)]
pub struct IndexSummary {
    pub out: String,
    pub inputs: usize,
    /// Files embedded by this run (not counting partitions finished by an earlier run).
    pub embedded: usize,
    /// Files skipped by this run (listed in errors.jsonl).
    pub skipped: usize,
    /// Partitions kept from an earlier run (`--resume`).
    pub resumed_partitions: usize,
    pub written_partitions: usize,
    pub seconds: f64,
    pub images_per_second: f64,
    /// Share of the run's wall time the model was computing: the rest is start-up, waiting
    /// for decoded batches and writing.
    pub model_busy_share: f64,
    /// Rows in the whole index (this shard) after the run.
    pub count: usize,
}

/// One decoded input, or why it was skipped.
type Decoded = std::result::Result<(Meta, Vec<f32>), String>;

fn decode_one(clip: &Clip, p: &Path) -> Decoded {
    let md = std::fs::metadata(p).map_err(|e| io_reason(&e))?;
    if !md.is_file() {
        return Err("not a file".into());
    }
    if let Some(why) = webclip::index::too_large(md.len()) {
        return Err(why);
    }
    let bytes = std::fs::read(p).map_err(|e| io_reason(&e))?;
    let img = webclip::preprocess::decode(&bytes).map_err(|e| e.to_string())?;
    let meta = Meta {
        image_path: p.display().to_string(),
        width: img.width as i32,
        height: img.height as i32,
        file_size: md.len() as i64,
    };
    Ok((meta, clip.prepare_image(&img)))
}

/// Loads or starts `index.json`, refusing a different model or plan.
fn open_index(job: &IndexJob, fresh: &IndexInfo) -> Result<IndexInfo> {
    let path = job.out.join("index.json");
    if !path.exists() {
        if job.out.join("img_emb").exists() {
            return Err(CliError::File(
                job.out.to_path_buf(),
                "has img_emb/ but no index.json: not a webclip index".into(),
            ));
        }
        return Ok(fresh.clone());
    }
    let old: IndexInfo = serde_json::from_slice(&std::fs::read(&path).map_err(|e| io_err(&path, e))?)
        .map_err(|e| CliError::File(path.clone(), format!("not a webclip index.json: {e}")))?;
    if old.model_hash != fresh.model_hash {
        return Err(CliError::File(
            job.out.to_path_buf(),
            format!(
                "was indexed with another model ({} {}, this is {} {}): use a new --out",
                old.model_id, old.model_hash, fresh.model_id, fresh.model_hash
            ),
        ));
    }
    if !job.resume {
        return Err(CliError::File(
            job.out.to_path_buf(),
            "already holds an index: add --resume to finish it, or choose another --out".into(),
        ));
    }
    let same_plan = old.dtype == fresh.dtype
        && old.partition_size == fresh.partition_size
        && old.shard == fresh.shard
        && old.inputs == fresh.inputs;
    if !same_plan {
        return Err(CliError::File(
            job.out.to_path_buf(),
            format!(
                "--resume needs the same inputs and options as the first run (it had {} inputs, dtype {:?}, \
                 partition size {}, shard {:?}; now {} inputs, {:?}, {}, {:?})",
                old.inputs,
                old.dtype,
                old.partition_size,
                old.shard,
                fresh.inputs,
                fresh.dtype,
                fresh.partition_size,
                fresh.shard
            ),
        ));
    }
    Ok(old)
}

fn save_info(dir: &Path, info: &IndexInfo) -> Result<()> {
    let path = dir.join("index.json");
    let text = serde_json::to_string_pretty(info).map_err(|e| CliError::Other(e.to_string()))?;
    write_atomic(&path, |f| f.write_all(text.as_bytes()).map_err(|e| io_err(&path, e)))
}

/// Runs an index job (module docs).
pub fn run_index(clip: &Clip, job: &IndexJob, rep: &mut Reporter) -> Result<IndexSummary> {
    let t0 = Instant::now();
    let inputs = collect_inputs(job.sources)?;
    if inputs.is_empty() {
        return Err(CliError::Other("no image files found in the sources".into()));
    }
    let (model_id, model_hash) = model_identity(job.model_dir)?;
    let all = plan(inputs.len(), job.partition_size, job.shard);
    let shard_inputs: usize = all.iter().map(|(_, r)| r.len()).sum();
    let fresh = IndexInfo {
        layout: "clip-retrieval".into(),
        webclip_version: env!("CARGO_PKG_VERSION").into(),
        model_id,
        model_hash,
        model_path: job.model_dir.display().to_string(),
        embedding_dim: clip.embedding_dim(),
        dtype: job.dtype,
        partition_size: job.partition_size,
        shard: (job.shard[1] > 1).then_some(job.shard),
        inputs: shard_inputs,
        count: 0,
        skipped: 0,
        partitions: BTreeMap::new(),
        complete: false,
    };
    let mut info = open_index(job, &fresh)?;
    for d in ["img_emb", "metadata"] {
        let p = job.out.join(d);
        std::fs::create_dir_all(&p).map_err(|e| io_err(&p, e))?;
    }
    // A partition counts as done when both its files are there (each written atomically).
    info.partitions.retain(|&k, _| emb_path(job.out, k).exists() && meta_path(job.out, k).exists());
    let errors_path = job.out.join("errors.jsonl");
    let mut kept_errors = Vec::new();
    if let Ok(text) = std::fs::read_to_string(&errors_path) {
        for line in text.lines() {
            if let Ok(e) = serde_json::from_str::<ErrorLine>(line)
                && info.partitions.contains_key(&e.partition)
            {
                kept_errors.push(line.to_string());
            }
        }
    }
    info.skipped = kept_errors.len();
    info.count = info.partitions.values().sum();
    save_info(job.out, &info)?;
    let mut errors_file = std::fs::File::create(&errors_path).map_err(|e| io_err(&errors_path, e))?;
    for l in &kept_errors {
        writeln!(errors_file, "{l}").map_err(|e| io_err(&errors_path, e))?;
    }
    let todo: Vec<(usize, Range<usize>)> =
        all.iter().filter(|(k, _)| !info.partitions.contains_key(k)).cloned().collect();
    let resumed = all.len() - todo.len();
    if resumed > 0 {
        rep.note(&format!("resuming: {resumed} of {} partitions already done", all.len()));
    }
    let total: usize = todo.iter().map(|(_, r)| r.len()).sum();
    let bar = progress_bar(total, rep);
    let batch = clip.image_batch.max(1);
    let dim = clip.embedding_dim();
    let (mut embedded, mut skipped, mut written) = (0usize, 0usize, 0usize);
    let mut model_secs = 0.0f64;
    std::thread::scope(|s| -> Result<()> {
        // (partition, last batch of it, decoded files)
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, bool, Vec<(PathBuf, Decoded)>)>(2);
        let inputs = &inputs;
        let todo = &todo;
        s.spawn(move || {
            for (k, range) in todo {
                let paths = &inputs[range.clone()];
                let chunks: Vec<&[PathBuf]> = paths.chunks(batch).collect();
                for (c, chunk) in chunks.iter().enumerate() {
                    let decoded: Vec<(PathBuf, Decoded)> =
                        chunk.par_iter().map(|p| (p.clone(), decode_one(clip, p))).collect();
                    if tx.send((*k, c + 1 == chunks.len(), decoded)).is_err() {
                        return;
                    }
                }
            }
        });
        let mut rows: Vec<f32> = Vec::new();
        let mut metas: Vec<Meta> = Vec::new();
        let mut part_skipped = 0;
        for (k, last, decoded) in rx {
            let mut pixels = Vec::new();
            let mut ok = Vec::new();
            for (p, d) in decoded {
                match d {
                    Ok((m, px)) => {
                        pixels.extend(px);
                        ok.push(m);
                    }
                    Err(reason) => {
                        let line = ErrorLine { path: p.display().to_string(), reason, partition: k };
                        let text = serde_json::to_string(&line).map_err(|e| CliError::Other(e.to_string()))?;
                        writeln!(errors_file, "{text}").map_err(|e| io_err(&errors_path, e))?;
                        skipped += 1;
                        part_skipped += 1;
                    }
                }
            }
            if !ok.is_empty() {
                let t = Instant::now();
                let embs = pollster::block_on(clip.embed_pixels(pixels, ok.len()))?;
                model_secs += t.elapsed().as_secs_f64();
                for e in embs {
                    let start = rows.len();
                    rows.extend(e);
                    normalise_rows(&mut rows[start..], dim);
                }
                embedded += ok.len();
                metas.extend(ok);
            }
            bar.advance(embedded + skipped, rep);
            if last {
                write_npy(&emb_path(job.out, k), job.dtype, dim, &rows)?;
                write_meta(&meta_path(job.out, k), &metas)?;
                errors_file.flush().map_err(|e| io_err(&errors_path, e))?;
                info.partitions.insert(k, metas.len());
                info.count = info.partitions.values().sum();
                info.skipped += part_skipped;
                part_skipped = 0;
                save_info(job.out, &info)?;
                written += 1;
                rows.clear();
                metas.clear();
            }
        }
        Ok(())
    })?;
    bar.finish();
    info.complete = all.iter().all(|(k, _)| info.partitions.contains_key(k));
    save_info(job.out, &info)?;
    let seconds = t0.elapsed().as_secs_f64();
    Ok(IndexSummary {
        out: job.out.display().to_string(),
        inputs: shard_inputs,
        embedded,
        skipped,
        resumed_partitions: resumed,
        written_partitions: written,
        seconds,
        images_per_second: (embedded + skipped) as f64 / seconds.max(1e-9),
        model_busy_share: model_secs / seconds.max(1e-9),
        count: info.count,
    })
}

/// indicatif on a terminal (rate and ETA), the plain reporter otherwise.
struct Bar {
    bar: Option<indicatif::ProgressBar>,
    total: usize,
}

fn progress_bar(total: usize, rep: &Reporter) -> Bar {
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = (tty && !rep.is_quiet()).then(|| {
        let b = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "webclip: indexing {bar:30} {pos}/{len} images  {per_sec}  ETA {eta}",
        ) {
            b.set_style(style);
        }
        b
    });
    Bar { bar, total }
}

impl Bar {
    fn advance(&self, done: usize, rep: &mut Reporter) {
        match &self.bar {
            Some(b) => b.set_position(done as u64),
            None => rep.progress("indexing images", done, self.total),
        }
    }
    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// merge

/// `webclip index merge`: the partitions of shard (or any) indexes made with one model copied into
/// `out`, with one `index.json` and `errors.jsonl`. Refuses indexes of different models, dtypes
/// or partition sizes, and partition numbers that collide.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<IndexInfo> {
    let mut merged: Option<IndexInfo> = None;
    let mut errors = String::new();
    let mut shards_seen = Vec::new();
    if out.join("index.json").exists() {
        return Err(CliError::File(out.to_path_buf(), "already holds an index: merge into a new folder".into()));
    }
    for d in ["img_emb", "metadata"] {
        let p = out.join(d);
        std::fs::create_dir_all(&p).map_err(|e| io_err(&p, e))?;
    }
    for dir in inputs {
        let path = dir.join("index.json");
        let info: IndexInfo = serde_json::from_slice(&std::fs::read(&path).map_err(|e| io_err(&path, e))?)
            .map_err(|e| CliError::File(path.clone(), format!("not a webclip index.json: {e}")))?;
        if !info.complete {
            return Err(CliError::File(
                dir.clone(),
                "is not finished: run its index command again with --resume".into(),
            ));
        }
        let m = merged.get_or_insert_with(|| IndexInfo {
            shard: None,
            inputs: 0,
            count: 0,
            skipped: 0,
            partitions: BTreeMap::new(),
            ..info.clone()
        });
        if m.model_hash != info.model_hash || m.dtype != info.dtype || m.embedding_dim != info.embedding_dim {
            return Err(CliError::File(
                dir.clone(),
                format!(
                    "was made with another model or dtype ({} {:?}) than the first ({} {:?})",
                    info.model_hash, info.dtype, m.model_hash, m.dtype
                ),
            ));
        }
        if let Some(s) = info.shard {
            shards_seen.push(s);
        }
        for (&k, &rows) in &info.partitions {
            if m.partitions.insert(k, rows).is_some() {
                return Err(CliError::File(dir.clone(), format!("partition {k} is in two of the indexes")));
            }
            for (from, to) in [(emb_path(dir, k), emb_path(out, k)), (meta_path(dir, k), meta_path(out, k))] {
                std::fs::copy(&from, &to).map_err(|e| io_err(&from, e))?;
            }
        }
        m.inputs += info.inputs;
        m.count += info.count;
        m.skipped += info.skipped;
        if let Ok(t) = std::fs::read_to_string(dir.join("errors.jsonl")) {
            errors.push_str(&t);
        }
    }
    let mut m = merged.ok_or_else(|| CliError::Other("index merge needs at least one index".into()))?;
    // Complete when the shards of one split are all there (or the inputs were whole indexes).
    let n = shards_seen.first().map(|s| s[1]);
    let all_shards = n.is_none_or(|n| {
        let mut is: Vec<usize> = shards_seen.iter().filter(|s| s[1] == n).map(|s| s[0]).collect();
        is.sort_unstable();
        is == (0..n).collect::<Vec<_>>()
    });
    m.complete = all_shards;
    let ep = out.join("errors.jsonl");
    std::fs::write(&ep, errors).map_err(|e| io_err(&ep, e))?;
    save_info(out, &m)?;
    Ok(m)
}

// ---------------------------------------------------------------------------------------------
// search

/// One search result.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub image_path: String,
    /// Cosine similarity.
    pub score: f32,
    pub partition: usize,
    pub row: usize,
}

/// Reads `index.json` of `dir`.
pub fn read_info(dir: &Path) -> Result<IndexInfo> {
    let path = dir.join("index.json");
    serde_json::from_slice(&std::fs::read(&path).map_err(|e| io_err(&path, e))?)
        .map_err(|e| CliError::File(path.clone(), format!("not a webclip index.json: {e}")))
}

/// The `top_k` rows of the index in `dir` most similar to `query` (normalised here), exact:
/// every memory-mapped partition in blocks of rows over the cores, each block converted to
/// f32 once and multiplied with the query. Ties keep index order.
pub fn search_embeddings(dir: &Path, partitions: &[usize], query: &[f32], top_k: usize) -> Result<Vec<Found>> {
    let q = unit(query);
    let mut best: Vec<Found> = Vec::new();
    for &k in partitions {
        let npy = Npy::open(&emb_path(dir, k))?;
        let (rows, dim) = (npy.rows(), npy.dim());
        if dim != q.len() {
            return Err(CliError::File(
                emb_path(dir, k),
                format!("holds {dim}-dimensional embeddings; the query has {}", q.len()),
            ));
        }
        const BLOCK: usize = SEARCH_BLOCK;
        let blocks: Vec<Range<usize>> = (0..rows).step_by(BLOCK).map(|s| s..(s + BLOCK).min(rows)).collect();
        let found: Vec<Vec<Found>> = blocks
            .into_par_iter()
            .map_init(
                || (vec![0f32; BLOCK * dim], Vec::new()),
                |(buf, halves), r| {
                    let n = r.len();
                    npy.rows_f32(r.clone(), &mut buf[..n * dim], halves);
                    let mut top: Vec<Found> = Vec::with_capacity(top_k + 1);
                    scan_block(&mut top, &buf[..n * dim], &q, k, r.start, top_k);
                    top
                },
            )
            .collect();
        for t in found.into_iter().flatten() {
            push_top(&mut best, t, top_k);
        }
    }
    Ok(best)
}

/// Hits with their paths (reads the metadata of the partitions they are in).
pub fn resolve(dir: &Path, found: &[Found]) -> Result<Vec<Hit>> {
    let mut metas: BTreeMap<usize, Vec<Meta>> = BTreeMap::new();
    let mut out = Vec::new();
    for &(score, k, row) in found {
        if let std::collections::btree_map::Entry::Vacant(e) = metas.entry(k) {
            e.insert(read_meta(&meta_path(dir, k))?);
        }
        let m = metas.get(&k).and_then(|m| m.get(row)).ok_or_else(|| {
            CliError::File(meta_path(dir, k), format!("has no row {row}: embeddings and metadata disagree"))
        })?;
        out.push(Hit { image_path: m.image_path.clone(), score, partition: k, row });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_plans_tile_the_single_plan_in_order() {
        for inputs in [1usize, 7, 10, 11, 100, 1001] {
            for p in [1usize, 3, 10, 64] {
                let single: Vec<usize> = plan(inputs, p, [0, 1]).into_iter().flat_map(|(_, r)| r).collect();
                assert_eq!(single, (0..inputs).collect::<Vec<_>>());
                for n in [2usize, 3, 5, 200] {
                    let mut parts: Vec<(usize, Range<usize>)> = (0..n).flat_map(|i| plan(inputs, p, [i, n])).collect();
                    assert_eq!(parts, plan(inputs, p, [0, 1]), "shards deal the single plan out in order");
                    let ks: Vec<usize> = parts.iter().map(|(k, _)| *k).collect();
                    let mut sorted = ks.clone();
                    sorted.sort_unstable();
                    sorted.dedup();
                    assert_eq!(sorted.len(), ks.len(), "partition numbers collide: {inputs} {p} {n}");
                    parts.sort_by_key(|(k, _)| *k);
                    let rows: Vec<usize> = parts.into_iter().flat_map(|(_, r)| r).collect();
                    assert_eq!(rows, single, "{inputs} inputs, size {p}, {n} shards");
                }
            }
        }
    }

    #[test]
    fn shard_argument() {
        assert_eq!(parse_shard("1/4"), Ok([1, 4]));
        assert_eq!(parse_shard(" 0 / 1 "), Ok([0, 1]));
        for bad in ["4/4", "1/0", "x/2", "1", "-1/2"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn top_k_keeps_the_best_in_order() {
        let mut top = Vec::new();
        for (i, s) in [0.1f32, 0.9, 0.5, 0.9, 0.7, -1.0].into_iter().enumerate() {
            push_top(&mut top, (s, 0, i), 3);
        }
        assert_eq!(top.iter().map(|t| t.2).collect::<Vec<_>>(), vec![1, 3, 4]);
    }
}
