//! [`Clip`]: a loaded model with its tokenizer and preprocessing — the API the CLI, the wasm
//! bindings and the benchmarks use.
//!
//! Every method that reads results back from the device is `async`, because in the browser
//! reads must be (synchronous reads panic there). Native callers block on them (the CLI uses
//! `pollster`). Text embeddings are cached by string, so re-classifying new images against the
//! same labels encodes no text at all.

use std::collections::HashMap;
use std::sync::Mutex;

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::config::{ClipConfig, Family};
use crate::device::{read_f32, read_scalar};
use crate::error::{Error, Result};
use crate::loader::stream::StreamingSource;
use crate::loader::{Naming, RandomSource, SafetensorsSource};
use crate::model::precision::cast_model;
use crate::model::{ClipModel, Precision, PrecisionChoice, Towers};
use crate::preprocess::{self, PreprocessConfig, RgbImage};
use crate::tokenizer::Tokenizer;
use crate::zeroshot::{self, Classifier, LabelScore, RankEntry, Scoring, Templates};

/// The bytes of a checkpoint folder. HF layout (CLIP or SigLIP): `config.json`,
/// `model.safetensors`, `tokenizer.json`, optional `preprocessor_config.json` and
/// `tokenizer_config.json`. OpenCLIP layout: `open_clip_config.json`,
/// `open_clip_model.safetensors`, `tokenizer.json`.
#[derive(Default, Clone)]
pub struct ModelFiles {
    /// HF `config.json`.
    pub config: Option<Vec<u8>>,
    /// `open_clip_config.json` (used when `config` is absent).
    pub open_clip_config: Option<Vec<u8>>,
    /// The safetensors weights (either naming).
    pub weights: Vec<u8>,
    /// `tokenizer.json`.
    pub tokenizer: Vec<u8>,
    /// `preprocessor_config.json`.
    pub preprocessor: Option<Vec<u8>>,
    /// `tokenizer_config.json` (its `pad_token` is what SigLIP pads with).
    pub tokenizer_config: Option<Vec<u8>>,
}

/// Progress callback: `(done, total)` items of the current job.
pub type Progress<'a> = Option<&'a mut dyn FnMut(usize, usize)>;

/// Most strings kept in the text-embedding cache before it is cleared.
const TEXT_CACHE_LIMIT: usize = 200_000;

/// A ready-to-run CLIP.
pub struct Clip {
    model: ClipModel,
    config: ClipConfig,
    tokenizer: Tokenizer,
    preprocess: PreprocessConfig,
    device: Device,
    precision: Precision,
    logit_scale: f32,
    /// SigLIP's `logit_bias` (`None` for CLIP).
    logit_bias: Option<f32>,
    naming: Naming,
    text_cache: Mutex<HashMap<String, Vec<f32>>>,
    /// Images per forward pass.
    pub image_batch: usize,
    /// Texts per forward pass.
    pub text_batch: usize,
}

impl std::fmt::Debug for Clip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clip").field("config", &self.config).field("device", &self.device).finish_non_exhaustive()
    }
}

impl Clip {
    /// Loads a checkpoint from its files onto `device`.
    pub async fn load(files: &ModelFiles, device: &Device) -> Result<Self> {
        Self::load_towers(files, device, Towers::Both).await
    }

    /// [`Clip::load`] with only `towers` ([`Towers::Image`]: an image-embedding worker, which
    /// then refuses text with a clear error).
    pub async fn load_towers(files: &ModelFiles, device: &Device, towers: Towers) -> Result<Self> {
        let (config, preprocess, tokenizer) = Self::read_small_files(files)?;
        let source = SafetensorsSource::new(&files.weights)?;
        let naming = source.naming();
        let model = ClipModel::build_towers(&config, Box::new(source), device, towers)?;
        Self::assemble(model, config, tokenizer, preprocess, device, naming).await
    }

    /// Starts loading an HF folder whose weights will arrive in chunks
    /// ([`StreamingLoad::push`]): everything but `files.weights` (ignored) is read now. The
    /// weights never sit in memory twice (`crate::loader::stream`).
    pub fn begin_load(files: &ModelFiles, device: &Device) -> Result<StreamingLoad> {
        Self::begin_load_towers(files, device, Towers::Both)
    }

