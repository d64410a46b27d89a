//! Training in the page: the core's [`webclip::train::Trainer`] behind wasm-bindgen, and the
//! shapes world for the "Learn" view.
//!
//! JS-visible API (typed by pkg/src):
//! - `model.trainer(options)` → `Promise<Trainer>`; options are the core's
//!   `webclip::train::TrainOptions` (`{ train: "projections" | "last:N" | "all", lockImage,
//!   lockText, lr, weightDecay, warmup, steps, batchSize, gradClip, seed }`), resolved against
//!   `TrainConfig::interactive()` by the core — this layer only deserialises them.
//! - `trainer.step(images, texts)` → `{ step, loss, lr, logitScale }` (`step` counts from 1;
//!   the loss is the batch's before the update); `trainer.evaluate(images, texts)` →
//!   `{ loss, similarity }`; `trainer.export(dtype, wiseFt?)` → `{ config, weights, tokenizer,
//!   preprocessor }`; `trainer.model()` → an inference `Model` of the current weights;
//!   `trainer.wiseFt(alpha)`; `trainer.saveState()` → bytes, `trainer.restore(bytes)`,
//!   `trainer.reset()`.
//! - `shapesRecipe()` → the core's `ShapesRecipe` (what `webclip train-shapes` runs);
//!   `shapesTrainingBatch(seed, step, batchSize)` → the recipe's batch of a step
//!   `{ images, captions, classes, difficulty }`; `shapesBatch(seed, first, count, difficulty,
//!   split)` → `{ images, captions, classes }` (galleries); `shapesClasses()`, `shapesConfig()`.

use std::rc::Rc;

