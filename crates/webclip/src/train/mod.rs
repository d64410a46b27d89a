//! Contrastive training: OpenCLIP's symmetric InfoNCE or SigLIP's pairwise sigmoid loss
//! ([`Loss`]), AdamW with its parameter groups, warmup + cosine schedule, global gradient
//! clipping, a CLIP model's `logit_scale` clamped to `[0, ln 100]` after every step, gradient accumulation that caches features so the loss always sees the whole batch,
//! and partial training (projections, last N blocks, all; either tower locked).
//!
//! The [`Trainer`] takes bytes-level inputs (decoded images, strings) and reads back from the
//! device only through `async` reads, so the same code runs natively and, compiled to wasm, in
//! a browser worker on WebGPU. Every face states its settings as [`TrainOptions`], which
//! resolves them into one validated [`TrainConfig`].
//!
//! Steps are numbered from 1 everywhere (the CLI's JSON, the npm trainer, the pages): step `k`
//! is the `k`-th update, and after it `k` steps are done.

pub mod optim;
mod options;
pub mod params;

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::activation::{log_sigmoid, log_softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::config::{ClipConfig, Family};
use crate::device::{read_f32, read_scalar};
use crate::error::{Error, Result};
use crate::model::params::{self as model_params, KeyedVisitor};
pub use crate::model::params::{ParamInfo, param_infos};
use crate::model::{ClipModel, l2_normalize};
use crate::pipeline::Clip;
use crate::preprocess::{self, PreprocessConfig, RgbImage};
use crate::tokenizer::Tokenizer;
use optim::{AdamWConfig, AdamWState, AdamWStep, clip_grad_norm, cosine_lr};
pub use options::TrainOptions;
pub use params::{TrainMode, Trainable, wise_ft};

/// `ln 100`: the upper clamp of `logit_scale` (a temperature of 1/100).
pub const MAX_LOGIT_SCALE: f64 = 4.605_170_185_988_092;

/// How to train.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub trainable: Trainable,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warmup steps.
    pub warmup: usize,
    /// Steps in the whole run (the cosine reaches 0 there).
    pub total_steps: usize,
    pub adamw: AdamWConfig,
    /// Clip the global gradient norm to this (`None`: no clipping).
    pub grad_clip: Option<f64>,
    /// How a step's batch is split into micro-batches: features of the whole batch are cached
    /// so the loss is the full-batch loss, and each micro-batch's gradient is taken through it
    /// in turn (less memory, the same step).
    pub micro: MicroBatches,
    /// The contrastive loss (`None`: the model family's own — softmax for CLIP, sigmoid for
    /// SigLIP).
    pub loss: Option<Loss>,
}

/// The contrastive loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Symmetric InfoNCE over the batch (CLIP): each image picks its text among all of them.
    Softmax,
    /// Pairwise sigmoid (SigLIP): every image–text pair is its own binary question, so the
    /// loss does not need many negatives at once — the SigLIP paper finds it better than
    /// softmax at small batch sizes, which is what a browser can hold.
    Sigmoid,
}

impl Loss {
    /// The loss a model family was trained with.
    pub fn of(family: Family) -> Self {
        match family {
            Family::Clip => Loss::Softmax,
            Family::Siglip => Loss::Sigmoid,
        }
    }

    /// `"softmax"` or `"sigmoid"`.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Softmax => "softmax",
            Loss::Sigmoid => "sigmoid",
        }
    }
}

impl std::str::FromStr for Loss {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "softmax" => Ok(Loss::Softmax),
            "sigmoid" => Ok(Loss::Sigmoid),
            other => Err(Error::InvalidInput(format!("loss {other:?}: expected softmax or sigmoid"))),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Loss {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How a step's pairs are split for gradient accumulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MicroBatches {
    /// This many micro-batches per step (OpenCLIP's `accum_freq`, the CLI's `--accum`).
    Count(usize),
    /// Micro-batches of at most this many pairs (the npm trainer's `batchSize`: the caller
    /// decides the batch, this bounds the memory).
    MaxSize(usize),
}

impl MicroBatches {
    /// Micro-batches for a step of `pairs` pairs (at least 1, at most `pairs`).
    pub fn count(self, pairs: usize) -> usize {
        let k = match self {
            MicroBatches::Count(k) => k,
            MicroBatches::MaxSize(size) => pairs.div_ceil(size.max(1)),
        };
        k.clamp(1, pairs.max(1))
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            trainable: Trainable { mode: TrainMode::All, lock_image: false, lock_text: false },
            lr: 1e-5,
            warmup: 0,
            total_steps: 100,
            adamw: AdamWConfig::default(),
            grad_clip: Some(1.0),
            micro: MicroBatches::Count(1),
            loss: None,
        }
    }
}

