//! `webclip finetune`, `webclip train-shapes`, `webclip shapes`, `webclip wise-ft`.
//!
//! The loop is deterministic: the batch of step `s` depends only on the data, the seed and `s`
//! (epoch `s / steps_per_epoch` is a seeded permutation; `--no-shuffle` keeps file order), so a
//! run resumed from a checkpoint sees exactly the batches the uninterrupted run would have.
//! Checkpoints are complete HF folders plus `trainer_state.json` and `optimizer.safetensors`,
//! written to temporary names and renamed, so a crash mid-write never leaves a broken folder.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::json;
use webclip::export::{HfFolder, WeightDtype, export_hf};
use webclip::shapes::{ShapesRecipe, ShapesWorld, Split};
use webclip::train::{TrainConfig, TrainOptions, Trainer, TrainerState};
use webclip::{Clip, DeviceChoice, RgbImage, Templates};

use crate::progress::Reporter;
use crate::{CliError, Result, files, print_json, read_file};

/// The CLIP tokenizer (real vocab) the from-scratch shapes model is trained with: the file
/// tests/reference/generate.py builds from open_clip's MIT-licensed BPE merges.
pub(crate) const CLIP_TOKENIZER: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/tokenizer.json"));

#[derive(Args, Clone)]
pub struct Hyper {
    /// What trains: projections, last:N (last N blocks of each tower) or all.
    #[arg(long = "train", default_value = "all")]
    pub train: String,
    /// Keep the image tower and its projection as they are (LiT).
    #[arg(long, conflicts_with = "lock_text")]
    pub lock_image: bool,
    /// Keep the text tower and its projection as they are.
    #[arg(long)]
    pub lock_text: bool,
    /// Peak learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Weight decay (on matrices only).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Linear warmup steps (default: 10 % of the steps).
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Clip the global gradient norm (0: off).
    #[arg(long, default_value_t = 1.0)]
    pub grad_clip: f64,
    /// Micro-batches per step (gradient accumulation with cached features).
    #[arg(long, default_value_t = 1)]
    pub accum: usize,
    /// The contrastive loss: softmax (CLIP's InfoNCE) or sigmoid (SigLIP's pairwise loss;
    /// better at small batches). Default: the model family's own.
    #[arg(long)]
    pub loss: Option<String>,
    /// Random seed (data order, initial weights for train-shapes).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// One JSON object per step on stdout: {"step", "loss", "lr", "logit_scale"} (+ "logit_bias"
    /// with the sigmoid loss; steps count from 1; the loss is the batch's before that step's
    /// update).
    #[arg(long)]
    pub json: bool,
    /// Write a checkpoint every N steps (and always at the end).
    #[arg(long)]
    pub save_every: Option<usize>,
    /// Continue the run checkpointed in --out.
    #[arg(long)]
    pub resume: bool,
    /// Weight dtype of the written model: f32 (exact resume), f16 (half the size) or q8 (int8
    /// matrices with per-row scales, a quarter: for shipping, not for resuming).
    #[arg(long, default_value = "f32")]
    pub dtype: String,
}

#[derive(Args)]
pub struct FinetuneArgs {
    /// The model to start from (HF or OpenCLIP folder).
    #[arg(long)]
    pub model: PathBuf,
    /// A JSONL file of {"image": path, "text": caption} (paths relative to the file), or a
    /// folder of class subfolders (caption = --template with the folder name).
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder: a complete HF CLIP folder (plus the optimiser state for --resume).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of optimiser steps.
    #[arg(long, conflicts_with = "epochs")]
    pub steps: Option<usize>,
    /// Number of passes over the data (alternative to --steps).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Image-text pairs per step (default: 32, or all pairs when fewer).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Keep the file order instead of shuffling each epoch.
    #[arg(long)]
    pub no_shuffle: bool,
    /// Caption template for a folder of classes.
    #[arg(long, default_value = "a photo of a {}.")]
    pub template: String,
    #[command(flatten)]
    pub hyper: Hyper,
}