use js_sys::{Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use webclip::Clip;
use webclip::export::WeightDtype;
use webclip::shapes::{Sample, ShapesRecipe, ShapesWorld, Split};
use webclip::train::{TrainConfig, TrainOptions};

use crate::{Images, Model, js_err, to_js};

/// `model.trainer(…)`'s options: the core's [`TrainOptions`] (`undefined` is no options).
fn trainer_config(value: JsValue) -> Result<TrainConfig, JsError> {
    let options: TrainOptions = if value.is_undefined() || value.is_null() {
        TrainOptions::default()
    } else {
        serde_wasm_bindgen::from_value(value).map_err(|e| JsError::new(&format!("trainer options: {e}")))?
    };
    options.resolve(TrainConfig::interactive()).map_err(js_err)
}

/// A copy of `clip` sharing its weights (tensors are immutable: training makes new ones).
async fn fork(clip: &Clip) -> webclip::Result<Clip> {
    Clip::from_parts(
        clip.model().clone(),
        clip.config().clone(),
        clip.tokenizer().clone(),
        clip.preprocess_config().clone(),
        clip.device(),
    )
    .await
}

/// Contrastive training of a loaded model, on its device.
#[wasm_bindgen]
pub struct Trainer {
    inner: Rc<TrainerInner>,
}

struct TrainerInner {
    base: Rc<Clip>,
    info: webclip::DeviceInfo,
    config: TrainConfig,
    /// `None` while a call holds it (calls are serialised by the TS layer; a concurrent call
    /// gets a clear error instead of a panic).
    trainer: std::cell::RefCell<Option<webclip::train::Trainer>>,
}

impl TrainerInner {
    /// An inference model made from the trainer's weights runs in the precision the model the
    /// trainer came from runs in (training itself is f32).
    fn like_base(&self, clip: Clip) -> Result<Clip, JsError> {
        clip.with_precision(self.base.precision().into()).map_err(js_err)
    }

    /// The current weights as an inference model (f32), the trainer kept.
    async fn snapshot(&self) -> Result<Clip, JsError> {
        let t = self.take()?;
        let snap = t.snapshot().await;
        self.put(t);
        snap.map_err(js_err)
    }

    /// WiSE-FT of `tuned` with the weights the trainer started from.
    async fn wise(&self, tuned: Clip, alpha: f64) -> Result<Clip, JsError> {
        let (tuned, config, tokenizer, preprocess, device) = tuned.into_parts();
        let mixed = webclip::train::wise_ft(self.base.model(), tuned, alpha).map_err(js_err)?;
        Clip::from_parts(mixed, config, tokenizer, preprocess, &device).await.map_err(js_err)
    }

    fn take(&self) -> Result<webclip::train::Trainer, JsError> {
        self.trainer
            .borrow_mut()
            .take()
            .ok_or_else(|| JsError::new("the trainer is busy (await each call before the next)"))
    }

    fn put(&self, t: webclip::train::Trainer) {
        *self.trainer.borrow_mut() = Some(t);
    }
}

#[wasm_bindgen]
impl Model {
    /// Starts fine-tuning this model (it stays usable; the trainer works on a copy).
    pub fn trainer(&self, options: JsValue) -> Promise {
        let base = Rc::clone(self.clip());
        let info = self.info().clone();
        future_to_promise(async move {
            let config = trainer_config(options)?;
            let clip = fork(&base).await.map_err(js_err)?;
            let trainer = webclip::train::Trainer::new(clip, config.clone()).map_err(js_err)?;
            let inner = TrainerInner { base, info, config, trainer: std::cell::RefCell::new(Some(trainer)) };
            Ok(Trainer { inner: Rc::new(inner) }.into())
        })
    }
}

#[wasm_bindgen]
impl Trainer {
    /// Steps taken.
    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> usize {
        self.inner.trainer.borrow().as_ref().map(|t| t.step_count()).unwrap_or(0)
    }

    /// One AdamW step on these pairs (image i with text i): `{step, loss, lr, logitScale}` (and
    /// `logitBias` with the sigmoid loss). A
    /// NaN/inf loss rejects and leaves the weights as they were.
    pub fn step(&self, images: &Images, texts: Vec<String>) -> Promise {
        let inner = Rc::clone(&self.inner);
        let items = images.shared();
        future_to_promise(async move {
            let mut t = inner.take()?;
            let result = t.step(&items, &texts).await;
            inner.put(t);
            let r = result.map_err(js_err)?;
            let out = Object::new();
            set(&out, "step", r.step as f64)?;
            set(&out, "loss", r.loss as f64)?;
            set(&out, "lr", r.lr)?;
            set(&out, "logitScale", r.logit_scale as f64)?;
            if let Some(b) = r.logit_bias {
                set(&out, "logitBias", b as f64)?;
            }
            Ok(out.into())
        })
    }

    /// Loss and the image×text cosine-similarity matrix of these pairs, without updating.
    pub fn evaluate(&self, images: &Images, texts: Vec<String>) -> Promise {
        let inner = Rc::clone(&self.inner);
        let items = images.shared();
        future_to_promise(async move {
            let t = inner.take()?;
            let result = t.evaluate(&items, &texts).await;
            inner.put(t);
            Ok(to_js(&result.map_err(js_err)?)?)
        })
    }

    /// The current weights as an HF folder: `{config, weights, tokenizer, preprocessor}`, plus
    /// `tokenizerConfig` for a SigLIP model
    /// (`weights` is model.safetensors; `dtype` "f32" (default) or "f16"). With `wiseFt` =
    /// alpha, the weights are WiSE-FT's `(1 − alpha)·start + alpha·current`.
    pub fn export(&self, dtype: Option<String>, #[wasm_bindgen(js_name = wiseFt)] wise_ft: Option<f64>) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let dtype: WeightDtype = dtype.as_deref().unwrap_or("f32").parse().map_err(js_err)?;
            let mut clip = inner.snapshot().await?;
            if let Some(alpha) = wise_ft {
                clip = inner.wise(clip, alpha).await?;
            }
            let folder = webclip::export::export_hf(&clip, dtype).await.map_err(js_err)?;
            let out = Object::new();
            set(&out, "config", String::from_utf8_lossy(&folder.config).into_owned())?;
            set(&out, "weights", Uint8Array::from(folder.weights.as_slice()))?;
            set(&out, "tokenizer", String::from_utf8_lossy(&folder.tokenizer).into_owned())?;
            set(&out, "preprocessor", String::from_utf8_lossy(&folder.preprocessor).into_owned())?;
            if let Some(tc) = &folder.tokenizer_config {
                set(&out, "tokenizerConfig", String::from_utf8_lossy(tc).into_owned())?;
            }
            Ok(out.into())
        })
    }

    /// An inference model of the current weights (classify with the tuned model).
    pub fn model(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let clip = inner.like_base(inner.snapshot().await?)?;
            Ok(Model::from_clip(clip, inner.info.clone()).into())
        })
    }

    /// WiSE-FT: an inference model with weights `(1 − alpha)·start + alpha·current`.
    #[wasm_bindgen(js_name = wiseFt)]
    pub fn wise_ft(&self, alpha: f64) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let clip = inner.wise(inner.snapshot().await?, alpha).await?;
            Ok(Model::from_clip(inner.like_base(clip)?, inner.info.clone()).into())
        })
    }

    /// The optimiser state (AdamW moments, step count) as safetensors bytes: with `export()`'s
    /// weights, everything needed to continue after a reload (`restore`).
    #[wasm_bindgen(js_name = saveState)]
    pub fn save_state(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let t = inner.take()?;
            let state = t.state().await;
            inner.put(t);
            let bytes = state.map_err(js_err)?.to_safetensors().map_err(js_err)?;
            Ok(Uint8Array::from(bytes.as_slice()).into())
        })
    }

    /// Continues from `saveState()`'s bytes (the trainer's model must have the weights that were
    /// exported with them).
    pub fn restore(&self, state: Vec<u8>) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let state = webclip::train::TrainerState::from_safetensors(&state).map_err(js_err)?;
            let mut t = inner.take()?;
            let r = t.restore(state);
            inner.put(t);
            r.map_err(js_err)?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Back to the starting weights and a fresh optimiser.
    pub fn reset(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            let old = inner.take()?;
            let fresh = async {
                let clip = fork(&inner.base).await?;
                webclip::train::Trainer::new(clip, inner.config.clone())
            }
            .await;
            match fresh {
                Ok(t) => inner.put(t),
                Err(e) => {
                    inner.put(old);
                    return Err(js_err(e).into());
                }
            }
            Ok(JsValue::UNDEFINED)
        })
    }
}

