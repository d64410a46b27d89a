// The public types of the package (shared by the main-thread and the worker-backed model).

/** What runs the model. `"auto"` picks WebGPU when the browser offers an adapter, else the CPU. */
export type BackendChoice = "auto" | "webgpu" | "cpu";

/** What actually runs after loading. */
export type Backend = "webgpu" | "cpu";

/** One file of a model given as data: bytes, text, or (for the JSON files) an object. */
export type FileData = ArrayBuffer | ArrayBufferView | Blob | string | Record<string, unknown>;

/**
 * A checkpoint given as data instead of a URL. `config` is an HF `config.json`, or give
 * `openClipConfig` (an OpenCLIP `open_clip_config.json`) instead. `weights` (safetensors) must be
 * bytes (ArrayBuffer, a typed array or a Blob).
 */
export interface ModelFilesSource {
  config?: FileData;
  openClipConfig?: FileData;
  weights: ArrayBuffer | ArrayBufferView | Blob;
  tokenizer: FileData;
  preprocessor?: FileData;
}

/**
 * Where the model comes from: the base URL of a folder in Hugging Face layout (`config.json`,
 * `model.safetensors`, `tokenizer.json`, optional `preprocessor_config.json`; or OpenCLIP's
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
      /** Seconds from the `loadModel` call to a usable model (downloads included). */
      seconds: number;
    };

export interface LoadOptions {
  /** `"auto"` (default), `"webgpu"` or `"cpu"`. `"webgpu"` fails when no adapter is available. */
  backend?: BackendChoice;
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

/** The built-in prompt template sets: "a photo of a {}." and CLIP's published ensembles. */
export type TemplateSetName = "default" | "stl10" | "cifar" | "imagenet";

/** Built-in prompt template sets, or your own templates, each containing `{}`. */
export type Templates = TemplateSetName | readonly string[];

export interface ClassifyOptions {
  /** Prompt templates (default: `"default"`, i.e. "a photo of a {}."). */
  templates?: Templates;
  /** Keep only the K most probable labels per image. */
  topK?: number;
}

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

/** A loaded CLIP model (main thread or worker-backed: the same interface). */
export interface ClipModel {
  /** What actually runs: "webgpu" or "cpu". */
  readonly backend: Backend;
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
   * logits are `Math.exp(logitScale)` × cosine similarity.
   */
  readonly logitScale: number;
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
  /** Frees the model (and ends its worker). Later calls reject with "model disposed". */
  dispose(): void;
}
