//! `webclip`: CLIP from the command line — embeddings, tokens, zero-shot classification,
//! text→image ranking and benchmarks — on the GPU (wgpu) or the CPU.
//!
//! Every error ends the process with exit code 1 and one line on stderr naming the problem;
//! usage errors exit with 2. Progress of long runs goes to stderr, results to stdout.

mod bench;
mod files;
mod index;
mod progress;
mod train;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use serde::Serialize;
use webclip::model::PrecisionChoice;
use webclip::model::cpu::Isa;
use webclip::{Clip, DeviceChoice, Templates};

use crate::progress::Reporter;

/// mimalloc keeps freed pages for reuse: the model's forward frees and reallocates
/// tensors of the same sizes every layer, and with glibc's malloc each large one came back as
/// fresh zeroed pages from the kernel (page faults were ~8 % of CPU inference time).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "webclip",
    version,
    about = "CLIP zero-shot classification, embeddings and search, on your GPU or CPU"
)]
struct Cli {
    /// Where to run: auto (a hardware GPU if present, else CPU), gpu (wgpu, any adapter), cpu.
    #[arg(long, global = true, default_value = "auto", value_parser = parse_device)]
    device: DeviceChoice,
    /// Inference precision: auto (f16 on a GPU with f16 arithmetic, else f32), f32, f16.
    /// Training always runs in f32.
    #[arg(long, global = true, default_value = "auto", value_parser = parse_precision)]
    precision: PrecisionChoice,
    /// No progress or device messages on stderr.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// CPU kernels' instruction set: avx512, avx2 or baseline (sse2 / neon). Default: the best
    /// the CPU has; a lower one tests or measures that path. Also WEBCLIP_CPU_ISA.
    #[arg(long, global = true, value_parser = parse_isa)]
    cpu_isa: Option<Isa>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct IndexArgs {
    #[command(subcommand)]
    action: Option<IndexAction>,
    /// The model folder.
    #[arg(long, required = true)]
    model: Option<PathBuf>,
    /// Folders (walked recursively for jpg, jpeg, png, webp, gif, bmp, tif, tiff), text files of
    /// paths (one per line, relative to the file), or - for paths on stdin.
    #[arg(required = true)]
    sources: Vec<PathBuf>,
    /// The index folder (created; with --resume, the unfinished index to complete).
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    /// Embedding dtype on disk.
    #[arg(long, default_value = "f16", value_parser = index::parse_dtype)]
    dtype: index::Dtype,
    /// Input files per partition (img_emb_{k}.npy + metadata_{k}.parquet).
    #[arg(long, default_value_t = 10_000)]
    partition_size: usize,
    /// Index shard I of N (0-based) of the sorted inputs: N processes (a Slurm array, Spark
    /// tasks) each run one, and `index merge` (or copying the folders together) joins them.
    #[arg(long, value_parser = index::parse_shard)]
    shard: Option<[usize; 2]>,
    /// Finish an interrupted run: partitions already written are kept, the rest redone.
    #[arg(long)]
    resume: bool,
    /// Print a JSON summary at the end.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum IndexAction {
    /// Join indexes made with one model (the shards of a split) into a new folder.
    Merge {
        #[arg(required = true)]
        indexes: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct SearchArgs {
    /// The index folder.
    #[arg(long)]
    index: PathBuf,
    /// The model folder (default: the one the index was made with, from index.json).
    #[arg(long)]
    model: Option<PathBuf>,
    /// A text query.
    #[arg(long, conflicts_with = "image", required_unless_present = "image")]
    text: Option<String>,
    /// An image query ("more like this").
    #[arg(long)]
    image: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    top_k: usize,
    #[arg(long)]
    json: bool,
}

fn parse_device(s: &str) -> std::result::Result<DeviceChoice, String> {
    s.parse().map_err(|e: webclip::Error| e.to_string())
}

fn parse_isa(s: &str) -> std::result::Result<Isa, String> {
    Isa::parse(s).map_err(|e| e.to_string())
}

fn parse_precision(s: &str) -> std::result::Result<PrecisionChoice, String> {
    s.parse().map_err(|e: webclip::Error| e.to_string())
}

#[derive(Subcommand)]
enum Command {
    /// Projected, unnormalised embeddings (HF get_image_features / get_text_features).
    Embed {
        /// Model folder (HF: config.json, model.safetensors, tokenizer.json; or OpenCLIP).
        #[arg(long)]
        model: PathBuf,
        /// An image file (repeatable).
        #[arg(long = "image")]
        images: Vec<PathBuf>,
        /// A text (repeatable).
        #[arg(long = "text")]
        texts: Vec<String>,
        /// Print JSON: {"image_embeds", "text_embeds", "logit_scale"}.
        #[arg(long)]
        json: bool,
    },
    /// Token ids with start/end tokens, truncated to the context, unpadded.
    Tokenize {
        #[arg(long)]
        model: PathBuf,
        /// Texts to tokenize.
        #[arg(required = true)]
        texts: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Zero-shot classification of images against class names.
    Classify {
        #[arg(long)]
        model: PathBuf,
        /// A class name (repeatable).
        #[arg(long = "label")]
        labels: Vec<String>,
        /// A file with one class name per line.
        #[arg(long)]
        labels_file: Option<PathBuf>,
        /// Prompt templates: auto (each label in its language's: Korean, Japanese, Chinese by
        /// script, else "a photo of a {}."), default, stl10, cifar, imagenet, ko, ja, zh, es, fr,
        /// de, or a file with one template per line, each with {} where the class name goes.
        #[arg(long, default_value = "auto")]
        templates: String,
        /// Show only the K most probable classes.
        #[arg(long)]
        top_k: Option<usize>,
        /// Image files.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Rank images by similarity to a text.
    Rank {
        #[arg(long)]
        model: PathBuf,
        /// The query.
        #[arg(long)]
        text: String,
        /// Image files.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Embed a photo collection into a clip-retrieval index (img_emb/*.npy, metadata/*.parquet,
    /// index.json); `index merge` joins shard indexes. Exit code 3: finished, but some files were
    /// skipped (listed in errors.jsonl).
    Index(IndexArgs),
    /// Exact cosine search of an index by a text or an image.
    Search(SearchArgs),
    /// Contrastive fine-tuning on image-text pairs (JSONL or class folders); writes an HF folder.
    Finetune(train::FinetuneArgs),
    /// Train a tiny CLIP from scratch on the procedural shapes world and report zero-shot accuracy.
    TrainShapes(train::TrainShapesArgs),
    /// Write shapes-world images and captions (PNG + captions.jsonl).
    Shapes(train::ShapesArgs),
    /// WiSE-FT: interpolate a base and a fine-tuned model's weights.
    WiseFt(train::WiseArgs),
    /// Rewrite a model folder as an HF folder in f16 or f32.
    Convert(train::ConvertArgs),
    /// Benchmark ViT-B/32-sized random weights: image embeds/s at batch 1 and 8, texts/s at
    /// batch 32 (77 tokens), peak memory.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    quiet_wayland_probe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let msg = e.to_string().replace('\n', " ");
            eprintln!("webclip: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// When wgpu looks for adapters, Mesa's drivers try to reach a Wayland compositor, and
/// libwayland prints "error: XDG_RUNTIME_DIR is invalid or not set" on headless machines — a
/// confusing line on a terminal that has nothing to do with the user's command. With the
/// variable pointing at the temp dir, the probe fails quietly. Called first thing in `main`,
/// before any thread exists.
fn quiet_wayland_probe() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: single-threaded at this point (nothing has been spawned yet).
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
}

/// CLI-level errors: the core's, plus file access.
#[derive(Debug)]
pub enum CliError {
    Core(webclip::Error),
    File(PathBuf, String),
    Other(String),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Core(e) => write!(f, "{e}"),
            CliError::File(p, e) => write!(f, "{}: {e}", p.display()),
            CliError::Other(s) => write!(f, "{s}"),
        }
    }
}

impl From<webclip::Error> for CliError {
    fn from(e: webclip::Error) -> Self {
        CliError::Core(e)
    }
}

type Result<T> = std::result::Result<T, CliError>;

fn print_json<T: Serialize>(value: &T) -> Result<()> {
    let s = serde_json::to_string(value).map_err(|e| CliError::Other(format!("could not write JSON: {e}")))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{s}").map_err(|e| CliError::Other(format!("could not write to stdout: {e}")))
}

fn load(model: &Path, device: DeviceChoice, precision: PrecisionChoice, rep: &mut Reporter) -> Result<Clip> {
    let (files, weights) = files::read_model_dir_streaming(model)?;
    let (dev, info) = webclip::device::open(device)?;
    rep.note(&format!("device: {}", info.name));
    if let Some(note) = &info.note {
        rep.note(note);
    }
    let t = Instant::now();
    let in_model = |e: webclip::Error| CliError::File(model.to_path_buf(), e.to_string());
    let clip = match weights {
        // HF folders stream: each tensor goes to the device as it is read, so the file and
        // the weights are never in memory together.
        Some(path) => {
            let mut load = Clip::begin_load(&files, &dev).map_err(in_model)?.with_precision(precision)?;
            let file = std::fs::File::open(&path).map_err(|e| CliError::File(path.clone(), files::io_reason(&e)))?;
            // SAFETY: the map is read-only; a file truncated by another process meanwhile would
            // fault (SIGBUS) rather than be misread, as for every program that maps model files
            // (PyTorch's safetensors too).
            let map =
                unsafe { memmap2::Mmap::map(&file) }.map_err(|e| CliError::File(path.clone(), files::io_reason(&e)))?;
            // An all-f32 file run on the CPU in f32: its tensors become the weights in place (the
            // map is kept alive by them; nothing is copied or allocated, see
            // `StreamingSource::push_shared`), the pages read in as the first forward touches
            // them. `inspect` reads the header only.
            let all_f32 = webclip::loader::inspect(&map).is_ok_and(|t| t.values().all(|(dtype, _)| dtype == "F32"));
            if load.shares_f32() && all_f32 {
                load.push_shared(bytes::Bytes::from_owner(map)).map_err(in_model)?;
            } else {
                let _ = map.advise(memmap2::Advice::Sequential);
                // Tensors are converted straight from the mapped pages, 64 MiB at a time, and
                // each range is released from this process once used, so the file's pages and
                // the weights made from them are never resident together.
                const STEP: usize = 64 << 20;
                for (i, chunk) in map.chunks(STEP).enumerate() {
                    load.push(chunk).map_err(in_model)?;
                    // SAFETY: a private read-only file mapping: dropped pages read back from
                    // the file if touched again (they are not).
                    let _ = unsafe {
                        map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, i * STEP, chunk.len())
                    };
                }
                drop(map);
            }
            pollster::block_on(load.finish()).map_err(in_model)?
        }
        None => pollster::block_on(Clip::load(&files, &dev)).map_err(in_model)?,
    }
    .with_precision(precision)?;
    rep.note(&format!(
        "loaded {} in {:.2} s ({})",
        model.display(),
        t.elapsed().as_secs_f64(),
        clip.precision().as_str()
    ));
    Ok(clip)
}

fn read_file(p: &Path) -> Result<Vec<u8>> {
    std::fs::read(p).map_err(|e| CliError::File(p.to_path_buf(), files::io_reason(&e)))
}

/// Vets every image from its header (exists, readable, a supported format, within the pixel
/// limit) before the model loads, so a bad file fails the run in seconds.
fn probe_images(paths: &[PathBuf]) -> Result<()> {
    for p in paths {
        webclip::preprocess::probe(&read_file(p)?).map_err(|e| CliError::File(p.clone(), e.to_string()))?;
    }
    Ok(())
}

/// Decodes and embeds images a batch at a time: only two batches of photos are ever in memory
/// (the one the model runs and the next), however many paths are given. A second thread reads,
/// decodes and preprocesses the next batch while the model runs the current one, so file
/// reading and image decoding take no time of their own.
fn embed_paths(clip: &Clip, paths: &[PathBuf], rep: &mut Reporter) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(paths.len());
    let prepare = |chunk: &[PathBuf]| -> Result<Vec<f32>> {
        let mut pixels = Vec::new();
        for p in chunk {
            let img =
                webclip::preprocess::decode(&read_file(p)?).map_err(|e| CliError::File(p.clone(), e.to_string()))?;
            pixels.extend(clip.prepare_image(&img));
        }
        Ok(pixels)
    };
    std::thread::scope(|s| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Result<Vec<f32>>)>(1);
        s.spawn(move || {
            for chunk in paths.chunks(clip.image_batch.max(1)) {
                let prepared = prepare(chunk);
                let failed = prepared.is_err();
                if tx.send((chunk.len(), prepared)).is_err() || failed {
                    return;
                }
            }
        });
        for (n, pixels) in rx {
            out.extend(pollster::block_on(clip.embed_pixels(pixels?, n))?);
            rep.progress("embedding images", out.len(), paths.len());
        }
        Ok(())
    })?;
    Ok(out)
}

fn run(cli: Cli) -> Result<ExitCode> {
    let mut rep = Reporter::new(cli.quiet);
    if let Some(isa) = cli.cpu_isa {
        webclip::model::cpu::isa::force(Some(isa))?;
    }
    match cli.command {
        Command::Index(a) => return run_index(a, cli.device, cli.precision, &mut rep),
        Command::Search(a) => {
            run_search(a, cli.device, cli.precision, &mut rep)?;
        }
        Command::Embed { model, images, texts, json } => {
            if images.is_empty() && texts.is_empty() {
                return Err(CliError::Other("nothing to embed: give --image PATH and/or --text TEXT".into()));
            }
            probe_images(&images)?;
            let clip = load(&model, cli.device, cli.precision, &mut rep)?;
            let image_embeds = embed_paths(&clip, &images, &mut rep)?;
            let text_embeds = pollster::block_on(clip.embed_texts(&texts, Some(&mut rep.callback("embedding texts"))))?;
            rep.done();
            #[derive(Serialize)]
            struct Out {
                image_embeds: Vec<Vec<f32>>,
                text_embeds: Vec<Vec<f32>>,
                logit_scale: f32,
                /// SigLIP only.
                #[serde(skip_serializing_if = "Option::is_none")]
                logit_bias: Option<f32>,
            }
            let out = Out { image_embeds, text_embeds, logit_scale: clip.logit_scale(), logit_bias: clip.logit_bias() };
            if json {
                print_json(&out)?;
            } else {
                for (p, e) in images.iter().zip(&out.image_embeds) {
                    println!("{}\t{}", p.display(), preview(e));
                }
                for (t, e) in texts.iter().zip(&out.text_embeds) {
                    println!("{t:?}\t{}", preview(e));
                }
                println!("logit_scale\t{} (temperature ×{:.2})", out.logit_scale, out.logit_scale.exp());
                if let Some(b) = out.logit_bias {
                    println!("logit_bias\t{b}");
                }
            }
        }
        Command::Tokenize { model, texts, json } => {
            let files = files::read_model_dir_tokenizer(&model)?;
            let tok = webclip::Tokenizer::from_bytes(&files.0, files.1)?;
            // Unpadded ids: what the tokenizer makes; SigLIP's padding to the context is the
            // model's (`webclip::Tokenizer::batch`).
            let ids: Vec<Vec<u32>> = texts.iter().map(|t| tok.encode(t)).collect::<webclip::Result<_>>()?;
            if json {
                print_json(&ids)?;
            } else {
                for (t, i) in texts.iter().zip(&ids) {
                    println!("{t:?}\t{}", i.iter().map(u32::to_string).collect::<Vec<_>>().join(" "));
                }
            }
        }
        Command::Classify { model, mut labels, labels_file, templates, top_k, images, json } => {
            if let Some(f) = &labels_file {
                let text = std::fs::read_to_string(f).map_err(|e| CliError::File(f.clone(), files::io_reason(&e)))?;
                labels.extend(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from));
            }
            webclip::zeroshot::check_labels(&labels)?;
            let templates = resolve_templates(&templates)?;
            if top_k == Some(0) {
                return Err(CliError::Other("--top-k must be at least 1".into()));
            }
            // Inputs first: a bad image fails before the model is loaded.
            probe_images(&images)?;
            let clip = load(&model, cli.device, cli.precision, &mut rep)?;
            let t = Instant::now();
            let head =
                pollster::block_on(clip.classifier(&labels, &templates, Some(&mut rep.callback("encoding labels"))))?;
            rep.note(&format!(
                "{} labels × {} templates in {:.2} s",
                labels.len(),
                templates.as_slice().len(),
                t.elapsed().as_secs_f64()
            ));
            let t = Instant::now();
            let embeds = embed_paths(&clip, &images, &mut rep)?;
            let scores: Vec<Vec<webclip::LabelScore>> =
                embeds.iter().map(|e| head.classify(e, clip.scoring(), top_k)).collect();
            rep.note(&format!("{} images in {:.2} s", images.len(), t.elapsed().as_secs_f64()));
            rep.done();
            #[derive(Serialize)]
            struct Out<'a> {
                image: String,
                /// "softmax" (CLIP: the probabilities sum to 1 over the labels) or "sigmoid"
                /// (SigLIP: one independent probability per label).
                scoring: &'static str,
                scores: &'a [webclip::LabelScore],
            }
            let scoring = clip.scoring().name();
            let out: Vec<Out> = images
                .iter()
                .zip(&scores)
                .map(|(p, s)| Out { image: p.display().to_string(), scoring, scores: s })
                .collect();
            if json {
                print_json(&out)?;
            } else {
                if scoring == "sigmoid" {
                    println!("(SigLIP: each label's probability is on its own, so they need not sum to 100%)");
                }
                for o in &out {
                    println!("{}", o.image);
                    for s in o.scores {
                        println!("  {:>6.2}%  {}", s.prob * 100.0, s.label);
                    }
                }
            }
        }
        Command::Rank { model, text, images, json } => {
            probe_images(&images)?;
            let clip = load(&model, cli.device, cli.precision, &mut rep)?;
            let query = pollster::block_on(clip.embed_texts(&[text.as_str()], None))?;
            let ranked = webclip::zeroshot::rank(&query[0], &embed_paths(&clip, &images, &mut rep)?);
            rep.done();
            #[derive(Serialize)]
            struct Out {
                image: String,
                index: usize,
                score: f32,
            }
            let out: Vec<Out> = ranked
                .iter()
                .map(|r| Out { image: images[r.index].display().to_string(), index: r.index, score: r.score })
                .collect();
            if json {
                print_json(&out)?;
            } else {
                for o in &out {
                    println!("{:>7.4}  {}", o.score, o.image);
                }
            }
        }
        Command::Bench(args) => bench::run(args, cli.device, cli.precision, &mut rep)?,
        Command::Finetune(args) => train::finetune(args, cli.device, &mut rep)?,
        Command::TrainShapes(args) => train::train_shapes(args, cli.device, &mut rep)?,
        Command::Shapes(args) => train::shapes(args)?,
        Command::WiseFt(args) => train::wise(args, cli.device, &mut rep)?,
        Command::Convert(args) => train::convert(args, cli.device, &mut rep)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn run_index(a: IndexArgs, device: DeviceChoice, precision: PrecisionChoice, rep: &mut Reporter) -> Result<ExitCode> {
    if let Some(IndexAction::Merge { indexes, out }) = a.action {
        let info = index::merge(&indexes, &out)?;
        rep.note(&format!(
            "merged {} indexes into {}: {} partitions, {} rows, {} skipped files{}",
            indexes.len(),
            out.display(),
            info.partitions.len(),
            info.count,
            info.skipped,
            if info.complete { "" } else { " (not every shard of the split is there)" }
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(model), Some(out)) = (a.model, a.out) else {
        return Err(CliError::Other("index needs --model and --out".into()));
    };
    if a.partition_size == 0 {
        return Err(CliError::Other("--partition-size must be at least 1".into()));
    }
    let clip = load(&model, device, precision, rep)?;
    let job = index::IndexJob {
        model_dir: &model,
        sources: &a.sources,
        out: &out,
        dtype: a.dtype,
        partition_size: a.partition_size,
        shard: a.shard.unwrap_or([0, 1]),
        resume: a.resume,
    };
    let s = index::run_index(&clip, &job, rep)?;
    rep.done();
    if a.json {
        print_json(&s)?;
    } else {
        rep.note(&format!(
            "indexed {} images in {:.1} s ({:.1} images/s, model busy {:.0} % of the time) into {}: {} rows{}",
            s.embedded,
            s.seconds,
            s.images_per_second,
            s.model_busy_share * 100.0,
            s.out,
            s.count,
            if s.skipped > 0 { format!(", {} files skipped (see errors.jsonl)", s.skipped) } else { String::new() }
        ));
    }
    Ok(if s.skipped > 0 { ExitCode::from(index::EXIT_SKIPPED) } else { ExitCode::SUCCESS })
}

fn run_search(a: SearchArgs, device: DeviceChoice, precision: PrecisionChoice, rep: &mut Reporter) -> Result<()> {
    if a.top_k == 0 {
        return Err(CliError::Other("--top-k must be at least 1".into()));
    }
    let info = index::read_info(&a.index)?;
    let model = a.model.unwrap_or_else(|| PathBuf::from(&info.model_path));
    let (_, hash) = index::model_identity(&model)?;
    if hash != info.model_hash {
        return Err(CliError::File(
            model,
            format!("is not the model this index was made with ({} {})", info.model_id, info.model_hash),
        ));
    }
    if let Some(img) = &a.image {
        probe_images(std::slice::from_ref(img))?;
    }
    let clip = load(&model, device, precision, rep)?;
    let query = match (&a.text, &a.image) {
        (Some(t), _) => pollster::block_on(clip.embed_texts(&[t], None))?,
        (None, Some(img)) => embed_paths(&clip, std::slice::from_ref(img), rep)?,
        (None, None) => return Err(CliError::Other("search needs --text or --image".into())),
    }
    .into_iter()
    .next()
    .ok_or_else(|| CliError::Other("the query gave no embedding".into()))?;
    let t = Instant::now();
    let parts: Vec<usize> = info.partitions.keys().copied().collect();
    let found = index::search_embeddings(&a.index, &parts, &query, a.top_k)?;
    let hits = index::resolve(&a.index, &found)?;
    rep.note(&format!("searched {} embeddings in {:.1} ms", info.count, t.elapsed().as_secs_f64() * 1e3));
    rep.done();
    if a.json {
        print_json(&hits)?;
    } else {
        for h in &hits {
            println!("{:.4}\t{}", h.score, h.image_path);
        }
    }
    Ok(())
}

fn resolve_templates(spec: &str) -> Result<Templates> {
    match spec {
        name if Templates::named(name).is_ok() => Ok(Templates::named(name)?),
        path if !Path::new(path).exists() => Err(CliError::Other(format!(
            "--templates {path:?} is neither a template set (auto, default, stl10, cifar, imagenet, ko, ja, zh, es, fr, de) nor a file"
        ))),
        path => {
            let p = PathBuf::from(path);
            let text = std::fs::read_to_string(&p).map_err(|e| CliError::File(p.clone(), files::io_reason(&e)))?;
            Templates::from_lines(&text).map_err(|e| CliError::File(p, e.to_string()))
        }
    }
}

fn preview(e: &[f32]) -> String {
    let head: Vec<String> = e.iter().take(4).map(|x| format!("{x:.4}")).collect();
    format!("[{}, … {} dims]", head.join(", "), e.len())
}
