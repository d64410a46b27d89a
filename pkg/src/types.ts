// The public types of the package (shared by the main-thread and the worker-backed model).

/** What runs the model. `"auto"` picks WebGPU when the browser offers an adapter, else the CPU. */
export type BackendChoice = "auto" | "webgpu" | "cpu";

/** What actually runs after loading. */
export type Backend = "webgpu" | "cpu";

/**
 * Inference precision. `"auto"` runs f16 weights and activations on a WebGPU adapter with the
 * `shader-f16` feature (half the GPU memory and memory traffic; LayerNorm stays f32) and f32
 * elsewhere; `"f16"` asks for f16 on any backend that supports it (an error where none does).
 * Training always runs in f32.
 */
export type PrecisionChoice = "auto" | "f32" | "f16";

/** The precision a loaded model runs in. */
export type Precision = "f32" | "f16";

/** One file of a model given as data: bytes, text, or (for the JSON files) an object. */
export type FileData = ArrayBuffer | ArrayBufferView | Blob | string | Record<string, unknown>;

/**
 * A checkpoint given as data instead of a URL. `config` is an HF `config.json`, or give
 * `openClipConfig` (an OpenCLIP `open_clip_config.json`) instead. `weights` (safetensors) must be
 * bytes (ArrayBuffer, a typed array or a Blob).
 *
 * For training from scratch, give `randomSeed` instead of `weights` (with an HF `config` and the
 * tokenizer, no preprocessor): random initial weights, deterministic in the seed.
 */
export interface ModelFilesSource {
  config?: FileData;
  openClipConfig?: FileData;
  /** The safetensors file; required unless `randomSeed` is given. */
  weights?: ArrayBuffer | ArrayBufferView | Blob;
  tokenizer: FileData;
  preprocessor?: FileData;
  /** tokenizer_config.json: its `pad_token` is what a SigLIP model pads texts with. */
  tokenizerConfig?: FileData;
  /** Random initial weights from this seed (an integer 0 … 2³²−1) instead of `weights`. */
  randomSeed?: number;
}

/**
 * Where the model comes from: the base URL of a folder in Hugging Face layout, CLIP or SigLIP
 * (`config.json`, `model.safetensors`, `tokenizer.json`, optional `preprocessor_config.json` and
 * `tokenizer_config.json`; or OpenCLIP's
 * `open_clip_config.json` + `open_clip_model.safetensors`), or the files themselves.
 */
export type ModelSource = string | URL | ModelFilesSource;

/** Loading progress, in this order: `download` (per file, repeatedly), `load`, `ready`. */
export type Progress =
  | {
      stage: "download";
      /** File name within the folder, e.g. "model.safetensors". */
      file: string;
      /** Absolute URL of the file. */
      url: string;
      /** Bytes received so far. */
      loaded: number;
      /** Size in bytes when the server says it (Content-Length, uncompressed responses). */
      total?: number;
      /** The file came from the Cache API (no network). */
      cached?: boolean;
    }
  | { stage: "load" }
  | {
      stage: "ready";
      backend: Backend;
      precision: Precision;
      /** Seconds from the `loadModel` call to a usable model (downloads included). */
      seconds: number;
    };

export interface LoadOptions {
  /** `"auto"` (default), `"webgpu"` or `"cpu"`. `"webgpu"` fails when no adapter is available. */
  backend?: BackendChoice;
  /** `"auto"` (default: f16 on WebGPU adapters with `shader-f16`), `"f32"` or `"f16"`. */
  precision?: PrecisionChoice;
  /**
   * "both" (default), or "image": only the image tower is loaded (its weights only: ViT-B/32 352
   * MB instead of 605 MB on the CPU backend) and text calls reject — for image-embedding workers.
   */
  towers?: "both" | "image";
  /** Called with loading progress. */
  onProgress?: (progress: Progress) => void;
  /**
   * Keep downloaded files in the Cache API (`true`: the cache "webclip-models-v1", or a cache
   * name) and reuse them next time without the network. Skipped silently where the Cache API is
   * unavailable (e.g. a non-secure context).
   */
  cache?: boolean | string;
  /** Where `webclip_wasm_bg.wasm` is served from (default: next to the package's glue code). */
  wasmUrl?: string | URL;
  /** Extra options for `fetch` (headers, credentials, signal…) when the source is a URL. */
  fetchOptions?: RequestInit;
}

export interface WorkerLoadOptions extends Omit<LoadOptions, "fetchOptions"> {
  /** Where the package's `worker.js` is served from (default: next to `index.js`). */
  workerUrl?: string | URL;
  /** Extra options for `fetch` (must be structured-cloneable: no `signal`). */
  fetchOptions?: Omit<RequestInit, "signal" | "window">;
}

