//! wasm-bindgen bindings of the webclip core: what the npm package `webclip` (pkg/) wraps.
//!
//! This layer only converts: JS bytes and strings in, `Float32Array`s and plain objects out,
//! every core error turned into a `JsError` carrying the core's message. Decoding, resizing,
//! normalisation and tokenisation all happen in the core, exactly as natively.
//!
//! JS-visible API (the TS wrapper in pkg/src gives it types and the public shape):
//! - `Model.load(config?, openClipConfig?, weights, tokenizer, preprocessor?, backend, precision?)`
//!   → `Promise<Model>`; `backend` is "auto" | "webgpu" | "cpu", `precision` "auto" (f16 on an
//!   adapter with `shader-f16`, else f32) | "f32" | "f16"; a last `towers` "both" (default) |
//!   "image" loads the image tower only (a Library's embedding worker).
//! - `Model.random(configJson, tokenizer, backend, seed, precision?)` → `Promise<Model>`
//!   (benchmarks).
//! - `model.backend` ("webgpu" | "cpu"), `model.precision` ("f32" | "f16"), `model.adapter`,
//!   `model.embeddingDim`,
//!   `model.imageSize`, `model.deviceNote`.
//! - `new Images()`, `images.pushEncoded(bytes)`, `images.pushRgba(rgba, width, height)`:
//!   decoded here, so a bad file fails at once and names itself.
//! - `model.embedImages(images)` / `model.embedTexts(texts)` → `Promise<Float32Array>` (rows of
//!   `embeddingDim`), `model.classify(images, labels, templates, topK?)`, `model.rank(text, images)`.
//! - `lastPanic()`: the message of a Rust panic, if one happened (see below).
//!
//! Panics: wasm32 aborts on panic (the JS side sees `RuntimeError: unreachable` and the instance
//! is unusable). User input never reaches a panic in the core (every input is checked and
//! errors are returned); for bugs, the hook below keeps the message so the TS layer can report
//! it instead of "unreachable" and tell the caller to reload the model.

#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Float32Array, Promise};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use webclip::model::{PrecisionChoice, Towers};
use webclip::{Clip, ClipConfig, DeviceChoice, DeviceInfo, ModelFiles, RgbImage, Templates, Tokenizer};

mod library;
pub use library::{ModelHasher, SearchIndex};
mod train;
pub use train::{Trainer, shapes_batch, shapes_classes, shapes_config, shapes_recipe, shapes_training_batch};

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info.to_string();
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(msg.clone()));
        web_log(&format!("webclip panicked: {msg}"));
    }));
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn web_log(s: &str);
}

/// The message of the last Rust panic, if any (the instance must be discarded after one).
#[wasm_bindgen(js_name = lastPanic)]
pub fn last_panic() -> Option<String> {
    LAST_PANIC.with(|p| p.borrow().clone())
}

/// Current size of the wasm linear memory in bytes (it only grows): the peak-memory figure.
#[wasm_bindgen(js_name = wasmMemoryBytes)]
pub fn wasm_memory_bytes() -> f64 {
    use wasm_bindgen::JsCast;
    wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length() as f64
}

pub(crate) fn js_err(e: webclip::Error) -> JsError {
    JsError::new(&e.to_string())
}

/// `towers` option: "both" (default) or "image" (an image-embedding worker: no text tower).
fn parse_towers(towers: Option<&str>) -> Result<Towers, JsError> {
    match towers.unwrap_or("both") {
        "both" => Ok(Towers::Both),
        "image" => Ok(Towers::Image),
        other => Err(JsError::new(&format!("towers must be \"both\" or \"image\", got {other:?}"))),
    }
}

/// `precision` option → choice; `undefined` is "auto".
fn parse_precision(precision: Option<&str>) -> Result<PrecisionChoice, JsError> {
    precision.unwrap_or("auto").parse().map_err(js_err)
}

async fn open_device(backend: &str) -> Result<(webclip::burn::tensor::Device, DeviceInfo), JsError> {
    let choice: DeviceChoice = backend.parse().map_err(js_err)?;
    webclip::device::open_async(choice).await.map_err(js_err)
}

pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&format!("internal: could not convert a result for JS: {e}")))
}

/// Decoded images, ready for the model. Filled from JS one image at a time so that the error
/// for a bad file names its position.
#[wasm_bindgen]
#[derive(Default)]
pub struct Images {
    items: Rc<Vec<RgbImage>>,
}