    /// [`Clip::begin_load`] with only `towers` (the others' tensors are skipped as they pass).
    pub fn begin_load_towers(files: &ModelFiles, device: &Device, towers: Towers) -> Result<StreamingLoad> {
        if files.config.is_none() {
            return Err(Error::InvalidInput(
                "streamed loading reads HF folders (config.json); load OpenCLIP folders whole".into(),
            ));
        }
        let (config, preprocess, tokenizer) = Self::read_small_files(files)?;
        let source = StreamingSource::with_towers(&config, device, towers)?;
        Ok(StreamingLoad {
            source,
            config,
            preprocess,
            tokenizer,
            device: device.clone(),
            precision: Precision::F32,
            towers,
        })
    }

    /// The config, preprocessing and tokenizer of a folder, checked against each other.
    fn read_small_files(files: &ModelFiles) -> Result<(ClipConfig, PreprocessConfig, Tokenizer)> {
        let (config, oc_pre) = match (&files.config, &files.open_clip_config) {
            (Some(c), _) => (ClipConfig::from_config_json(c)?, None),
            (None, Some(c)) => {
                let (config, pre) = ClipConfig::from_open_clip_json(c)?;
                (config, Some(pre))
            }
            (None, None) => {
                return Err(Error::MissingFile {
                    file: "config.json".into(),
                    hint: "an HF CLIP or SigLIP folder has config.json (an OpenCLIP one open_clip_config.json)".into(),
                });
            }
        };
        let size = config.vision.image_size;
        let preprocess = match (&files.preprocessor, oc_pre, config.family) {
            (Some(p), _, Family::Clip) => PreprocessConfig::from_hf_json(p, size)?,
            (Some(p), _, Family::Siglip) => PreprocessConfig::from_siglip_json(p, size)?,
            (None, Some(p), _) => p,
            (None, None, family) => default_preprocess(family, size),
        };
        check_preprocess(&preprocess, &config)?;
        let mut tokenizer = Tokenizer::from_bytes(&files.tokenizer, config.context_length())?;
        if let Some(tc) = &files.tokenizer_config {
            tokenizer.set_pad_token(tc)?;
        }
        if tokenizer.vocab_size() > config.text.vocab_size {
            return Err(Error::Tokenizer(format!(
                "tokenizer.json has {} tokens but the model's vocabulary has {}: they do not belong together",
                tokenizer.vocab_size(),
                config.text.vocab_size
            )));
        }
        Ok((config, preprocess, tokenizer))
    }

    /// A model with random weights (benchmarks, training from scratch), deterministic in `seed`.
    pub async fn random(config: ClipConfig, tokenizer: Tokenizer, device: &Device, seed: u64) -> Result<Self> {
        config.validate("config")?;
        let preprocess = default_preprocess(config.family, config.vision.image_size);
        let model = ClipModel::build(&config, Box::new(RandomSource::new(seed)), device)?;
        Self::assemble(model, config, tokenizer, preprocess, device, Naming::Hf).await
    }

    /// Takes the loaded model apart (for training: see `crate::train::Trainer`). The model comes
    /// back in f32 whatever precision it ran in (an f16 model keeps its rounding).
    pub fn into_parts(self) -> (ClipModel, ClipConfig, Tokenizer, PreprocessConfig, Device) {
        (cast_model(self.model, Precision::F32), self.config, self.tokenizer, self.preprocess, self.device)
    }

    /// Puts a model back together (after training, WiSE-FT, ...), in f32 (see
    /// [`Clip::with_precision`]).
    pub async fn from_parts(
        model: ClipModel,
        config: ClipConfig,
        tokenizer: Tokenizer,
        preprocess: PreprocessConfig,
        device: &Device,
    ) -> Result<Self> {
        Self::assemble(model, config, tokenizer, preprocess, device, Naming::Hf).await
    }

    async fn assemble(
        model: ClipModel,
        config: ClipConfig,
        tokenizer: Tokenizer,
        preprocess: PreprocessConfig,
        device: &Device,
        naming: Naming,
    ) -> Result<Self> {
        let mut model = cast_model(model, Precision::F32);
        // A CLIP model trained with the sigmoid loss carries a bias (`crate::train`); CLIP scores
        // with softmax, which a constant bias does not change, and exports have no place for it.
        if config.family == Family::Clip {
            model.logit_bias = None;
        }
        let logit_scale = read_scalar(model.logit_scale.val()).await?;
        let logit_bias = match &model.logit_bias {
            Some(b) => Some(read_scalar(b.val()).await?),
            None => None,
        };
        let cpu = *device == Device::flex();
        Ok(Clip {
            model,
            config,
            tokenizer,
            preprocess,
            device: device.clone(),
            precision: Precision::F32,
            logit_scale,
            logit_bias,
            naming,
            text_cache: Mutex::new(HashMap::new()),
            image_batch: if cpu { 8 } else { 16 },
            text_batch: if cpu { 64 } else { 256 },
        })
    }