/**
 * An image: an encoded file (JPEG, PNG, GIF, WebP, BMP, TIFF) as a Blob/File, ArrayBuffer or
 * Uint8Array; or pixels as ImageData or an ImageBitmap. Decoding and preprocessing are done by
 * the webclip core exactly as natively (Pillow-identical), never by the browser — except that
 * ImageData/ImageBitmap pixels are what the browser decoded.
 */
export type ImageInput = Blob | ArrayBuffer | Uint8Array | ImageData | ImageBitmap;

/**
 * The built-in prompt template sets: "a photo of a {}.", CLIP's published ensembles, one set per
 * language for multilingual models ("ko" `{}의 사진.`, "ja", "zh", "es", "fr", "de"), and "auto":
 * each label in its own language's set (Korean, Japanese, Chinese told by their script; others
 * English).
 */
export type TemplateSetName = "default" | "auto" | "stl10" | "cifar" | "imagenet" | "ko" | "ja" | "zh" | "es" | "fr" | "de";

/** Built-in prompt template sets, or your own templates, each containing `{}`. */
export type Templates = TemplateSetName | readonly string[];

export interface ClassifyOptions {
  /** Prompt templates (default: `"default"`, i.e. "a photo of a {}."). */
  templates?: Templates;
  /** Keep only the K most probable labels per image. */
  topK?: number;
}

/** A checkpoint family webclip runs. */
export type Family = "clip" | "siglip";

/** How similarities become probabilities (see `ClipModel.scoring`). */
export type Scoring = "softmax" | "sigmoid";

/** One label's probability for an image. */
export interface LabelProb {
  label: string;
  prob: number;
}

/** One image's cosine similarity to a query text; `index` is its position in the input. */
export interface RankEntry {
  index: number;
  score: number;
}

// ---- training ----------------------------------------------------------------------------------

/**
 * What trains: the two projections (and the temperature), the last N transformer blocks of each
 * tower (plus the final norms and projections), or everything.
 */
export type TrainMode = "projections" | "all" | `last:${number}`;

/** Options of `model.trainer(…)`; all optional. */
export interface TrainerOptions {
  /** Default `"projections"`. */
  train?: TrainMode;
  /** Keep the image tower and its projection as they are (LiT). Default false. */
  lockImage?: boolean;
  /** Keep the text tower and its projection as they are. Default false. */
  lockText?: boolean;
  /** Peak learning rate (AdamW). Default 1e-5. */
  lr?: number;
  /**
   * AdamW weight decay, applied to parameters of 2 or more dimensions only (OpenCLIP: not to
   * biases, norms, the class embedding or `logit_scale`). Default 0.2.
   */
  weightDecay?: number;
  /** Linear warmup steps. Default 0. */
  warmup?: number;
  /**
   * Planned length of the run: the rate follows a cosine from `lr` to 0 at this step (after the
   * warmup). Without it the rate stays at `lr` after the warmup.
   */
  steps?: number;
  /**
   * Largest micro-batch: a step on more pairs accumulates gradients over micro-batches of this
   * size (features cached, so the loss and the update are the full batch's). Default: the
   * whole batch at once.
   */
  batchSize?: number;
  /** Accepted for reproducibility records; training itself is deterministic (no dropout). */
  seed?: number;
  /** Clip the global gradient norm to this (0: off). Default 1. */
  gradClip?: number;
  /**
   * The contrastive loss: `"softmax"` (CLIP's InfoNCE: each image picks its caption among the
   * batch) or `"sigmoid"` (SigLIP's: every pair is its own yes/no question, which the SigLIP
   * paper finds better at small batches). Default: the model family's own.
   */
  loss?: Loss;
}

/** A contrastive loss. */
export type Loss = "softmax" | "sigmoid";

/** What one optimiser step did. */
export interface StepResult {
  /** The batch's loss before this step's update. */
  loss: number;
  /** The raw `logit_scale` after the update (the temperature is `Math.exp(logitScale)`). */
  logitScale: number;
  /** The bias after the update (sigmoid loss only). */
  logitBias?: number;
  /** Steps done after this one (1 for the first). */
  step: number;
  /** The learning rate this update used. */
  lr: number;
}

/** The loss and the images × texts cosine similarities of a batch, without updating. */
export interface Evaluation {
  loss: number;
  /** `similarity[i][j]`: image i with text j. */
  similarity: number[][];
}