#[wasm_bindgen]
impl Images {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Images {
        Images::default()
    }

    /// An encoded file (JPEG, PNG, GIF, WebP, BMP, TIFF), decoded exactly as the CLI does.
    #[wasm_bindgen(js_name = pushEncoded)]
    pub fn push_encoded(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        let img = webclip::preprocess::decode(bytes).map_err(|e| self.at(e))?;
        Rc::make_mut(&mut self.items).push(img);
        Ok(())
    }

    /// Unpremultiplied RGBA pixels (canvas `ImageData`), row-major.
    #[wasm_bindgen(js_name = pushRgba)]
    pub fn push_rgba(&mut self, rgba: &[u8], width: u32, height: u32) -> Result<(), JsError> {
        let img = RgbImage::from_rgba(width as usize, height as usize, rgba).map_err(|e| self.at(e))?;
        Rc::make_mut(&mut self.items).push(img);
        Ok(())
    }

    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.items.len()
    }

    /// Image `index` as RGBA pixels `{width, height, data}` (for previews, e.g. of shapes-world
    /// batches). Transparent pixels keep their alpha.
    #[wasm_bindgen(js_name = toRgba)]
    pub fn to_rgba(&self, index: usize) -> Result<JsValue, JsError> {
        let img = self.items.get(index).ok_or_else(|| JsError::new(&format!("no image {index}")))?;
        let rgb = img.flatten(webclip::preprocess::AlphaMode::Drop);
        let mut rgba = Vec::with_capacity(img.width * img.height * 4);
        for (i, px) in rgb.chunks(3).enumerate() {
            rgba.extend_from_slice(px);
            rgba.push(img.alpha.as_ref().map_or(255, |a| a[i]));
        }
        let out = js_sys::Object::new();
        train::set(&out, "width", img.width as u32)?;
        train::set(&out, "height", img.height as u32)?;
        train::set(&out, "data", js_sys::Uint8ClampedArray::from(rgba.as_slice()))?;
        Ok(out.into())
    }

    /// `[width, height]` of image `index` as decoded (after EXIF orientation).
    pub fn dims(&self, index: usize) -> Result<Vec<u32>, JsError> {
        let img = self.items.get(index).ok_or_else(|| JsError::new(&format!("no image {index}")))?;
        Ok(vec![img.width as u32, img.height as u32])
    }

    fn at(&self, e: webclip::Error) -> JsError {
        JsError::new(&format!("image {}: {e}", self.items.len() + 1))
    }
}

impl Images {
    pub(crate) fn push_image(&mut self, img: RgbImage) {
        Rc::make_mut(&mut self.items).push(img);
    }

    pub(crate) fn shared(&self) -> Rc<Vec<RgbImage>> {
        Rc::clone(&self.items)
    }
}

/// What a page's WebAssembly memory can hold for weights on the CPU backend: wasm32 addresses
/// 4 GiB, and the page needs the rest for activations, images and the runtime.
const CPU_WEIGHT_BUDGET: u64 = 3 << 30;

/// Refuses, before anything is downloaded, a model whose weights cannot fit the CPU backend's
/// memory, saying what would.
fn check_fits(
    config: &ClipConfig,
    device: &webclip::burn::tensor::Device,
    info: &DeviceInfo,
    towers: Towers,
) -> Result<(), JsError> {
    if info.backend != webclip::BackendKind::Cpu {
        return Ok(());
    }
    let bytes = webclip::loader::stream::StreamingSource::f32_weight_bytes(config, device, towers).map_err(js_err)?;
    if bytes > CPU_WEIGHT_BUDGET {
        let gb = |b: u64| b as f64 / 1e9;
        return Err(JsError::new(&format!(
            "this model's weights take {:.2} GB as f32 on the CPU backend, more than the {:.1} GB a WebAssembly page can give them \
             (its memory is 4 GiB in all); a smaller file does not help here, because the CPU backend computes in f32 whatever \
             the file's dtype (f16, q8): use the WebGPU backend, where the weights live in GPU memory",
            gb(bytes),
            gb(CPU_WEIGHT_BUDGET)
        )));
    }
    Ok(())
}