impl TrainConfig {
    /// `webclip finetune`'s defaults for a run of `steps`: everything trains, OpenCLIP's
    /// fine-tuning rate (1e-5) and decay (0.2), warmup over the first 10 %, clipping at 1.
    pub fn finetune(steps: usize) -> Self {
        TrainConfig { warmup: steps / 10, total_steps: steps, ..TrainConfig::default() }
    }

    /// The npm trainer's defaults: an open-ended run driven step by step from a page, so no
    /// schedule (the rate stays at `lr`; a cosine over ~forever is a constant) and only the
    /// projections train — the safe choice for a few dropped images on a user's GPU.
    pub fn interactive() -> Self {
        TrainConfig {
            trainable: Trainable { mode: TrainMode::Projections, lock_image: false, lock_text: false },
            total_steps: usize::MAX / 2,
            ..TrainConfig::default()
        }
    }

    /// Checks every value (the messages name the setting in words, not a face's flag).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidInput(m));
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return bad(format!("the learning rate must be a non-negative number, got {}", self.lr));
        }
        let wd = self.adamw.weight_decay;
        if !(wd.is_finite() && wd >= 0.0) {
            return bad(format!("the weight decay must be a non-negative number, got {wd}"));
        }
        if let Some(g) = self.grad_clip
            && !(g.is_finite() && g > 0.0)
        {
            return bad(format!("the gradient clip must be a positive number, got {g}"));
        }
        if self.total_steps == 0 {
            return bad("the number of steps must be at least 1".into());
        }
        match self.micro {
            MicroBatches::Count(0) => bad("accumulation steps must be at least 1".into()),
            MicroBatches::MaxSize(0) => bad("the micro-batch size must be at least 1".into()),
            _ => Ok(()),
        }
    }
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StepReport {
    /// The number of this step, counting from 1 (so also the steps done after it).
    pub step: usize,
    /// Loss of the batch *before* this step's update.
    pub loss: f32,
    /// Learning rate used for the update.
    pub lr: f64,
    /// `logit_scale` after the update (and clamp).
    pub logit_scale: f32,
    /// `logit_bias` after the update (sigmoid loss only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logit_bias: Option<f32>,
}

/// Loss and image×text cosine similarities of a batch, without training.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evaluation {
    pub loss: f32,
    /// `[images][texts]` cosine similarity.
    pub similarity: Vec<Vec<f32>>,
}

/// Symmetric InfoNCE (HF `clip_loss`, OpenCLIP `ClipLoss`): with `s = exp(logit_scale)` and unit
/// rows, `(CE(s·I·Tᵀ, i) + CE(s·T·Iᵀ, i)) / 2` where row i's target is column i.
/// `images`, `texts`: `[batch, E]` raw features; `logit_scale`: `[1]`. Returns `[1]`.
pub fn clip_loss(images: Tensor<2>, texts: Tensor<2>, logit_scale: Tensor<1>) -> Tensor<1> {
    let [b, _] = images.dims();
    let device = images.device();
    let i = l2_normalize(images);
    let t = l2_normalize(texts);
    let logits = i.matmul(t.transpose()) * logit_scale.exp().reshape([1, 1]); // [b, b] image→text
    let eye = Tensor::<2>::eye(b, &device);
    let ce = |l: Tensor<2>| -(log_softmax(l, 1) * eye.clone()).sum() / b as f64;
    (ce(logits.clone()) + ce(logits.transpose())) / 2.0
}