#[derive(Args)]
pub struct TrainShapesArgs {
    /// Output folder for the trained model (HF layout).
    #[arg(long)]
    pub out: PathBuf,
    /// Optimiser steps of the schedule.
    #[arg(long, default_value_t = ShapesRecipe::default().steps)]
    pub steps: usize,
    /// Image-text pairs per step (class-balanced: up to 20, every pair a different class).
    #[arg(long, default_value_t = ShapesRecipe::default().batch_size)]
    pub batch_size: usize,
    /// Evaluate zero-shot accuracy every N steps (0: only at the end).
    #[arg(long, default_value_t = 500)]
    pub eval_every: usize,
    /// Evaluation images per class.
    #[arg(long, default_value_t = 20)]
    pub eval_per_class: usize,
    /// Curriculum: clean images for this fraction of the steps, then a ramp to the full world
    /// over as many steps again (0: the full world from the start; 0.5 reaches it at the end;
    /// above 0.5 the run ends before it; 1: clean throughout).
    #[arg(long, default_value_t = ShapesRecipe::default().curriculum)]
    pub curriculum: f64,
    /// Stop after this many steps, with the learning rate and the curriculum still following the
    /// schedule of --steps: the first N steps of that run (what the page's Learn view does; a
    /// later --resume with a larger value goes on).
    #[arg(long)]
    pub stop_after: Option<usize>,
    /// Side of the model's square input images, a multiple of the patch size 8 (the world is
    /// drawn at 64 pixels, or this size when larger, and resized by the model's preprocessing).
    #[arg(long, default_value_t = ShapesRecipe::default().image_size)]
    pub image_size: usize,
    #[command(flatten)]
    pub hyper: Hyper,
}

#[derive(Args)]
pub struct ShapesArgs {
    /// Folder to write PNGs and captions.jsonl into.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of images.
    #[arg(long, default_value_t = 24)]
    pub count: usize,
    /// train (seen combinations), held-out, or all.
    #[arg(long, default_value = "all")]
    pub split: String,
    /// Image side in pixels.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args)]
pub struct ConvertArgs {
    /// The model folder to convert (HF or OpenCLIP).
    #[arg(long)]
    pub model: PathBuf,
    /// Output folder (HF layout).
    #[arg(long)]
    pub out: PathBuf,
    /// Weight dtype to write: f32, f16 or q8 (int8 Linear and token-embedding matrices with one
    /// scale per output channel, the rest f16: about a quarter of f32).
    #[arg(long, default_value = "f16")]
    pub dtype: String,
}

#[derive(Args)]
pub struct WiseArgs {
    /// The model fine-tuning started from.
    #[arg(long)]
    pub base: PathBuf,
    /// The fine-tuned model.
    #[arg(long)]
    pub finetuned: PathBuf,
    /// Weight of the fine-tuned model: 0 = base, 1 = fine-tuned.
    #[arg(long)]
    pub alpha: f64,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value = "f32")]
    pub dtype: String,
}

/// A flag's value through the core's parser (`FromStr`), the error naming the flag.
fn flag<T: std::str::FromStr<Err = webclip::Error>>(name: &str, value: &str) -> Result<T> {
    value.parse().map_err(|e: webclip::Error| CliError::Other(format!("{name}: {e}")))
}

/// One image-text pair of a data set: the image is read when its batch comes.
#[derive(Debug, Clone)]
struct Pair {
    image: PathBuf,
    text: String,
}