/// A model whose `model.safetensors` arrives in chunks: `ModelLoader.begin(config, tokenizer,
/// preprocessor, backend, precision, tokenizerConfig)`, then `push(chunk)` for each chunk of
/// the download, then `finish()` → `Model`. Each tensor goes to the device as soon as its bytes
/// are in, so the file and the weights never sit in memory together (HF folders only).
#[wasm_bindgen]
pub struct ModelLoader {
    load: Rc<std::cell::RefCell<Option<webclip::StreamingLoad>>>,
    info: DeviceInfo,
    /// The model hash, picked out of the chunks as they pass.
    hasher: RefCell<ModelHasher>,
}

#[wasm_bindgen]
impl ModelLoader {
    /// Reads the small files and opens the device; refuses up front a model that cannot fit.
    pub async fn begin(
        config: Vec<u8>,
        tokenizer: Vec<u8>,
        preprocessor: Option<Vec<u8>>,
        backend: String,
        precision: Option<String>,
        #[wasm_bindgen(js_name = tokenizerConfig)] tokenizer_config: Option<Vec<u8>>,
        towers: Option<String>,
    ) -> Result<ModelLoader, JsError> {
        let precision = parse_precision(precision.as_deref())?;
        let towers = parse_towers(towers.as_deref())?;
        let (device, info) = open_device(&backend).await?;
        let hasher = RefCell::new(ModelHasher::new(Some(config.clone()), None, preprocessor.clone()));
        let files = ModelFiles {
            config: Some(config),
            open_clip_config: None,
            weights: Vec::new(),
            tokenizer,
            preprocessor,
            tokenizer_config,
        };
        let load = Clip::begin_load_towers(&files, &device, towers).map_err(js_err)?;
        check_fits(load.config(), &device, &info, towers)?;
        // Before the first byte: an f16 model's matrices go to the GPU as f16 as they arrive.
        let load = load.with_precision(precision).map_err(js_err)?;
        Ok(ModelLoader { load: Rc::new(std::cell::RefCell::new(Some(load))), info, hasher })
    }

    /// The next bytes of model.safetensors.
    pub fn push(&self, chunk: &[u8]) -> Result<(), JsError> {
        match self.load.borrow_mut().as_mut() {
            Some(load) => {
                self.hasher.borrow_mut().push(chunk);
                load.push(chunk).map_err(js_err)
            }
            None => Err(JsError::new("this loader has finished")),
        }
    }

    /// After the last chunk: the model (in the precision asked for at `begin`).
    pub fn finish(&self) -> Promise {
        let load = self.load.borrow_mut().take();
        let info = self.info.clone();
        let hash = self.hasher.borrow().finish();
        wasm_bindgen_futures::future_to_promise(async move {
            let load = load.ok_or_else(|| JsError::new("this loader has finished"))?;
            let clip = load.finish().await.map_err(js_err)?;
            Ok(Model { clip: Rc::new(clip), info, hash }.into())
        })
    }
}

/// A loaded CLIP on WebGPU or the CPU backend.
#[wasm_bindgen]
pub struct Model {
    clip: Rc<Clip>,
    info: DeviceInfo,
    /// `webclip::index::ModelHash` of the files it was loaded from (none for random weights
    /// and fine-tuned models).
    hash: Option<String>,
}

#[wasm_bindgen]
impl Model {
    /// Loads an HF folder (`config`: CLIP or SigLIP) or an OpenCLIP one (`openClipConfig`) from
    /// its files' bytes.
    // One argument per file of the folder plus the settings: the JS side passes them
    // positionally, and a struct would need its own JS class.
    #[allow(clippy::too_many_arguments)]
    pub async fn load(
        config: Option<Vec<u8>>,
        #[wasm_bindgen(js_name = openClipConfig)] open_clip_config: Option<Vec<u8>>,
        weights: Vec<u8>,
        tokenizer: Vec<u8>,
        preprocessor: Option<Vec<u8>>,
        backend: String,
        precision: Option<String>,
        #[wasm_bindgen(js_name = tokenizerConfig)] tokenizer_config: Option<Vec<u8>>,
        towers: Option<String>,
    ) -> Result<Model, JsError> {
        let choice = parse_precision(precision.as_deref())?;
        let towers = parse_towers(towers.as_deref())?;
        let files = ModelFiles { config, open_clip_config, weights, tokenizer, preprocessor, tokenizer_config };
        let (device, info) = open_device(&backend).await?;
        if let Some(c) = &files.config {
            check_fits(&ClipConfig::from_config_json(c).map_err(js_err)?, &device, &info, towers)?;
        }
        let clip = Clip::load_towers(&files, &device, towers).await.map_err(js_err)?;
        let hash = {
            let small = [
                ("config.json", files.config.as_deref()),
                ("open_clip_config.json", files.open_clip_config.as_deref()),
                ("preprocessor_config.json", files.preprocessor.as_deref()),
            ];
            webclip::index::model_hash_of(&small, &files.weights)
        };
        drop(files);
        let clip = clip.with_precision(choice).map_err(js_err)?;
        Ok(Model { clip: Rc::new(clip), info, hash: Some(hash) })
    }