export interface ExportOptions {
  /** Weight dtype of model.safetensors: `"f32"` (default, exact) or `"f16"` (half the size). */
  dtype?: "f32" | "f16";
  /** WiSE-FT: export `(1 − α)·start + α·current` (α in [0, 1]) instead of the current weights. */
  wiseFt?: number;
}

/**
 * A Hugging Face CLIP or SigLIP folder as data: `loadModel(files)` loads it, and written to disk
 * as config.json, model.safetensors, tokenizer.json, preprocessor_config.json (and, for SigLIP,
 * tokenizer_config.json) it is a folder transformers' `CLIPModel` / `SiglipModel.from_pretrained`
 * reads.
 */
export interface ExportedModel {
  /** config.json */
  config: string;
  /** model.safetensors */
  weights: Uint8Array;
  /** tokenizer.json */
  tokenizer: string;
  /** preprocessor_config.json */
  preprocessor: string;
  /** tokenizer_config.json (SigLIP: names the pad token its processor pads with). */
  tokenizerConfig?: string;
}

/** Contrastive fine-tuning of a model (on its backend; the model itself is unchanged). */
export interface ClipTrainer {
  /** Optimiser steps done so far. */
  readonly steps: number;
  /** One optimiser step on these pairs (image i with text i; at least 2 pairs). */
  step(images: readonly ImageInput[], texts: readonly string[]): Promise<StepResult>;
  /** Loss and similarities of these pairs with the current weights; nothing is updated. */
  evaluate(images: readonly ImageInput[], texts: readonly string[]): Promise<Evaluation>;
  /** The current (or WiSE-FT-mixed) weights as an HF folder. */
  export(options?: ExportOptions): Promise<ExportedModel>;
  /** The optimiser state (AdamW moments and step count) as bytes; with `export()`, all to resume. */
  saveState(): Promise<Uint8Array>;
  /** Continues from `saveState()`'s bytes; this trainer's model must be the matching export. */
  restore(state: Uint8Array | ArrayBuffer): Promise<void>;
  /** Back to the starting weights and a fresh optimiser (steps = 0). */
  reset(): Promise<void>;
  /** Frees the trainer. Later calls reject with "trainer disposed". */
  dispose(): void;
}

// ---- the shapes world -----------------------------------------------------------------------------

export interface ShapesBatchOptions {
  /** World seed. Default 0. */
  seed?: number;
  /** Index of the first example (examples are numbered; the same index is always the same image). */
  first: number;
  /** How many examples (1 … 1024). */
  count: number;
  /** 0 (clean: white background, no clutter) … 1 (the full world, default). */
  difficulty?: number;
  /** `"train"` (the 20 seen colour × shape classes, default), `"heldout"` (the 4 held out) or `"all"`. */
  split?: "train" | "heldout" | "all";
}

export interface ShapesBatch {
  images: ImageData[];
  captions: string[];
  /** Class name of each example ("red circle", …). */
  classes: string[];
  /** The curriculum's difficulty the batch was drawn at (training batches only). */
  difficulty?: number;
}

/** The training batch of one step of the shapes recipe: exactly `webclip train-shapes`' batch. */
export interface ShapesTrainingBatchOptions {
  /** World seed (the run's seed). Default 0. */
  seed?: number;
  /** The step, counting from 1. */
  step: number;
  /** Pairs per step, 2 … 1024 (default: the recipe's 20; up to 20 every pair is a different class). */
  batchSize?: number;
}

/**
 * The recipe that trains the tiny shapes CLIP from scratch (`webclip train-shapes`, the demo
 * page's Learn view): defined once in the Rust core.
 */
export interface ShapesRecipe {
  /** Steps of the whole schedule (the cosine reaches 0 there; the curriculum spans it). */
  steps: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  /** Linear warmup steps. */
  warmup: number;
  gradClip: number;
  /** Clean drawings for this fraction of the steps, then a ramp to the full world over as many. */
  curriculum: number;
  /** Side of the model's square input. */
  imageSize: number;
  /** Where a demo stops by default (the first steps of this schedule). */
  stopAfter: number;
}

export interface ShapesClass {
  name: string;
  /** Never seen in "train" batches: for testing compositional generalisation. */
  heldOut: boolean;
}