/// Reads a JSONL or class-folder data set, checking every image from its header.
fn read_data(path: &Path, template: &str, rep: &mut Reporter) -> Result<Vec<Pair>> {
    let pairs = if path.is_dir() {
        Templates::custom(&[template])?;
        let mut classes: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| CliError::File(path.to_path_buf(), files::io_reason(&e)))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        classes.sort();
        if classes.is_empty() {
            return Err(CliError::File(
                path.to_path_buf(),
                "no class subfolders (expected DATA/<class>/<image>)".into(),
            ));
        }
        let mut pairs = Vec::new();
        for dir in classes {
            let name = dir.file_name().map(|n| n.to_string_lossy().replace(['_', '-'], " ")).unwrap_or_default();
            let mut imgs: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| CliError::File(dir.clone(), files::io_reason(&e)))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.file_name().and_then(|e| e.to_str()).is_some_and(webclip::index::has_image_extension))
                .collect();
            imgs.sort();
            pairs.extend(imgs.into_iter().map(|image| Pair { image, text: Templates::fill(template, &name) }));
        }
        pairs
    } else {
        let text =
            std::fs::read_to_string(path).map_err(|e| CliError::File(path.to_path_buf(), files::io_reason(&e)))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut pairs = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let at = |msg: String| CliError::Other(format!("{}:{}: {msg}", path.display(), i + 1));
            #[derive(Deserialize)]
            struct Row {
                image: Option<String>,
                text: Option<String>,
            }
            let row: Row = serde_json::from_str(line).map_err(|e| at(format!("not a JSON object ({e})")))?;
            let image = row.image.ok_or_else(|| at("missing \"image\"".into()))?;
            let text = row.text.ok_or_else(|| at("missing \"text\"".into()))?;
            pairs.push(Pair { image: base.join(image), text });
        }
        pairs
    };
    if pairs.len() < 2 {
        return Err(CliError::File(
            path.to_path_buf(),
            format!("{} image-text pairs; contrastive training needs at least 2", pairs.len()),
        ));
    }
    for (i, p) in pairs.iter().enumerate() {
        webclip::preprocess::probe(&read_file(&p.image)?)
            .map_err(|e| CliError::File(p.image.clone(), e.to_string()))?;
        rep.progress("checking images", i + 1, pairs.len());
    }
    Ok(pairs)
}

/// The flags as the core's training options, resolved against the command's `defaults`.
fn train_config(h: &Hyper, defaults: TrainConfig) -> Result<TrainConfig> {
    let options = TrainOptions {
        train: Some(flag("--train", &h.train)?),
        lock_image: Some(h.lock_image),
        lock_text: Some(h.lock_text),
        lr: h.lr,
        weight_decay: h.weight_decay,
        warmup: h.warmup,
        grad_clip: Some(h.grad_clip),
        accum: Some(h.accum),
        loss: h.loss.as_deref().map(|l| flag("--loss", l)).transpose()?,
        ..TrainOptions::default()
    };
    Ok(options.resolve(defaults)?)
}

/// What `trainer_state.json` records: enough to refuse a --resume with other settings.
#[derive(Serialize, Deserialize, PartialEq, Debug, Clone)]
struct RunInfo {
    command: String,
    data: String,
    seed: u64,
    batch_size: usize,
    steps: usize,
    train: String,
    lock_image: bool,
    lock_text: bool,
    shuffle: bool,
    /// `--loss` as given ("" = the family's own; absent in checkpoints from before the flag).
    #[serde(default)]
    loss: String,
    step: usize,
    updates: u64,
}

fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(|e| CliError::File(tmp.clone(), files::io_reason(&e)))?;
    std::fs::rename(&tmp, dir.join(name)).map_err(|e| CliError::File(dir.join(name), files::io_reason(&e)))
}

/// Writes the model (HF folder) and the optimiser state to `out`.
fn save(out: &Path, trainer: &Trainer, run: &mut RunInfo, dtype: WeightDtype) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| CliError::File(out.to_path_buf(), files::io_reason(&e)))?;
    let clip = pollster::block_on(trainer.snapshot())?;
    let folder: HfFolder = pollster::block_on(export_hf(&clip, dtype))?;
    for (name, bytes) in folder.files() {
        write_atomically(out, name, bytes)?;
    }
    let state: TrainerState = pollster::block_on(trainer.state())?;
    let bytes = state.to_safetensors()?;
    write_atomically(out, "optimizer.safetensors", &bytes)?;
    run.step = state.step;
    run.updates = state.updates;
    let json = serde_json::to_vec_pretty(run).map_err(|e| CliError::Other(e.to_string()))?;
    write_atomically(out, "trainer_state.json", &json)
}

/// Reads a checkpoint's optimiser state and run record.
fn load_state(out: &Path) -> Result<(RunInfo, TrainerState)> {
    let info: RunInfo = serde_json::from_slice(&read_file(&out.join("trainer_state.json"))?)
        .map_err(|e| CliError::File(out.join("trainer_state.json"), format!("not a webclip checkpoint ({e})")))?;
    let bytes = read_file(&out.join("optimizer.safetensors"))?;
    let mut state = TrainerState::from_safetensors(&bytes)
        .map_err(|e| CliError::File(out.join("optimizer.safetensors"), e.to_string()))?;
    state.step = info.step;
    state.updates = info.updates;
    Ok((info, state))
}