/// SigLIP's sigmoid loss (HF `SiglipModel`'s, the paper's): with `t = exp(logit_scale)`, `b` the
/// bias and unit rows, `−(1/B) Σᵢ Σⱼ log σ(zᵢⱼ · (t · cos(textᵢ, imageⱼ) + b))` where `zᵢⱼ` is +1
/// for a matching pair (i = j) and −1 otherwise. `images`, `texts`: `[batch, E]` raw features;
/// `logit_scale`, `logit_bias`: `[1]`. Returns `[1]`.
pub fn sigmoid_loss(images: Tensor<2>, texts: Tensor<2>, logit_scale: Tensor<1>, logit_bias: Tensor<1>) -> Tensor<1> {
    let [b, _] = images.dims();
    let device = images.device();
    let i = l2_normalize(images);
    let t = l2_normalize(texts);
    let logits = t.matmul(i.transpose()) * logit_scale.exp().reshape([1, 1]) + logit_bias.reshape([1, 1]); // [b, b] text→image
    let z = Tensor::<2>::eye(b, &device) * 2.0 - 1.0;
    -log_sigmoid(logits * z).sum() / b as f64
}

/// The SigLIP paper's initial bias, given to a model trained with the sigmoid loss that has
/// none (CLIP).
pub const SIGMOID_BIAS_INIT: f32 = -10.0;

/// How much of a tower has no trainable parameter, so runs as plain inference (no autodiff
/// graph; on the CPU backend, the fused kernels): only what follows is differentiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frozen {
    /// Everything trains.
    Nothing,
    /// The embeddings and the first k blocks.
    Layers(usize),
    /// The whole tower up to its pooled, normed output (the projection trains).
    Tower,
    /// The tower and its projection.
    All,
}

impl Frozen {
    /// `in_tower_head`: the tower ends in a head of its own (SigLIP), which trains with the
    /// projections: everything before it is frozen, i.e. all `layers` blocks.
    fn of(t: &Trainable, locked: bool, layers: usize, in_tower_head: bool) -> Self {
        if locked {
            return Frozen::All;
        }
        match t.mode {
            TrainMode::All => Frozen::Nothing,
            TrainMode::Projections if in_tower_head => Frozen::Layers(layers),
            TrainMode::Projections => Frozen::Tower,
            TrainMode::Last(n) => Frozen::Layers(layers.saturating_sub(n)),
        }
    }
}

/// A model being trained, with its optimiser state.
pub struct Trainer {
    model: ClipModel,
    config: ClipConfig,
    train: TrainConfig,
    tokenizer: Tokenizer,
    preprocess: PreprocessConfig,
    device: Device,
    state: AdamWState,
    step: usize,
    frozen_text: Frozen,
    frozen_vision: Frozen,
    /// The loss in use (`TrainConfig::loss` resolved for the family).
    loss: Loss,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer").field("step", &self.step).field("train", &self.train).finish_non_exhaustive()
    }
}

/// A prepared batch on the device.
struct Batch {
    pixels: Tensor<4>,
    ids: Tensor<2, Int>,
    pool: Tensor<1, Int>,
    size: usize,
}

impl Trainer {
    /// Starts training `clip` (its weights become the starting point).
    pub fn new(clip: Clip, train: TrainConfig) -> Result<Self> {
        train.validate()?;
        clip.model().text_tower()?;
        let (mut model, config, tokenizer, preprocess, device) = clip.into_parts();
        let loss = train.loss.unwrap_or(Loss::of(config.family));
        // The sigmoid loss needs a bias; CLIP has none, so it gets the paper's initial one. A
        // CLIP model keeps scoring with softmax, which a constant bias does not change, so the
        // bias is dropped again when the model is used or exported as CLIP.
        if loss == Loss::Sigmoid && model.logit_bias.is_none() {
            let bias = Tensor::<1>::from_data(TensorData::new(vec![SIGMOID_BIAS_INIT], [1]), &device);
            model.logit_bias = Some(Param::from_tensor(bias));
        }
        let (tl, vl) = (config.text.encoder.num_hidden_layers, config.vision.encoder.num_hidden_layers);
        let trainable = train.trainable;
        let model = params::set_trainable(model.train(), &|key| trainable.includes(key, tl, vl));
        if !param_infos(&model).iter().any(|p| p.trainable) {
            return Err(Error::InvalidInput(
                "nothing to train: both towers are locked and the mode trains only them".into(),
            ));
        }
        let device = device.autodiff();
        let head = config.family == Family::Siglip;
        let frozen_text = Frozen::of(&trainable, trainable.lock_text, tl, head);
        let frozen_vision = Frozen::of(&trainable, trainable.lock_image, vl, head);
        Ok(Trainer {
            model,
            config,
            train,
            tokenizer,
            preprocess,
            device,
            state: AdamWState::default(),
            step: 0,
            frozen_text,
            frozen_vision,
            loss,
        })
    }