    /// The model running in the precision `choice` resolves to on its device (see
    /// [`crate::model::precision`]: `auto` is f16 on GPUs with f16 arithmetic; [`Clip::precision`]
    /// says which). Models load in f32; going from f16 back to f32 keeps the f16 rounding.
    /// Consumes the model so that each f32 parameter is freed as soon as its f16 copy exists
    /// (peak: the f32 model plus one parameter, not both models).
    pub fn with_precision(mut self, choice: PrecisionChoice) -> Result<Self> {
        let precision = Precision::resolve(choice, &self.device)?;
        if precision != self.precision {
            self.model = cast_model(self.model, precision);
            self.precision = precision;
            self.cache().clear();
        }
        Ok(self)
    }

    /// The precision inference runs in.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// `v`, or the non-finite error (naming f16 overflow as the likely cause in an f16 model).
    fn finite(&self, v: Vec<f32>, what: &str) -> Result<Vec<f32>> {
        if v.iter().all(|x| x.is_finite()) {
            return Ok(v);
        }
        Err(Error::NonFinite(match self.precision {
            Precision::F16 => format!("{what} in f16 (values beyond f16's range?); try precision \"f32\""),
            Precision::F32 => what.to_string(),
        }))
    }

    /// The architecture.
    pub fn config(&self) -> &ClipConfig {
        &self.config
    }

    /// The image preprocessing in use.
    pub fn preprocess_config(&self) -> &PreprocessConfig {
        &self.preprocess
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The underlying Burn model.
    pub fn model(&self) -> &ClipModel {
        &self.model
    }

    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The key naming the weights came with.
    pub fn naming(&self) -> Naming {
        self.naming
    }

    /// The raw `logit_scale` parameter (similarities are multiplied by its exp).
    pub fn logit_scale(&self) -> f32 {
        self.logit_scale
    }

    /// SigLIP's `logit_bias` (`None` for CLIP).
    pub fn logit_bias(&self) -> Option<f32> {
        self.logit_bias
    }

    /// How this model's similarities become probabilities: softmax over the labels (CLIP) or a
    /// sigmoid per label (SigLIP).
    pub fn scoring(&self) -> Scoring {
        match self.logit_bias {
            Some(logit_bias) => Scoring::Sigmoid { logit_scale: self.logit_scale, logit_bias },
            None => Scoring::Softmax { logit_scale: self.logit_scale },
        }
    }

    /// Embedding width.
    pub fn embedding_dim(&self) -> usize {
        self.config.projection_dim
    }

    /// Token ids of each text (start/end tokens, truncated to the context, unpadded).
    pub fn tokenize<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<u32>>> {
        texts.iter().map(|t| self.tokenizer.encode(t.as_ref())).collect()
    }

    /// Preprocesses a decoded image to the model's input `[3, H, W]`.
    pub fn prepare_image(&self, image: &RgbImage) -> Vec<f32> {
        preprocess::preprocess(image, &self.preprocess)
    }

    /// Projected, unnormalised image embeddings (HF `get_image_features`), in input order.
    pub async fn embed_images(&self, images: &[RgbImage], mut progress: Progress<'_>) -> Result<Vec<Vec<f32>>> {
        let [h, w] = self.config.vision.image_size;
        let mut out = Vec::with_capacity(images.len());
        for chunk in images.chunks(self.image_batch.max(1)) {
            let mut pixels = Vec::with_capacity(chunk.len() * 3 * h * w);
            for img in chunk {
                pixels.extend(preprocess::preprocess(img, &self.preprocess));
            }
            out.extend(self.embed_pixels(pixels, chunk.len()).await?);
            if let Some(p) = progress.as_mut() {
                p(out.len(), images.len());
            }
        }
        Ok(out)
    }

    /// Image embeddings of `n` images already preprocessed ([`Clip::prepare_image`], one after
    /// the other: `[n, 3, H, W]`), as one batch: for callers that prepare the next batch while
    /// this one runs.
    pub async fn embed_pixels(&self, pixels: Vec<f32>, n: usize) -> Result<Vec<Vec<f32>>> {
        let [h, w] = self.config.vision.image_size;
        if pixels.len() != n * 3 * h * w {
            return Err(Error::InvalidInput(format!(
                "{} pixel values are not {n} preprocessed {h}×{w} images",
                pixels.len()
            )));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        let x =
            Tensor::<4>::from_data(TensorData::new(pixels, [n, 3, h, w]), &self.device).cast(self.precision.dtype());
        let feats = self.finite(read_f32(self.model.image_features(x)).await?, "an image")?;
        Ok(rows(feats, self.config.projection_dim))
    }

    /// Projected, unnormalised text embeddings (HF `get_text_features`), in input order, through
    /// the cache.
    pub async fn embed_texts<S: AsRef<str>>(&self, texts: &[S], mut progress: Progress<'_>) -> Result<Vec<Vec<f32>>> {
        let missing: Vec<String> = {
            let cache = self.cache();
            let mut seen = std::collections::HashSet::new();
            texts
                .iter()
                .map(|t| t.as_ref())
                .filter(|t| !cache.contains_key(*t) && seen.insert(*t))
                .map(String::from)
                .collect()
        };
        let mut done = texts.len() - missing.len();
        for chunk in missing.chunks(self.text_batch.max(1)) {
            let embs = self.encode_text_batch(chunk).await?;
            let mut cache = self.cache();
            if cache.len() + chunk.len() > TEXT_CACHE_LIMIT {
                cache.clear();
            }
            for (t, e) in chunk.iter().zip(embs) {
                cache.insert(t.clone(), e);
            }
            done += chunk.len();
            if let Some(p) = progress.as_mut() {
                p(done.min(texts.len()), texts.len());
            }
        }
        let cache = self.cache();
        texts
            .iter()
            .map(|t| {
                cache.get(t.as_ref()).cloned().ok_or_else(|| {
                    Error::InvalidInput("the text cache was cleared while embedding; embed fewer texts at once".into())
                })
            })
            .collect()
    }

    /// The text-embedding cache. A panic elsewhere while it was locked (natively, another
    /// thread) can only have left an entry out, never a wrong one (entries are inserted whole),
    /// so the cache is emptied and used again rather than failing every later call.
    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<f32>>> {
        match self.text_cache.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                let mut guard = poisoned.into_inner();
                guard.clear();
                self.text_cache.clear_poison();
                guard
            }
        }
    }