/// Produces the batch of a step (counting from 1).
trait Batches {
    fn batch(&self, step: usize) -> Result<(Vec<RgbImage>, Vec<String>)>;
}

struct FileBatches {
    pairs: Vec<Pair>,
    batch: usize,
    seed: u64,
    shuffle: bool,
}

impl FileBatches {
    fn steps_per_epoch(&self) -> usize {
        self.pairs.len() / self.batch
    }
}

impl Batches for FileBatches {
    fn batch(&self, step: usize) -> Result<(Vec<RgbImage>, Vec<String>)> {
        let spe = self.steps_per_epoch();
        let index = step.saturating_sub(1);
        let (epoch, pos) = (index / spe, index % spe);
        let order = if self.shuffle {
            webclip::rng::permutation(self.pairs.len(), self.seed, epoch as u64)
        } else {
            (0..self.pairs.len()).collect()
        };
        let mut imgs = Vec::with_capacity(self.batch);
        let mut texts = Vec::with_capacity(self.batch);
        for &i in &order[pos * self.batch..(pos + 1) * self.batch] {
            let p = &self.pairs[i];
            imgs.push(
                webclip::preprocess::decode(&read_file(&p.image)?)
                    .map_err(|e| CliError::File(p.image.clone(), e.to_string()))?,
            );
            texts.push(p.text.clone());
        }
        Ok((imgs, texts))
    }
}

/// The shapes recipe's batches (class-balanced, with its curriculum; see
/// `webclip::shapes::ShapesRecipe`).
struct ShapeBatches {
    recipe: ShapesRecipe,
    seed: u64,
}

impl Batches for ShapeBatches {
    fn batch(&self, step: usize) -> Result<(Vec<RgbImage>, Vec<String>)> {
        let samples = self.recipe.batch(self.seed, step);
        Ok(samples.into_iter().map(|s| (s.image, s.caption)).unzip())
    }
}

/// Runs steps `trainer.step_count()..steps`, reporting and checkpointing. A non-finite loss ends
/// the run after saving the last good weights.
#[allow(clippy::too_many_arguments)]
fn run_loop(
    trainer: &mut Trainer,
    batches: &dyn Batches,
    steps: usize,
    out: &Path,
    run: &mut RunInfo,
    h: &Hyper,
    rep: &mut Reporter,
    mut on_step: impl FnMut(&mut Trainer, usize, &mut Reporter) -> Result<()>,
) -> Result<()> {
    let dtype: WeightDtype = flag("--dtype", &h.dtype)?;
    let t0 = Instant::now();
    let start = trainer.step_count();
    while trainer.step_count() < steps {
        let s = trainer.step_count() + 1;
        let (imgs, texts) = batches.batch(s)?;
        match pollster::block_on(trainer.step(&imgs, &texts)) {
            Ok(r) => {
                if h.json {
                    let mut line = json!({"step": r.step, "loss": r.loss, "lr": r.lr, "logit_scale": r.logit_scale});
                    if let (Some(b), Some(o)) = (r.logit_bias, line.as_object_mut()) {
                        o.insert("logit_bias".into(), json!(b));
                    }
                    print_json(&line)?;
                }
                let done = s - start;
                let per = t0.elapsed().as_secs_f64() / done as f64;
                rep.progress_line(&format!(
                    "step {s}/{steps}  loss {:.4}  lr {:.2e}  temperature ×{:.1}  {:.2} s/step",
                    r.loss,
                    r.lr,
                    r.logit_scale.exp(),
                    per
                ));
            }
            Err(e @ webclip::Error::NonFinite(_)) => {
                save(out, trainer, run, dtype)?;
                return Err(CliError::Other(format!("{e}; the last good weights are saved in {}", out.display())));
            }
            Err(e) => return Err(e.into()),
        }
        on_step(trainer, trainer.step_count(), rep)?;
        if h.save_every.is_some_and(|n| n > 0 && trainer.step_count().is_multiple_of(n)) && trainer.step_count() < steps
        {
            save(out, trainer, run, dtype)?;
            rep.note(&format!("checkpoint at step {} in {}", trainer.step_count(), out.display()));
        }
    }
    rep.done();
    save(out, trainer, run, dtype)?;
    rep.note(&format!("saved {} ({} steps, {:.1} s)", out.display(), trainer.step_count(), t0.elapsed().as_secs_f64()));
    Ok(())
}