    /// The loss this trainer minimises.
    pub fn loss_kind(&self) -> Loss {
        self.loss
    }

    /// This trainer's loss of `images`/`texts` features under `model`'s temperature (and bias).
    fn loss_of(&self, model: &ClipModel, images: Tensor<2>, texts: Tensor<2>) -> Tensor<1> {
        let scale = model.logit_scale.val();
        match (self.loss, &model.logit_bias) {
            (Loss::Sigmoid, Some(bias)) => sigmoid_loss(images, texts, scale, bias.val()),
            // `new` gives every sigmoid-trained model a bias; zero if it were ever missing.
            (Loss::Sigmoid, None) => {
                let zero = Tensor::<1>::zeros([1], &scale.device());
                sigmoid_loss(images, texts, scale, zero)
            }
            (Loss::Softmax, _) => clip_loss(images, texts, scale),
        }
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// The training configuration.
    pub fn train_config(&self) -> &TrainConfig {
        &self.train
    }

    /// The architecture.
    pub fn config(&self) -> &ClipConfig {
        &self.config
    }

    /// The parameters with their keys and whether they train.
    pub fn params(&self) -> Vec<ParamInfo> {
        param_infos(&self.model)
    }

    /// The model in its current state as an inference [`Clip`] (a snapshot without autodiff).
    pub async fn snapshot(&self) -> Result<Clip> {
        Clip::from_parts(
            self.model.valid(),
            self.config.clone(),
            self.tokenizer.clone(),
            self.preprocess.clone(),
            &self.device.clone().inner(),
        )
        .await
    }

    /// The underlying model (autodiff).
    pub fn model(&self) -> &ClipModel {
        &self.model
    }

    fn batch(&self, images: &[RgbImage], texts: &[String]) -> Result<Batch> {
        if images.len() != texts.len() {
            return Err(Error::InvalidInput(format!(
                "{} images but {} texts: pairs must match",
                images.len(),
                texts.len()
            )));
        }
        if images.len() < 2 {
            return Err(Error::InvalidInput("a contrastive batch needs at least 2 image-text pairs".into()));
        }
        let [h, w] = self.config.vision.image_size;
        let mut pixels = Vec::with_capacity(images.len() * 3 * h * w);
        for img in images {
            pixels.extend(preprocess::preprocess(img, &self.preprocess));
        }
        let rows: Vec<Vec<u32>> = texts.iter().map(|t| self.tokenizer.encode(t)).collect::<Result<_>>()?;
        let tb = self.tokenizer.batch(&rows, &self.config.text);
        let device = self.device.clone().inner();
        Ok(Batch {
            pixels: Tensor::from_data(TensorData::new(pixels, [images.len(), 3, h, w]), &device),
            ids: Tensor::from_data(TensorData::new(tb.ids, [tb.batch, tb.len]), &device),
            pool: Tensor::from_data(TensorData::new(tb.pool_index, [tb.batch]), &device),
            size: images.len(),
        })
    }

    /// Slices of the batch's inputs.
    fn inputs(b: &Batch, range: std::ops::Range<usize>) -> (Tensor<4>, Tensor<2, Int>, Tensor<1, Int>) {
        let len = b.ids.dims()[1];
        let [_, c, h, w] = b.pixels.dims();
        (
            b.pixels.clone().slice([range.clone(), 0..c, 0..h, 0..w]),
            b.ids.clone().slice([range.clone(), 0..len]),
            b.pool.clone().slice(range),
        )
    }

    /// Features of a slice of the batch with `model` alone, without autodiff (`model` is a
    /// `valid()` snapshot).
    fn plain_features(model: &ClipModel, b: &Batch, range: std::ops::Range<usize>) -> Result<(Tensor<2>, Tensor<2>)> {
        let (px, ids, pool) = Self::inputs(b, range);
        Ok((model.image_features(px), model.text_features(ids, pool)?))
    }

    /// Features of a slice of the batch for training: the frozen part of each tower runs on
    /// `frozen` (a `valid()` snapshot of the same weights), the rest on the autodiff model.
    fn features(&self, frozen: &ClipModel, b: &Batch, range: std::ops::Range<usize>) -> Result<(Tensor<2>, Tensor<2>)> {
        let m = &self.model;
        let (px, ids, pool) = Self::inputs(b, range);
        let image = match self.frozen_vision {
            Frozen::Nothing => m.image_features(px.autodiff()),
            Frozen::Layers(k) => {
                let h = frozen.vision_model.prefix(px, k).autodiff();
                m.project_image(m.vision_model.finish(h, k))
            }
            Frozen::Tower => m.project_image(frozen.vision_model.forward(px).autodiff()),
            Frozen::All => frozen.image_features(px).autodiff(),
        };
        let text = match self.frozen_text {
            Frozen::Nothing => m.text_features(ids.autodiff(), pool.autodiff())?,
            Frozen::Layers(k) => {
                let h = frozen.text_tower()?.prefix(ids, k).autodiff();
                m.project_text(m.text_tower()?.finish(h, pool.autodiff(), k))
            }
            Frozen::Tower => m.project_text(frozen.text_tower()?.forward(ids, pool).autodiff()),
            Frozen::All => frozen.text_features(ids, pool)?.autodiff(),
        };
        Ok((image, text))
    }

    /// Loss and similarities on a batch with the current weights; nothing is updated.
    pub async fn evaluate(&self, images: &[RgbImage], texts: &[String]) -> Result<Evaluation> {
        let b = self.batch(images, texts)?;
        let model = self.model.valid();
        let (i, t) = Self::plain_features(&model, &b, 0..b.size)?;
        let loss = read_scalar(self.loss_of(&model, i.clone(), t.clone())).await?;
        let sim = read_f32(l2_normalize(i).matmul(l2_normalize(t).transpose())).await?;
        Ok(Evaluation { loss, similarity: sim.chunks(b.size).map(<[f32]>::to_vec).collect() })
    }

    /// The loss and the raw gradient of every trainable parameter on a batch (before clipping,
    /// nothing updated), by HF key and in HF layout (Linear weights `[out, in]`) — what the
    /// parity test compares with PyTorch, and what an educator's view can show.
    pub async fn gradients(&self, images: &[RgbImage], texts: &[String]) -> Result<(f32, Vec<(String, Vec<f32>)>)> {
        let b = self.batch(images, texts)?;
        let (i, t) = self.features(&self.model.valid(), &b, 0..b.size)?;
        let loss = self.loss_of(&self.model, i, t);
        let value = read_scalar(loss.clone()).await?;
        let mut grads = GradientsParams::from_grads(loss.backward(), &self.model);
        let layouts = &self.model.layouts;
        let mut out = Vec::new();
        for p in param_infos(&self.model) {
            let g = match p.shape.len() {
                1 => grads.remove::<1>(p.id).map(|g| g.reshape([-1])),
                2 => grads.remove::<2>(p.id).map(|g| {
                    let g = if layouts.is_transposed(&p.key) { g.transpose() } else { g };
                    g.reshape([-1])
                }),
                3 => grads.remove::<3>(p.id).map(|g| g.reshape([-1])),
                4 => grads.remove::<4>(p.id).map(|g| g.reshape([-1])),
                _ => None,
            };
            if let Some(g) = g {
                out.push((p.key, read_f32(g).await?));
            }
        }
        Ok((value, out))
    }

    /// One optimiser step on this batch of pairs (image i goes with text i). On a non-finite
    /// loss nothing is updated and the error says so: the weights stay the last good ones.
    pub async fn step(&mut self, images: &[RgbImage], texts: &[String]) -> Result<StepReport> {
        let b = self.batch(images, texts)?;
        let micro = b.size.div_ceil(self.train.micro.count(b.size));
        let ranges: Vec<std::ops::Range<usize>> =
            (0..b.size).step_by(micro).map(|s| s..(s + micro).min(b.size)).collect();

        let frozen = self.model.valid();
        let (loss_value, mut grads) = if ranges.len() == 1 {
            let (i, t) = self.features(&frozen, &b, 0..b.size)?;
            let loss = self.loss_of(&self.model, i, t);
            let value = read_scalar(loss.clone()).await?;
            if !value.is_finite() {
                return Err(self.non_finite(value));
            }
            (value, GradientsParams::from_grads(loss.backward(), &self.model))
        } else {
            // OpenCLIP's accum_freq: features of every micro-batch without a graph first, then
            // each micro-batch again with one, the others taken from the cache.
            let cached: Vec<(Tensor<2>, Tensor<2>)> =
                ranges.iter().map(|r| Self::plain_features(&frozen, &b, r.clone())).collect::<Result<_>>()?;
            let all_i = Tensor::cat(cached.iter().map(|c| c.0.clone()).collect(), 0);
            let all_t = Tensor::cat(cached.iter().map(|c| c.1.clone()).collect(), 0);
            let value = read_scalar(self.loss_of(&frozen, all_i, all_t)).await?;
            if !value.is_finite() {
                return Err(self.non_finite(value));
            }
            let mut acc: Option<GradientsParams> = None;
            for (j, r) in ranges.iter().enumerate() {
                let (ij, tj) = self.features(&frozen, &b, r.clone())?;
                let pick = |k: usize, own: Tensor<2>, which: usize| -> Tensor<2> {
                    if k == j {
                        own
                    } else if which == 0 {
                        cached[k].0.clone().autodiff()
                    } else {
                        cached[k].1.clone().autodiff()
                    }
                };
                let imgs: Vec<Tensor<2>> = (0..ranges.len()).map(|k| pick(k, ij.clone(), 0)).collect();
                let txts: Vec<Tensor<2>> = (0..ranges.len()).map(|k| pick(k, tj.clone(), 1)).collect();
                let loss = self.loss_of(&self.model, Tensor::cat(imgs, 0), Tensor::cat(txts, 0));
                let g = GradientsParams::from_grads(loss.backward(), &self.model);
                acc = Some(match acc {
                    None => g,
                    Some(a) => add_grads(&self.model, a, g),
                });
            }
            (value, acc.unwrap_or_default())
        };

        if let Some(max) = self.train.grad_clip {
            clip_grad_norm(&self.model, &mut grads, max);
        }
        let lr = cosine_lr(self.train.lr, self.step, self.train.warmup, self.train.total_steps.max(1));
        let mut step = AdamWStep { grads: &mut grads, state: &mut self.state, config: self.train.adamw, lr };
        // Cloning a module clones handles, not weights.
        let mut model = self.model.clone().map(&mut step);
        self.state.t += 1;
        // OpenCLIP clamps CLIP's temperature after every update. SigLIP's trained temperatures
        // sit above ln 100 (≈ ln 117), so a clamp there would change a model before it learns.
        if self.config.family == Family::Clip {
            model.logit_scale = model.logit_scale.map(|t| {
                let rg = t.is_require_grad();
                let c = Tensor::from_inner(t.inner().clamp(0.0, MAX_LOGIT_SCALE));
                if rg { c.require_grad() } else { c }
            });
        }
        self.model = model;
        let logit_scale = read_scalar(self.model.logit_scale.val()).await?;
        let logit_bias = match (&self.model.logit_bias, self.loss) {
            (Some(b), Loss::Sigmoid) => Some(read_scalar(b.val()).await?),
            _ => None,
        };
        self.step += 1;
        Ok(StepReport { step: self.step, loss: loss_value, lr, logit_scale, logit_bias })
    }

    fn non_finite(&self, value: f32) -> Error {
        Error::NonFinite(format!(
            "the training loss at step {} ({value}); training stopped before that update, the weights are those after step {}",
            self.step + 1,
            self.step
        ))
    }

    /// Optimiser state for checkpoints: step count, AdamW moments by parameter key.
    pub async fn state(&self) -> Result<TrainerState> {
        let mut moments = Vec::new();
        for p in param_infos(&self.model) {
            if let Some(m) = self.state.moments.get(&p.id) {
                moments.push((p.key.clone(), read_f32(m.m.clone()).await?, read_f32(m.v.clone()).await?));
            }
        }
        Ok(TrainerState { step: self.step, updates: self.state.t, moments })
    }

    /// Restores a checkpoint's optimiser state (the weights come with the model).
    pub fn restore(&mut self, state: TrainerState) -> Result<()> {
        let infos = param_infos(&self.model);
        let device = self.device.clone().inner();
        let mut moments = std::collections::HashMap::new();
        for (key, m, v) in state.moments {
            let Some(p) = infos.iter().find(|p| p.key == key) else {
                return Err(Error::InvalidInput(format!("the optimiser state has `{key}`, which the model lacks")));
            };
            let n: usize = p.shape.iter().product();
            if m.len() != n || v.len() != n {
                return Err(Error::InvalidInput(format!("the optimiser state of `{key}` has the wrong size")));
            }
            moments.insert(
                p.id,
                optim::Moments {
                    m: Tensor::from_data(TensorData::new(m, [n]), &device),
                    v: Tensor::from_data(TensorData::new(v, [n]), &device),
                },
            );
        }
        self.state = AdamWState { moments, t: state.updates };
        self.step = state.step;
        Ok(())
    }
}

/// The optimiser's resumable state (weights are saved with the model).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrainerState {
    pub step: usize,
    pub updates: u64,
    /// `(key, m, v)` flattened.
    pub moments: Vec<(String, Vec<f32>, Vec<f32>)>,
}