    async fn encode_text_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let rows_ids = self.tokenize(texts)?;
        let batch = self.tokenizer.batch(&rows_ids, &self.config.text);
        if let Some(bad) = batch.ids.iter().find(|&&id| id < 0 || id as usize >= self.config.text.vocab_size) {
            return Err(Error::Tokenizer(format!("token id {bad} is outside the model's vocabulary")));
        }
        let ids = Tensor::<2, Int>::from_data(TensorData::new(batch.ids, [batch.batch, batch.len]), &self.device);
        let pool = Tensor::<1, Int>::from_data(TensorData::new(batch.pool_index, [batch.batch]), &self.device);
        let feats = self.finite(read_f32(self.model.text_features(ids, pool)?).await?, "a text")?;
        Ok(rows(feats, self.config.projection_dim))
    }

    /// The zero-shot head for `labels` under `templates` (text embeddings come from the cache).
    pub async fn classifier<S: AsRef<str>>(
        &self,
        labels: &[S],
        templates: &Templates,
        progress: Progress<'_>,
    ) -> Result<Classifier> {
        zeroshot::check_labels(labels)?;
        // Each label's prompts (their number differs between languages under `auto`).
        let prompts: Vec<Vec<String>> = labels
            .iter()
            .map(|l| templates.for_label(l.as_ref()).iter().map(|tpl| Templates::fill(tpl, l.as_ref())).collect())
            .collect();
        let embs = self.embed_texts(&prompts.concat(), progress).await?;
        let mut rows = embs.into_iter();
        let per_label: Vec<Vec<Vec<f32>>> = prompts.iter().map(|p| rows.by_ref().take(p.len()).collect()).collect();
        Classifier::from_embeddings(labels.iter().map(|l| l.as_ref().to_string()).collect(), per_label)
    }

    /// Zero-shot probabilities for each image, sorted descending, `top_k` of them.
    pub async fn classify(
        &self,
        images: &[RgbImage],
        classifier: &Classifier,
        top_k: Option<usize>,
        progress: Progress<'_>,
    ) -> Result<Vec<Vec<LabelScore>>> {
        let embs = self.embed_images(images, progress).await?;
        Ok(embs.iter().map(|e| classifier.classify(e, self.scoring(), top_k)).collect())
    }

    /// Images ordered by cosine similarity to `text`.
    pub async fn rank(&self, text: &str, images: &[RgbImage], progress: Progress<'_>) -> Result<Vec<RankEntry>> {
        let q = self.embed_texts(&[text], None).await?;
        let embs = self.embed_images(images, progress).await?;
        Ok(zeroshot::rank(&q[0], &embs))
    }
}