fn check_resume(out: &Path, run: &RunInfo) -> Result<TrainerState> {
    let (saved, state) = load_state(out)?;
    let same = RunInfo { step: saved.step, updates: saved.updates, ..run.clone() };
    if saved != same {
        return Err(CliError::Other(format!(
            "--resume: the checkpoint in {} was made with other settings (data, seed, batch size, steps, training mode or loss); rerun the original command with --resume",
            out.display()
        )));
    }
    Ok(state)
}

pub fn finetune(a: FinetuneArgs, device: DeviceChoice, rep: &mut Reporter) -> Result<()> {
    let pairs = read_data(&a.data, &a.template, rep)?;
    let batch = a.batch_size.unwrap_or(32.min(pairs.len()));
    if batch < 2 || batch > pairs.len() {
        return Err(CliError::Other(format!(
            "--batch-size {batch}: must be between 2 and the number of pairs ({})",
            pairs.len()
        )));
    }
    let spe = pairs.len() / batch;
    let steps = match (a.steps, a.epochs) {
        (Some(s), _) => s,
        (None, Some(e)) => e * spe,
        (None, None) => spe,
    };
    if steps == 0 {
        return Err(CliError::Other("nothing to do: 0 steps".into()));
    }
    let cfg = train_config(&a.hyper, TrainConfig::finetune(steps))?;
    let mut run = RunInfo {
        command: "finetune".into(),
        data: a.data.display().to_string(),
        seed: a.hyper.seed,
        batch_size: batch,
        steps,
        train: a.hyper.train.clone(),
        lock_image: a.hyper.lock_image,
        lock_text: a.hyper.lock_text,
        shuffle: !a.no_shuffle,
        loss: a.hyper.loss.clone().unwrap_or_default(),
        step: 0,
        updates: 0,
    };
    let (dev, info) = webclip::device::open(device)?;
    rep.note(&format!("device: {}", info.name));
    let state = if a.hyper.resume { Some(check_resume(&a.out, &run)?) } else { None };
    // A resumed run starts from the checkpoint's weights, a new one from --model.
    let source = if state.is_some() { &a.out } else { &a.model };
    let files = files::read_model_dir(source)?;
    let clip =
        pollster::block_on(Clip::load(&files, &dev)).map_err(|e| CliError::File(source.clone(), e.to_string()))?;
    let mut trainer = Trainer::new(clip, cfg)?;
    if let Some(s) = state {
        trainer.restore(s)?;
        rep.note(&format!("resuming at step {} of {steps}", trainer.step_count()));
    }
    let trainable =
        trainer.params().iter().filter(|p| p.trainable).map(|p| p.shape.iter().product::<usize>()).sum::<usize>();
    rep.note(&format!("{} pairs, batch {batch}, {steps} steps, {trainable} trainable parameters", pairs.len()));
    let batches = FileBatches { pairs, batch, seed: a.hyper.seed, shuffle: !a.no_shuffle };
    run_loop(&mut trainer, &batches, steps, &a.out, &mut run, &a.hyper, rep, |_, _, _| Ok(()))
}