pub(crate) fn set(obj: &Object, key: &str, value: impl Into<JsValue>) -> Result<(), JsError> {
    Reflect::set(obj, &JsValue::from_str(key), &value.into())
        .map(|_| ())
        .map_err(|_| JsError::new("internal: could not build a result object"))
}

/// `{images, captions, classes}` of shapes-world samples (the images as an `Images`).
fn samples_object(samples: Vec<Sample>) -> Result<Object, JsError> {
    let mut images = Images::new();
    let captions = js_sys::Array::new();
    let classes = js_sys::Array::new();
    for s in samples {
        captions.push(&JsValue::from_str(&s.caption));
        classes.push(&JsValue::from_str(&s.class_name()));
        images.push_image(s.image);
    }
    let out = Object::new();
    set(&out, "images", images)?;
    set(&out, "captions", captions)?;
    set(&out, "classes", classes)?;
    Ok(out)
}

/// A batch of the shapes world: `{images, captions, classes}`. `split`: "train" (the 20 seen
/// combinations, class-balanced), "heldout" (the 4 held out) or "all".
#[wasm_bindgen(js_name = shapesBatch)]
pub fn shapes_batch(seed: u32, first: u32, count: u32, difficulty: f32, split: &str) -> Result<JsValue, JsError> {
    let split: Split = split.parse().map_err(js_err)?;
    if count == 0 || count > 1024 {
        return Err(JsError::new(&format!("count must be 1..=1024, got {count}")));
    }
    let world = ShapesWorld::new(seed as u64, webclip::shapes::WORLD_SIZE).with_difficulty(difficulty);
    let samples = webclip::shapes::balanced_batch(&world, split, first as u64, count as usize);
    Ok(samples_object(samples)?.into())
}

/// The training batch of step `step` (counting from 1) of the shapes recipe with `batchSize`
/// pairs: `{images, captions, classes, difficulty}` — exactly `webclip train-shapes`' batch.
#[wasm_bindgen(js_name = shapesTrainingBatch)]
pub fn shapes_training_batch(
    seed: u32,
    step: u32,
    #[wasm_bindgen(js_name = batchSize)] batch_size: u32,
) -> Result<JsValue, JsError> {
    if step == 0 {
        return Err(JsError::new("step counts from 1"));
    }
    let recipe = ShapesRecipe { batch_size: batch_size as usize, ..ShapesRecipe::default() };
    recipe.validate().map_err(js_err)?;
    let out = samples_object(recipe.batch(seed as u64, step as usize))?;
    set(&out, "difficulty", recipe.difficulty(step as usize))?;
    Ok(out.into())
}

/// The recipe the Learn view runs (the core's `ShapesRecipe`, camelCase).
#[wasm_bindgen(js_name = shapesRecipe)]
pub fn shapes_recipe() -> Result<JsValue, JsError> {
    to_js(&ShapesRecipe::default())
}

/// The tiny CLIP architecture the shapes world is trained with (HF config.json).
#[wasm_bindgen(js_name = shapesConfig)]
pub fn shapes_config() -> String {
    ShapesRecipe::default().model_config().to_hf_json("float32").to_string()
}

/// The 24 class names and which are held out: `[{name, heldOut}]`.
#[wasm_bindgen(js_name = shapesClasses)]
pub fn shapes_classes() -> Result<JsValue, JsError> {
    to_js(&webclip::shapes::classes())
}