    /// A model with random weights for `configJson` (an HF config.json), deterministic in `seed`:
    /// benchmarks of large architectures without downloading them.
    pub async fn random(
        #[wasm_bindgen(js_name = configJson)] config_json: String,
        tokenizer: Vec<u8>,
        backend: String,
        seed: u32,
        precision: Option<String>,
    ) -> Result<Model, JsError> {
        let choice = parse_precision(precision.as_deref())?;
        let config = ClipConfig::from_config_json(config_json.as_bytes()).map_err(js_err)?;
        let tokenizer = Tokenizer::from_bytes(&tokenizer, config.context_length()).map_err(js_err)?;
        let (device, info) = open_device(&backend).await?;
        let clip = Clip::random(config, tokenizer, &device, seed as u64).await.map_err(js_err)?;
        let clip = clip.with_precision(choice).map_err(js_err)?;
        Ok(Model { clip: Rc::new(clip), info, hash: None })
    }

    pub(crate) fn from_clip(clip: Clip, info: DeviceInfo) -> Model {
        Model { clip: Rc::new(clip), info, hash: None }
    }

    /// The model hash `webclip index` writes to index.json for the same folder (`undefined`
    /// for random or fine-tuned weights).
    #[wasm_bindgen(getter, js_name = modelHash)]
    pub fn model_hash(&self) -> Option<String> {
        self.hash.clone()
    }