/// A model being loaded from weights that arrive in chunks ([`Clip::begin_load`]).
pub struct StreamingLoad {
    source: StreamingSource,
    config: ClipConfig,
    preprocess: PreprocessConfig,
    tokenizer: Tokenizer,
    device: Device,
    precision: Precision,
    towers: Towers,
}

impl StreamingLoad {
    /// The model [`StreamingLoad::finish`] gives will run in the precision `choice` resolves to
    /// on the device (see [`Clip::with_precision`]). Asked before the first byte, an f16 model
    /// gets its matrices uploaded as f16 as they arrive instead of being loaded in f32 and cast
    /// (`crate::loader::stream`): half the upload, and never the f32 model on the device.
    pub fn with_precision(mut self, choice: PrecisionChoice) -> Result<Self> {
        self.precision = Precision::resolve(choice, &self.device)?;
        if self.precision == Precision::F16 {
            if self.source.received() > 0 {
                return Err(Error::InvalidInput(
                    "the precision of a streamed load is set before its first byte".into(),
                ));
            }
            self.source.narrow_to_f16();
        }
        Ok(self)
    }

    /// The next bytes of `model.safetensors`.
    pub fn push(&mut self, chunk: &[u8]) -> Result<()> {
        self.source.push(chunk)
    }

    /// All of `model.safetensors` at once, held by `file` (natively a memory map); on the CPU in
    /// f32 its f32 tensors become the weights without a copy
    /// ([`crate::loader::StreamingSource::push_shared`]).
    pub fn push_shared(&mut self, file: bytes::Bytes) -> Result<()> {
        self.source.push_shared(file)
    }

    /// Whether [`Self::push_shared`] keeps f32 tensors as the file's bytes here (CPU, f32).
    pub fn shares_f32(&self) -> bool {
        self.source.shares_f32()
    }

    /// The architecture being loaded.
    pub fn config(&self) -> &ClipConfig {
        &self.config
    }

    /// Bytes of `model.safetensors` received so far, and the file's size once its header is in.
    pub fn progress(&self) -> (u64, Option<u64>) {
        (self.source.received(), self.source.file_size())
    }

    /// After the last chunk: the model, or what was missing or wrong.
    pub async fn finish(mut self) -> Result<Clip> {
        self.source.end()?;
        let model = ClipModel::build_towers(&self.config, Box::new(self.source), &self.device, self.towers)?;
        let clip =
            Clip::assemble(model, self.config, self.tokenizer, self.preprocess, &self.device, Naming::Hf).await?;
        clip.with_precision(self.precision.into())
    }
}

/// The processor a folder without `preprocessor_config.json` gets: its family's defaults at the
/// model's resolution.
fn default_preprocess(family: Family, image_size: [usize; 2]) -> PreprocessConfig {
    match family {
        Family::Clip => PreprocessConfig::for_image_size(image_size),
        Family::Siglip => PreprocessConfig::siglip(image_size),
    }
}

/// The processor must produce exactly what the vision tower takes.
fn check_preprocess(p: &PreprocessConfig, c: &ClipConfig) -> Result<()> {
    match p.output_size() {
        Some(s) if s == c.vision.image_size => Ok(()),
        Some(s) => Err(Error::config(
            "preprocessor_config.json",
            format!(
                "produces {}x{} images but the vision model takes {}x{}",
                s[0], s[1], c.vision.image_size[0], c.vision.image_size[1]
            ),
        )),
        None => Err(Error::config(
            "preprocessor_config.json",
            "neither crop_size nor an exact size is set, so image sizes would vary; the model needs a fixed size",
        )),
    }
}

fn rows(flat: Vec<f32>, width: usize) -> Vec<Vec<f32>> {
    flat.chunks(width).map(<[f32]>::to_vec).collect()
}