/** A loaded CLIP model (main thread or worker-backed: the same interface). */
export interface ClipModel {
  /** What actually runs: "webgpu" or "cpu". */
  readonly backend: Backend;
  /** What inference runs in: "f16" (weights and activations) or "f32". */
  readonly precision: Precision;
  /** The GPU adapter's name, or the CPU backend's. */
  readonly adapter: string;
  /** Why `backend: "auto"` fell back to the CPU, when it did. */
  readonly deviceNote: string | undefined;
  /** Length of the projected embeddings. */
  readonly embeddingDim: number;
  /** `[height, width]` the vision tower takes. */
  readonly imageSize: readonly [number, number];
  /**
   * The raw `logit_scale` parameter (as HF's `model.logit_scale` and the CLI's JSON): zero-shot
   * logits are `Math.exp(logitScale)` × cosine similarity (+ `logitBias` for SigLIP).
   */
  readonly logitScale: number;
  /** SigLIP's `logit_bias`; `undefined` for CLIP. */
  readonly logitBias: number | undefined;
  /** The checkpoint family. */
  readonly family: Family;
  /**
   * How `classify` turns similarities into probabilities: `"softmax"` (CLIP: they sum to 1 over
   * the labels) or `"sigmoid"` (SigLIP: each label's probability on its own).
   */
  readonly scoring: Scoring;
  /**
   * What identifies the weights: the hash `webclip index` writes to index.json for the same
   * folder (config files, the weights' length and samples of them). Undefined for random or
   * fine-tuned weights.
   */
  readonly modelHash: string | undefined;
  /** The model's name: the last segment of its URL, or "files" for a model given as data. */
  readonly modelId: string;
  /** Whether the model runs in a Web Worker (`loadModelInWorker`). */
  readonly inWorker: boolean;

  /** Projected, unnormalised image embeddings (one `embeddingDim` row per image). */
  embedImages(images: readonly ImageInput[]): Promise<Float32Array[]>;
  /** Projected, unnormalised text embeddings (one `embeddingDim` row per text). */
  embedTexts(texts: readonly string[]): Promise<Float32Array[]>;
  /** Zero-shot classification: per image, labels with probabilities, most probable first. */
  classify(images: readonly ImageInput[], labels: readonly string[], options?: ClassifyOptions): Promise<LabelProb[][]>;
  /** The images ordered by cosine similarity to `text`, best first. */
  rank(text: string, images: readonly ImageInput[]): Promise<RankEntry[]>;
  /** The templates of a built-in set (the lists live in the Rust core; shown by UIs). */
  templates(name: TemplateSetName): Promise<string[]>;
  /**
   * Encodes the prompts of a label set now (they are cached by text), so a later `classify` with
   * the same labels and templates encodes no text: lets a UI time label sets and images apart.
   */
  prepareLabels(labels: readonly string[], options?: Pick<ClassifyOptions, "templates">): Promise<void>;
  /** Size of the WebAssembly memory in bytes (it only grows, so this is the peak). */
  memoryBytes(): Promise<number>;
  /** Starts fine-tuning (on a copy of the weights: this model stays as it is). */
  trainer(options?: TrainerOptions): Promise<ClipTrainer>;
  /** Examples of the synthetic shapes world (coloured shapes with captions). */
  shapesBatch(options: ShapesBatchOptions): Promise<ShapesBatch>;
  /** The shapes world's 24 classes and which 4 are held out of training. */
  shapesClasses(): Promise<ShapesClass[]>;
  /** The shapes training recipe (schedule, curriculum, batch size). */
  shapesRecipe(): Promise<ShapesRecipe>;
  /** The recipe's training batch of one step (class-balanced, at the curriculum's difficulty). */
  shapesTrainingBatch(options: ShapesTrainingBatchOptions): Promise<ShapesBatch>;
  /** Frees the model and its trainers (and ends its worker). Later calls reject with "model disposed". */
  dispose(): void;
}

// ---- Library: a photo collection indexed and searched in the page -------------------------------

/** One file of a collection: its path inside the collection (the key) and its bytes. */
export interface LibraryFile {
  /** Path relative to the collection's root, `/`-separated ("trips/2024/beach.jpg"). */
  path: string;
  /** The file (a `File` carries `size` and `lastModified`; a plain Blob needs them given). */
  file: Blob;
  /** Bytes (default `file.size`). */
  size?: number;
  /** Milliseconds since the epoch (default `file.lastModified`, else 0). */
  lastModified?: number;
}

/** What the library knows of one indexed image. */
export interface LibraryEntry {
  path: string;
  size: number;
  lastModified: number;
  width: number;
  height: number;
}

/** A file the library could not index, and why (the core's message). */
export interface LibraryError {
  path: string;
  reason: string;
}

/** Where the library persists: the Origin Private File System, IndexedDB, or nowhere. */
export type LibraryStorage = "opfs" | "indexeddb" | "memory";