    /// "webgpu" or "cpu": what actually runs.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        match self.info.backend {
            webclip::BackendKind::Wgpu => "webgpu".into(),
            webclip::BackendKind::Cpu => "cpu".into(),
        }
    }

    /// "f32" or "f16": the precision inference runs in (training always runs in f32).
    #[wasm_bindgen(getter)]
    pub fn precision(&self) -> String {
        self.clip.precision().as_str().into()
    }

    /// The adapter's name ("CPU (flex, wasm)" on the CPU backend).
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> String {
        self.info.name.clone()
    }

    /// Why `auto` fell back to the CPU, when it did.
    #[wasm_bindgen(getter, js_name = deviceNote)]
    pub fn device_note(&self) -> Option<String> {
        self.info.note.clone()
    }

    #[wasm_bindgen(getter, js_name = embeddingDim)]
    pub fn embedding_dim(&self) -> usize {
        self.clip.embedding_dim()
    }

    /// `[height, width]` the vision tower takes.
    #[wasm_bindgen(getter, js_name = imageSize)]
    pub fn image_size(&self) -> Vec<u32> {
        self.clip.config().vision.image_size.iter().map(|&v| v as u32).collect()
    }

    /// The raw `logit_scale` parameter (as HF's `model.logit_scale` and the CLI's JSON); the
    /// zero-shot temperature is `exp(logitScale)`.
    #[wasm_bindgen(getter, js_name = logitScale)]
    pub fn logit_scale(&self) -> f32 {
        self.clip.logit_scale()
    }

    /// SigLIP's `logit_bias` (`undefined` for CLIP).
    #[wasm_bindgen(getter, js_name = logitBias)]
    pub fn logit_bias(&self) -> Option<f32> {
        self.clip.logit_bias()
    }

    /// The checkpoint family: `"clip"` or `"siglip"`.
    #[wasm_bindgen(getter)]
    pub fn family(&self) -> String {
        self.clip.config().family.name().to_string()
    }

    /// How `classify` turns similarities into probabilities: `"softmax"` (they sum to 1) or
    /// `"sigmoid"` (one independent probability per label).
    #[wasm_bindgen(getter)]
    pub fn scoring(&self) -> String {
        self.clip.scoring().name().to_string()
    }

    /// The config as JSON (HF config.json layout).
    #[wasm_bindgen(js_name = configJson)]
    pub fn config_json(&self) -> String {
        self.clip.config().to_hf_json("float32").to_string()
    }

    /// Token ids (77 per text, padded as the model's config says) — for inspection and tests.
    pub fn tokenize(&self, texts: Vec<String>) -> Result<JsValue, JsError> {
        to_js(&self.clip.tokenize(&texts).map_err(js_err)?)
    }

    /// Projected, unnormalised image embeddings: `length × embeddingDim` floats, row-major.
    #[wasm_bindgen(js_name = embedImages)]
    pub fn embed_images(&self, images: &Images) -> Promise {
        let clip = Rc::clone(&self.clip);
        let items = images.shared();
        future_to_promise(async move {
            let embs = clip.embed_images(&items, None).await.map_err(js_err)?;
            Ok(flat(&embs).into())
        })
    }

    /// Projected, unnormalised text embeddings: `texts.length × embeddingDim` floats.
    #[wasm_bindgen(js_name = embedTexts)]
    pub fn embed_texts(&self, texts: Vec<String>) -> Promise {
        let clip = Rc::clone(&self.clip);
        future_to_promise(async move {
            let embs = clip.embed_texts(&texts, None).await.map_err(js_err)?;
            Ok(flat(&embs).into())
        })
    }

    /// Zero-shot: for each image, `[{label, prob}]` sorted by probability. `templates` is a
    /// set name ("default", "stl10", "cifar", "imagenet") or an array of templates with `{}`.
    pub fn classify(&self, images: &Images, labels: Vec<String>, templates: JsValue, top_k: Option<u32>) -> Promise {
        let clip = Rc::clone(&self.clip);
        let items = images.shared();
        future_to_promise(async move {
            let templates = parse_templates(templates)?;
            let head = clip.classifier(&labels, &templates, None).await.map_err(js_err)?;
            let scores = clip.classify(&items, &head, top_k.map(|k| k as usize), None).await.map_err(js_err)?;
            Ok(to_js(&scores)?)
        })
    }

    /// Encodes the prompts of a label set into the text cache, so a later `classify` with the
    /// same labels and templates encodes no text (the page times label sets and images apart).
    #[wasm_bindgen(js_name = prepareLabels)]
    pub fn prepare_labels(&self, labels: Vec<String>, templates: JsValue) -> Promise {
        let clip = Rc::clone(&self.clip);
        future_to_promise(async move {
            let templates = parse_templates(templates)?;
            clip.classifier(&labels, &templates, None).await.map_err(js_err)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Images ordered by cosine similarity to `text`: `[{index, score}]`.
    pub fn rank(&self, text: String, images: &Images) -> Promise {
        let clip = Rc::clone(&self.clip);
        let items = images.shared();
        future_to_promise(async move {
            let ranked = clip.rank(&text, &items, None).await.map_err(js_err)?;
            Ok(to_js(&ranked)?)
        })
    }
}

impl Model {
    pub(crate) fn clip(&self) -> &Rc<Clip> {
        &self.clip
    }

    pub(crate) fn info(&self) -> &DeviceInfo {
        &self.info
    }
}

/// The templates of a named set ("default", "stl10", "cifar", "imagenet"): the page shows them
/// and encodes a label set ahead of the images; the lists live only in the core.
#[wasm_bindgen(js_name = templateSet)]
pub fn template_set(name: &str) -> Result<Vec<String>, JsError> {
    Ok(Templates::named(name).map_err(js_err)?.as_slice().to_vec())
}

fn parse_templates(value: JsValue) -> Result<Templates, JsError> {
    if value.is_undefined() || value.is_null() {
        return Templates::named("default").map_err(js_err);
    }
    if let Some(name) = value.as_string() {
        return Templates::named(&name).map_err(js_err);
    }
    let list: Vec<String> = serde_wasm_bindgen::from_value(value)
        .map_err(|_| JsError::new("templates must be a set name or an array of strings containing {}"))?;
    Templates::custom(&list).map_err(js_err)
}

pub(crate) fn flat(rows: &[Vec<f32>]) -> Float32Array {
    let all: Vec<f32> = rows.iter().flatten().copied().collect();
    Float32Array::from(all.as_slice())
}