pub fn train_shapes(a: TrainShapesArgs, device: DeviceChoice, rep: &mut Reporter) -> Result<()> {
    if a.stop_after == Some(0) {
        return Err(CliError::Other("--stop-after must be at least 1".into()));
    }
    let recipe = ShapesRecipe {
        batch_size: a.batch_size,
        curriculum: a.curriculum,
        image_size: a.image_size,
        ..ShapesRecipe::with_steps(a.steps)
    };
    recipe.validate()?;
    let config = recipe.model_config();
    let cfg = train_config(&a.hyper, recipe.train_config())?;
    let mut run = RunInfo {
        command: "train-shapes".into(),
        data: "shapes world".into(),
        seed: a.hyper.seed,
        batch_size: a.batch_size,
        steps: a.steps,
        train: a.hyper.train.clone(),
        lock_image: a.hyper.lock_image,
        lock_text: a.hyper.lock_text,
        shuffle: true,
        loss: a.hyper.loss.clone().unwrap_or_default(),
        step: 0,
        updates: 0,
    };
    let (dev, info) = webclip::device::open(device)?;
    rep.note(&format!("device: {}", info.name));
    let tokenizer = webclip::Tokenizer::from_bytes(CLIP_TOKENIZER, config.context_length())?;
    let state = if a.hyper.resume { Some(check_resume(&a.out, &run)?) } else { None };
    let clip = match &state {
        Some(_) => {
            let files = files::read_model_dir(&a.out)?;
            pollster::block_on(Clip::load(&files, &dev))?
        }
        None => pollster::block_on(Clip::random(config.clone(), tokenizer, &dev, a.hyper.seed))?,
    };
    let mut trainer = Trainer::new(clip, cfg)?;
    if let Some(s) = state {
        trainer.restore(s)?;
    }
    rep.note(&format!(
        "training a {:.1} M-parameter CLIP from scratch on the shapes world: {} steps of {} pairs; held out: {}",
        trainer.params().iter().map(|p| p.shape.iter().product::<usize>()).sum::<usize>() as f64 / 1e6,
        a.steps,
        a.batch_size,
        webclip::shapes::HELD_OUT
            .iter()
            .map(|&(c, s)| webclip::shapes::class_name(c, s))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let batches = ShapeBatches { recipe, seed: a.hyper.seed };
    let (seed, per_class, every, json_out) = (a.hyper.seed, a.eval_per_class, a.eval_every, a.hyper.json);
    let templates = Templates::named("default")?;
    // Accuracy on clean renderings (a shape on a plain background, like any drawing) and on the
    // full world (clutter, textures, noise).
    let evaluate = |trainer: &Trainer, rep: &mut Reporter| -> Result<serde_json::Value> {
        let clip = pollster::block_on(trainer.snapshot())?;
        let clean = pollster::block_on(webclip::shapes::zero_shot_accuracy(&clip, seed, per_class, &templates, 0.0))?;
        let full = pollster::block_on(webclip::shapes::zero_shot_accuracy(&clip, seed, per_class, &templates, 1.0))?;
        rep.note(&format!(
            "step {}: zero-shot accuracy over 24 classes — held-out combinations {:.1} % clean / {:.1} % full world, seen {:.1} % / {:.1} %",
            trainer.step_count(),
            clean.held_out * 100.0,
            full.held_out * 100.0,
            clean.seen * 100.0,
            full.seen * 100.0
        ));
        Ok(json!({"clean": clean, "full": full}))
    };
    let stop = a.stop_after.unwrap_or(a.steps).min(a.steps);
    run_loop(&mut trainer, &batches, stop, &a.out, &mut run, &a.hyper, rep, |t, step, rep| {
        if every > 0 && step % every == 0 && step < stop {
            let acc = evaluate(t, rep)?;
            if json_out {
                print_json(&json!({"step": step, "eval": acc}))?;
            }
        }
        Ok(())
    })?;
    let acc = evaluate(&trainer, rep)?;
    let report = json!({"steps": trainer.step_count(), "eval": acc});
    write_atomically(&a.out, "shapes_eval.json", &serde_json::to_vec_pretty(&report).unwrap_or_default())?;
    if json_out {
        print_json(&report)?;
    } else {
        for (name, key) in [("clean renderings", "clean"), ("full world", "full")] {
            let e = &acc[key];
            let pct = |k: &str| e[k].as_f64().unwrap_or(0.0) * 100.0;
            println!(
                "{name}: held-out combinations {:.1} %  seen {:.1} %  all 24 classes {:.1} %",
                pct("held_out"),
                pct("seen"),
                pct("overall")
            );
        }
        println!("per class (clean / full):");
        let classes = acc["clean"]["per_class"].as_array().cloned().unwrap_or_default();
        for (i, c) in classes.iter().enumerate() {
            let name = c[0].as_str().unwrap_or_default();
            let full = acc["full"]["per_class"][i][1].as_f64().unwrap_or(0.0);
            println!(
                "  {:>6.1} % / {:>6.1} %  {name}{}",
                c[1].as_f64().unwrap_or(0.0) * 100.0,
                full * 100.0,
                if is_held_out_name(name) { "  (held out)" } else { "" }
            );
        }
    }
    Ok(())
}

fn is_held_out_name(name: &str) -> bool {
    webclip::shapes::HELD_OUT.iter().any(|&(c, s)| webclip::shapes::class_name(c, s) == name)
}

pub fn shapes(a: ShapesArgs) -> Result<()> {
    let split: Split = flag("--split", &a.split)?;
    if !(8..=1024).contains(&a.size) {
        return Err(CliError::Other("--size must be between 8 and 1024".into()));
    }
    std::fs::create_dir_all(&a.out).map_err(|e| CliError::File(a.out.clone(), files::io_reason(&e)))?;
    let world = ShapesWorld::new(a.seed, a.size);
    let mut lines = String::new();
    for i in 0..a.count {
        let s = world.sample(i as u64, split);
        let class = s.class_name();
        let name = format!("{i:05}_{}.png", class.replace(' ', "_"));
        let img = image::RgbImage::from_raw(s.image.width as u32, s.image.height as u32, s.image.data)
            .ok_or_else(|| CliError::Other("internal: bad image buffer".into()))?;
        img.save(a.out.join(&name)).map_err(|e| CliError::File(a.out.join(&name), e.to_string()))?;
        lines.push_str(
            &serde_json::to_string(&json!({"image": name, "text": s.caption, "class": class})).unwrap_or_default(),
        );
        lines.push('\n');
    }
    std::fs::write(a.out.join("captions.jsonl"), lines)
        .map_err(|e| CliError::File(a.out.join("captions.jsonl"), files::io_reason(&e)))
}

/// Rewrites a model folder as an HF folder in another dtype (OpenCLIP folders come out under HF
/// names).
pub fn convert(a: ConvertArgs, device: DeviceChoice, rep: &mut Reporter) -> Result<()> {
    let dtype: WeightDtype = flag("--dtype", &a.dtype)?;
    let (dev, _) = webclip::device::open(device)?;
    let clip = pollster::block_on(Clip::load(&files::read_model_dir(&a.model)?, &dev))
        .map_err(|e| CliError::File(a.model.clone(), e.to_string()))?;
    let folder = pollster::block_on(export_hf(&clip, dtype))?;
    std::fs::create_dir_all(&a.out).map_err(|e| CliError::File(a.out.clone(), files::io_reason(&e)))?;
    for (name, bytes) in folder.files() {
        write_atomically(&a.out, name, bytes)?;
    }
    rep.note(&format!("wrote {} ({} bytes of weights)", a.out.display(), folder.weights.len()));
    Ok(())
}

pub fn wise(a: WiseArgs, device: DeviceChoice, rep: &mut Reporter) -> Result<()> {
    let dtype: WeightDtype = flag("--dtype", &a.dtype)?;
    let (dev, _) = webclip::device::open(device)?;
    let base = pollster::block_on(Clip::load(&files::read_model_dir(&a.base)?, &dev))
        .map_err(|e| CliError::File(a.base.clone(), e.to_string()))?;
    let ft = pollster::block_on(Clip::load(&files::read_model_dir(&a.finetuned)?, &dev))
        .map_err(|e| CliError::File(a.finetuned.clone(), e.to_string()))?;
    if base.config() != ft.config() {
        return Err(CliError::Other("--base and --finetuned have different architectures".into()));
    }
    let (model, config, tok, pre, device) = ft.into_parts();
    let mixed = webclip::train::wise_ft(base.model(), model, a.alpha)?;
    let clip = pollster::block_on(Clip::from_parts(mixed, config, tok, pre, &device))?;
    let folder = pollster::block_on(export_hf(&clip, dtype))?;
    std::fs::create_dir_all(&a.out).map_err(|e| CliError::File(a.out.clone(), files::io_reason(&e)))?;
    for (name, bytes) in folder.files() {
        write_atomically(&a.out, name, bytes)?;
    }
    rep.note(&format!("wrote θ = {:.2}·base + {:.2}·fine-tuned to {}", 1.0 - a.alpha, a.alpha, a.out.display()));
    Ok(())
}