export interface LibraryOptions extends Omit<WorkerLoadOptions, "onProgress"> {
  /**
   * The collection's name: one persisted index per (name, model). Default "default".
   */
  name?: string;
  /**
   * Embedding workers. Default: 1 on WebGPU; on the CPU backend min(hardwareConcurrency / 2, 4)
   * (at least 1), each with its own copy of the model, since wasm threads are not available.
   */
  workers?: number;
  /** "auto" (default): OPFS where the browser has it, else IndexedDB. "memory": not persisted. */
  storage?: "auto" | LibraryStorage;
  /** Model loading progress (each worker's). */
  onProgress?: (p: Progress & { worker: number }) => void;
}

/** Progress of `library.update()`. */
export interface LibraryProgress {
  /** Files to embed in this run (new or changed). */
  total: number;
  /** Of them, done (embedded or failed). */
  done: number;
  /** Of `done`, failed (listed in `library.errors`). */
  failed: number;
  /** Images per second over this run so far. */
  rate: number;
  /** Seconds left at that rate (undefined before the first batch). */
  etaSeconds: number | undefined;
  /** The last paths finished (for a live thumbnail strip). */
  latest: string[];
}

export interface LibraryUpdateOptions {
  onProgress?: (p: LibraryProgress) => void;
  /** Aborting stops after the batches in flight; what was embedded is kept (pause = abort, resume = update again). */
  signal?: AbortSignal;
  /** Images per worker batch (default 8). */
  batchSize?: number;
}

/** What `update()` did. */
export interface LibraryUpdateSummary {
  /** Files new or changed since the index was last saved, and embedded now. */
  embedded: number;
  /** Files that failed now (corrupt, not an image, too large). */
  failed: number;
  /** Entries removed because their file is gone from the collection. */
  removed: number;
  /** Files unchanged (path, size and lastModified the same): not embedded again. */
  unchanged: number;
  /** Whether the run was aborted before the end. */
  aborted: boolean;
  seconds: number;
  imagesPerSecond: number;
}

/** One search result. */
export interface LibraryHit {
  path: string;
  /** Cosine similarity. */
  score: number;
  /** Row in the index (export order). */
  row: number;
}

/** A file of an exported index, in the CLI's layout ("index.json", "img_emb/img_emb_0.npy", …). */
export interface IndexFile {
  path: string;
  data: Uint8Array;
}

/** A persisted library that may belong to another model (before opening it). */
export interface StoredLibrary {
  name: string;
  modelHash: string;
  modelId: string;
  count: number;
  storage: LibraryStorage;
}

/**
 * A photo collection: embeddings of its images (L2-normalised, f16, as `webclip index` writes
 * them), persisted per model, searched exactly (the core's search: the same scores as
 * `webclip search` on the same rows).
 */
export interface Library {
  readonly name: string;
  /** The model's identity (the same hash `webclip index` writes to index.json). */
  readonly modelHash: string;
  readonly modelId: string;
  readonly embeddingDim: number;
  readonly storage: LibraryStorage;
  readonly workers: number;
  readonly backend: Backend;
  /** Rows in the index. */
  readonly size: number;
  entries(): LibraryEntry[];
  /** Files that failed, from every run (cleared when the file is fixed or gone). */
  errors(): LibraryError[];
  /**
   * Brings the index up to date with `files` (the whole collection as it is now): new and
   * changed files are embedded on the workers, entries whose file is missing from `files` are
   * dropped, unchanged ones are kept. Saves after each batch round (atomically: a crash or a
   * full disk leaves the previous complete index).
   */
  update(files: readonly LibraryFile[], options?: LibraryUpdateOptions): Promise<LibraryUpdateSummary>;
  /** The `topK` (default 20) images most similar to a text, an image, or an indexed path. */
  search(query: string | { image: ImageInput } | { path: string }, options?: { topK?: number }): Promise<LibraryHit[]>;
  /** The index in the CLI's layout (index.json, img_emb/, metadata/, errors.jsonl). */
  exportIndex(options?: { partitionSize?: number }): Promise<IndexFile[]>;
  /** Replaces the index with one in the CLI's layout (made by `webclip index` or `exportIndex`) for this model; refuses another model's. */
  importIndex(files: readonly IndexFile[]): Promise<void>;
  /** Empties the index (and its persisted copy). */
  clear(): Promise<void>;
  /** Bytes of wasm memory per worker. */
  memoryBytes(): Promise<number[]>;
  /** Ends the workers (the persisted index stays). */
  dispose(): void;
}