impl TrainerState {
    /// As safetensors (`optimizer.safetensors` of a checkpoint): `m.<key>` and `v.<key>` in f32,
    /// `step` and `updates` in the header's metadata.
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let bytes: Vec<(String, Vec<u8>, usize)> = self
            .moments
            .iter()
            .flat_map(|(key, m, v)| [(format!("m.{key}"), m), (format!("v.{key}"), v)])
            .map(|(k, vals)| (k, vals.iter().flat_map(|x| x.to_le_bytes()).collect(), vals.len()))
            .collect();
        let views = bytes
            .iter()
            .map(|(k, b, n)| {
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![*n], b).map(|v| (k.clone(), v))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::InvalidInput(format!("could not write the optimiser state: {e}")))?;
        let meta = std::collections::HashMap::from([
            ("step".to_string(), self.step.to_string()),
            ("updates".to_string(), self.updates.to_string()),
        ]);
        safetensors::serialize(views, Some(meta))
            .map_err(|e| Error::InvalidInput(format!("could not write the optimiser state: {e}")))
    }

    /// Reads [`TrainerState::to_safetensors`]' output. `step`/`updates` come from the metadata
    /// when present (0 otherwise: the CLI keeps them in trainer_state.json).
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        let bad = |e: String| Error::InvalidInput(format!("optimiser state: {e}"));
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let num = |k: &str| {
            meta.get(k).map(|v| v.parse::<u64>().map_err(|_| bad(format!("{k} is not a number")))).transpose()
        };
        let mut moments = std::collections::BTreeMap::<String, (Vec<f32>, Vec<f32>)>::new();
        for (name, view) in st.tensors() {
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(bad(format!("`{name}` is not f32")));
            }
            let vals: Vec<f32> =
                view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            let e = match name.split_at_checked(2) {
                Some(("m.", key)) => &mut moments.entry(key.to_string()).or_default().0,
                Some(("v.", key)) => &mut moments.entry(key.to_string()).or_default().1,
                _ => return Err(bad(format!("unexpected tensor `{name}`"))),
            };
            *e = vals;
        }
        Ok(TrainerState {
            step: usize::try_from(num("step")?.unwrap_or(0)).map_err(|_| bad("step is out of range".into()))?,
            updates: num("updates")?.unwrap_or(0),
            moments: moments.into_iter().map(|(k, (m, v))| (k, m, v)).collect(),
        })
    }
}

/// Sums two sets of gradients parameter by parameter.
fn add_grads(model: &ClipModel, mut a: GradientsParams, mut b: GradientsParams) -> GradientsParams {
    struct Add<'a> {
        a: &'a mut GradientsParams,
        b: &'a mut GradientsParams,
    }
    impl KeyedVisitor for Add<'_> {
        fn visit<const D: usize>(&mut self, _: &str, _: &str, param: &Param<Tensor<D>>) {
            match (self.a.remove::<D>(param.id), self.b.remove::<D>(param.id)) {
                (Some(x), Some(y)) => self.a.register::<D>(param.id, x + y),
                (Some(x), None) | (None, Some(x)) => self.a.register::<D>(param.id, x),
                (None, None) => {}
            }
        }
    }
    model_params::visit(model, &mut Add { a: &mut a, b: &mut b });
    a
}
