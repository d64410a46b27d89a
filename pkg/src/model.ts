// The model on the current thread (main thread or inside a worker): the wasm core wrapped with
// types, a call queue, and the error policy (core errors pass through; a trap poisons).

import init, {
  Images,
  Model,
  ModelLoader,
  lastPanic,
  normaliseToF16,
  tooLarge,
  shapesBatch,
  shapesClasses,
  shapesRecipe,
  shapesTrainingBatch,
  templateSet,
  wasmMemoryBytes,
} from "../wasm/webclip_wasm.js";
import type { Trainer } from "../wasm/webclip_wasm.js";
import type { EmbeddedFiles } from "./protocol.js";
import { checkImages, toWasmImages } from "./images.js";
import { SERVING_HINT, absoluteUrl, checkFilesSource, describe, fetchFolder, filesFromObject, prebundledFile } from "./source.js";
import type { FileBytes } from "./source.js";
import { checkExportOptions, checkShapesOptions, checkShapesTrainingOptions, checkState, checkTrainerOptions } from "./train.js";
import type {
  Backend,
  Family,
  Scoring,
  BackendChoice,
  ClassifyOptions,
  ClipModel,
  ClipTrainer,
  Evaluation,
  ExportOptions,
  ExportedModel,
  ImageInput,
  LabelProb,
  LoadOptions,
  ModelSource,
  Precision,
  PrecisionChoice,
  Progress,
  RankEntry,
  ShapesBatch,
  ShapesBatchOptions,
  ShapesClass,
  ShapesRecipe,
  ShapesTrainingBatchOptions,
  StepResult,
  TemplateSetName,
  TrainerOptions,
} from "./types.js";

// ---- the wasm instance ------------------------------------------------------------------------

let wasmReady: Promise<void> | null = null;

/** Instantiates the wasm module once (later calls share it; a failed start may be retried). */
export function initWasm(wasmUrl?: string | URL): Promise<void> {
  if (!wasmReady) {
    // By default the glue finds the wasm next to itself, unless this is a dev server's
    // pre-bundled copy of the code (then the package's own wasm/ folder).
    const url = wasmUrl !== undefined ? absoluteUrl(wasmUrl) : prebundledFile("wasm/webclip_wasm_bg.wasm");
    wasmReady = (url === null ? init() : init({ module_or_path: fetchWasm(url) })).then(
      () => watchTraps(),
      (e: unknown) => {
        wasmReady = null;
        let message = e instanceof Error ? e.message : String(e);
        // Bytes that are not WebAssembly: usually a page (an SPA fallback) served instead of the file.
        if (e instanceof WebAssembly.CompileError) message += ` — the URL of webclip_wasm_bg.wasm answered something else (an HTML page?): ${SERVING_HINT}`;
        throw new Error(`could not start the webclip WebAssembly module: ${message}`);
      },
    );
  }
  return wasmReady;
}

/** The wasm's response, or an error naming the URL when it is not the module. */
async function fetchWasm(url: string): Promise<Response> {
  const res = await fetch(url);
  const type = res.headers.get("Content-Type") ?? "";
  if (!res.ok || type.startsWith("text/html")) {
    throw new Error(`${url} answered ${res.ok ? `an HTML page (${type})` : `HTTP ${res.status}`}, not webclip_wasm_bg.wasm; ${SERVING_HINT}`);
  }
  return res;
}

// A Rust panic (or an allocation failure) aborts: a `WebAssembly.RuntimeError` ("unreachable").
// After one the instance's state is undefined, so every model of this instance is unusable. The
// trap may be thrown synchronously from a call, or (inside async Rust, polled from a microtask)
// reported as an uncaught error — which would leave the call's promise pending forever, so calls
// also race against a trap signal fed by the global error events.

let fatal: Error | null = null;
let inFlight = 0;
const trapWaiters = new Set<(e: Error) => void>();

function fatalError(trap: Error): Error {
  if (!fatal) {
    let panic: string | undefined;
    try {
      panic = lastPanic() ?? undefined;
    } catch {
      panic = undefined;
    }
    fatal = new Error(`webclip internal error: ${panic ?? trap.message} — the model must be reloaded`);
  }
  return fatal;
}

function onTrap(reason: unknown, event: Event): void {
  if (inFlight === 0 || !(reason instanceof WebAssembly.RuntimeError)) return;
  const err = fatalError(reason);
  for (const reject of trapWaiters) reject(err);
  // In a worker, handled here: don't let it reach the page as the worker's "error" event.
  if (typeof (globalThis as { document?: unknown }).document === "undefined") event.preventDefault();
}

let watching = false;
function watchTraps(): void {
  if (watching || typeof globalThis.addEventListener !== "function") return;
  watching = true;
  globalThis.addEventListener("error", (ev) => onTrap((ev as ErrorEvent).error, ev));
  globalThis.addEventListener("unhandledrejection", (ev) => onTrap((ev as PromiseRejectionEvent).reason, ev));
}

/** Runs a wasm call with the trap policy: core errors pass through, a trap becomes fatal. */
async function guarded<T>(call: () => Promise<T>): Promise<T> {
  if (fatal) throw fatal;
  inFlight++;
  let reject!: (e: Error) => void;
  const trapped = new Promise<never>((_, r) => (reject = r));
  trapWaiters.add(reject);
  try {
    return await Promise.race([call(), trapped]);
  } catch (e) {
    if (fatal) throw fatal;
    if (e instanceof WebAssembly.RuntimeError) throw fatalError(e);
    if (e instanceof Error) throw e;
    throw new Error(String(e));
  } finally {
    trapWaiters.delete(reject);
    inFlight--;
  }
}

// ---- validation -------------------------------------------------------------------------------

/** `options[name]`: one of `allowed` (the first is the default), else a TypeError naming them. */
function checkChoice<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (value === undefined) return allowed[0]!;
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    const list = allowed.map((a) => JSON.stringify(a));
    const got = typeof value === "string" ? JSON.stringify(value) : describe(value);
    throw new TypeError(`options.${name} must be ${list.slice(0, -1).join(", ")} or ${list.at(-1)}, got ${got}`);
  }
  return value as T;
}

export function checkBackend(backend: unknown): BackendChoice {
  return checkChoice<BackendChoice>("backend", backend, ["auto", "webgpu", "cpu"]);
}

export function checkTowers(towers: unknown): "both" | "image" {
  return checkChoice<"both" | "image">("towers", towers, ["both", "image"]);
}

export function checkPrecision(precision: unknown): PrecisionChoice {
  return checkChoice<PrecisionChoice>("precision", precision, ["auto", "f32", "f16"]);
}

export function checkTexts(texts: unknown, what = "texts"): asserts texts is readonly string[] {
  if (!Array.isArray(texts)) throw new TypeError(`${what} must be an array of strings, got ${describe(texts)}`);
  texts.forEach((t, i) => {
    if (typeof t !== "string") throw new TypeError(`${what}[${i}] must be a string, got ${describe(t)}`);
  });
}

export function checkClassifyOptions(options: unknown): ClassifyOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== "object") throw new TypeError(`classify options must be an object {templates?, topK?}, got ${describe(options)}`);
  const { templates, topK } = options as ClassifyOptions;
  if (templates !== undefined && typeof templates !== "string") checkTexts(templates, "options.templates");
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 1 && topK <= 0xffffffff)) {
    throw new TypeError(`options.topK must be a positive integer, got ${String(topK)}`);
  }
  return { ...(templates !== undefined ? { templates } : {}), ...(topK !== undefined ? { topK } : {}) };
}

export function checkSource(source: unknown): void {
  if (typeof source === "string" || source instanceof URL) return;
  checkFilesSource(source);
}

/** Calls `onProgress` without letting its exceptions break loading. */
export function progressReporter(onProgress: LoadOptions["onProgress"]): (p: Progress) => void {
  if (onProgress !== undefined && typeof onProgress !== "function") {
    throw new TypeError(`options.onProgress must be a function, got ${describe(onProgress)}`);
  }
  return (p) => {
    try {
      onProgress?.(p);
    } catch (e) {
      console.error("webclip: onProgress threw", e);
    }
  };
}

// ---- the model --------------------------------------------------------------------------------

/** A model's name for people: its URL's last segment (the folder), or "files". */
export function modelIdOf(source: ModelSource): string {
  if (typeof source !== "string" && !(source instanceof URL)) return "files";
  const parts = new URL(absoluteUrl(source)).pathname.split("/").filter((p) => p !== "");
  return decodeURIComponent(parts.at(-1) ?? "model");
}

/** Loads a model on this thread (the main thread or any worker). */
export async function loadModel(source: ModelSource, options: LoadOptions = {}): Promise<ClipModel> {
  const started = performance.now();
  const backend = checkBackend(options.backend);
  const precision = checkPrecision(options.precision);
  const towers = checkTowers(options.towers);
  checkSource(source);
  const progress = progressReporter(options.onProgress);
  const wasm = initWasm(options.wasmUrl);
  wasm.catch(() => {}); // awaited below; don't report it unhandled while files download
  // HF folders by URL stream: each tensor goes to the device as its bytes arrive, so the file
  // and the weights are never in memory together (ViT-L/14 fits where a whole-file load would
  // not). Files given as data, and OpenCLIP folders, load whole.
  let loader: ModelLoader | undefined;
  const begin = async (small: FileBytes) => {
    await wasm;
    const l = await guarded(() =>
      ModelLoader.begin(small.config!, small.tokenizer, small.preprocessor, backend, precision, small.tokenizerConfig, towers),
    );
    loader = l;
    return (chunk: Uint8Array) => {
      try {
        l.push(chunk);
      } catch (e) {
        if (e instanceof WebAssembly.RuntimeError) throw fatalError(e); // a trap: the instance is gone
        throw e;
      }
    };
  };
  const files =
    typeof source === "string" || source instanceof URL
      ? await fetchFolder(source, options, progress, begin)
      : await filesFromObject(source);
  await wasm;
  progress({ stage: "load" });
  const model = await guarded(() =>
    loader
      ? (loader.finish() as Promise<Model>)
      : files.randomSeed !== undefined
        ? Model.random(new TextDecoder().decode(files.config), files.tokenizer, backend, files.randomSeed, precision)
        : Model.load(files.config, files.openClipConfig, files.weights!, files.tokenizer, files.preprocessor, backend, precision, files.tokenizerConfig, towers),
  );
  const clip = new LocalClipModel(model, modelIdOf(source));
  progress({ stage: "ready", backend: clip.backend, precision: clip.precision, seconds: (performance.now() - started) / 1000 });
  return clip;
}

/** A model in this thread's wasm instance. */
export class LocalClipModel implements ClipModel {
  readonly backend: Backend;
  readonly precision: Precision;
  readonly adapter: string;
  readonly deviceNote: string | undefined;
  readonly embeddingDim: number;
  readonly imageSize: readonly [number, number];
  readonly logitScale: number;
  readonly logitBias: number | undefined;
  readonly family: Family;
  readonly scoring: Scoring;
  readonly modelHash: string | undefined;
  readonly modelId: string;
  readonly inWorker = false;

  #model: Model | null;
  #tail: Promise<unknown> = Promise.resolve();
  #trainers = new Set<LocalTrainer>();

  constructor(model: Model, modelId = "files") {
    this.#model = model;
    this.modelHash = model.modelHash ?? undefined;
    this.modelId = modelId;
    this.backend = model.backend as Backend;
    this.precision = model.precision as Precision;
    this.adapter = model.adapter;
    this.deviceNote = model.deviceNote ?? undefined;
    this.embeddingDim = model.embeddingDim;
    const size = model.imageSize;
    this.imageSize = [size[0]!, size[1]!];
    this.logitScale = model.logitScale;
    this.logitBias = model.logitBias ?? undefined;
    this.family = model.family as Family;
    this.scoring = model.scoring as Scoring;
  }

  /** Runs `fn` after every earlier call of this model has settled (one GPU stream at a time). */
  #enqueue<T>(fn: (model: Model) => Promise<T>): Promise<T> {
    const run = this.#tail.then(() => {
      const model = this.#model;
      if (!model) throw new Error("model disposed");
      return guarded(() => fn(model));
    });
    this.#tail = run.catch(() => {});
    return run;
  }

  /** The queue as trainers use it: their calls and this model's share one GPU stream. */
  #queue: Queue = (fn) => this.#enqueue(() => fn());

  async #withImages<T>(inputs: readonly ImageInput[], fn: (model: Model, images: Images) => Promise<T>): Promise<T> {
    return this.#enqueue(async (model) => {
      const images = await toWasmImages(inputs, Images);
      try {
        return await fn(model, images);
      } finally {
        images.free();
      }
    });
  }

  #rows(flat: Float32Array, n: number): Float32Array[] {
    const dim = this.embeddingDim;
    if (flat.length !== n * dim) throw new Error(`webclip: expected ${n}×${dim} floats, got ${flat.length}`);
    const out: Float32Array[] = [];
    for (let i = 0; i < n; i++) out.push(flat.slice(i * dim, (i + 1) * dim));
    return out;
  }

  async embedImages(images: readonly ImageInput[]): Promise<Float32Array[]> {
    checkImages(images);
    if (!this.#model) throw new Error("model disposed");
    if (images.length === 0) return [];
    return this.#withImages(images, async (model, imgs) => this.#rows((await model.embedImages(imgs)) as Float32Array, images.length));
  }

  /**
   * A Library batch: each file decoded on its own (a bad one is reported, not fatal), the rest
   * embedded together, normalised and rounded to f16 by the core.
   */
  async embedForIndex(files: readonly Blob[]): Promise<EmbeddedFiles> {
    if (!this.#model) throw new Error("model disposed");
    // All reads at once: each is a round trip to the browser's blob store, and overlapping them
    // keeps the worker from idling between batches.
    const bytes: (Uint8Array | string)[] = await Promise.all(
      files.map(async (f) => {
        const big = tooLarge(f.size);
        if (big) return big;
        try {
          return new Uint8Array(await f.arrayBuffer());
        } catch (e) {
          return `could not read the file: ${e instanceof Error ? e.message : String(e)}`;
        }
      }),
    );
    return this.#enqueue(async (model) => {
      const images = new Images();
      try {
        const errors: (string | null)[] = [];
        const dims: number[] = [];
        for (const b of bytes) {
          if (typeof b === "string") {
            errors.push(b);
            continue;
          }
          try {
            images.pushEncoded(b);
            errors.push(null);
            dims.push(...images.dims(images.length - 1));
          } catch (e) {
            if (e instanceof WebAssembly.RuntimeError) throw e;
            errors.push(e instanceof Error ? e.message.replace(/^image \d+: /, "") : String(e));
          }
        }
        const dim = this.embeddingDim;
        const rows = images.length === 0 ? new Uint8Array(0) : normaliseToF16((await model.embedImages(images)) as Float32Array, dim);
        return { rows, dims: Int32Array.from(dims), errors };
      } finally {
        images.free();
      }
    });
  }

  /** The model's text or image embedding for a search (unnormalised). */
  async queryEmbedding(query: { text: string } | { image: ImageInput }): Promise<Float32Array> {
    const rows = "text" in query ? await this.embedTexts([query.text]) : await this.embedImages([query.image]);
    return rows[0]!;
  }

  async embedTexts(texts: readonly string[]): Promise<Float32Array[]> {
    checkTexts(texts);
    if (!this.#model) throw new Error("model disposed");
    if (texts.length === 0) return [];
    return this.#enqueue(async (model) => this.#rows((await model.embedTexts([...texts])) as Float32Array, texts.length));
  }

  async classify(images: readonly ImageInput[], labels: readonly string[], options?: ClassifyOptions): Promise<LabelProb[][]> {
    checkImages(images);
    checkTexts(labels, "labels");
    const { templates, topK } = checkClassifyOptions(options);
    if (!this.#model) throw new Error("model disposed");
    if (images.length === 0) return [];
    const tpl = templates === undefined || typeof templates === "string" ? templates : [...templates];
    return this.#withImages(images, async (model, imgs) => (await model.classify(imgs, [...labels], tpl, topK)) as LabelProb[][]);
  }

  async rank(text: string, images: readonly ImageInput[]): Promise<RankEntry[]> {
    if (typeof text !== "string") throw new TypeError(`text must be a string, got ${describe(text)}`);
    checkImages(images);
    if (!this.#model) throw new Error("model disposed");
    if (images.length === 0) return [];
    return this.#withImages(images, async (model, imgs) => (await model.rank(text, imgs)) as RankEntry[]);
  }

  async templates(name: TemplateSetName): Promise<string[]> {
    if (typeof name !== "string") throw new TypeError(`template set name must be a string, got ${describe(name)}`);
    if (!this.#model) throw new Error("model disposed");
    return guarded(async () => templateSet(name));
  }

  async prepareLabels(labels: readonly string[], options?: Pick<ClassifyOptions, "templates">): Promise<void> {
    checkTexts(labels, "labels");
    const { templates } = checkClassifyOptions(options);
    if (!this.#model) throw new Error("model disposed");
    const tpl = templates === undefined || typeof templates === "string" ? templates : [...templates];
    await this.#enqueue(async (model) => {
      await model.prepareLabels([...labels], tpl);
    });
  }

  async memoryBytes(): Promise<number> {
    if (!this.#model) throw new Error("model disposed");
    return wasmMemoryBytes();
  }

  async trainer(options?: TrainerOptions): Promise<ClipTrainer> {
    const opts = checkTrainerOptions(options);
    if (!this.#model) throw new Error("model disposed");
    const wasm = await this.#enqueue(async (model) => (await model.trainer(opts)) as Trainer);
    if (!this.#model) {
      // Disposed while the trainer was being made.
      if (!fatal) wasm.free();
      throw new Error("model disposed");
    }
    const trainer = new LocalTrainer(wasm, this.#queue, (t) => this.#trainers.delete(t));
    this.#trainers.add(trainer);
    return trainer;
  }

  async shapesBatch(options: ShapesBatchOptions): Promise<ShapesBatch> {
    const o = checkShapesOptions(options);
    if (!this.#model) throw new Error("model disposed");
    return guarded(async () => shapesFromWasm(shapesBatch(o.seed, o.first, o.count, o.difficulty, o.split) as WasmShapes));
  }

  async shapesTrainingBatch(options: ShapesTrainingBatchOptions): Promise<ShapesBatch> {
    const o = checkShapesTrainingOptions(options);
    if (!this.#model) throw new Error("model disposed");
    return guarded(async () => shapesFromWasm(shapesTrainingBatch(o.seed, o.step, o.batchSize) as WasmShapes));
  }

  async shapesRecipe(): Promise<ShapesRecipe> {
    if (!this.#model) throw new Error("model disposed");
    return guarded(async () => shapesRecipe() as ShapesRecipe);
  }

  async shapesClasses(): Promise<ShapesClass[]> {
    if (!this.#model) throw new Error("model disposed");
    return guarded(async () => shapesClasses() as ShapesClass[]);
  }

  dispose(): void {
    const model = this.#model;
    this.#model = null;
    for (const t of [...this.#trainers]) t.dispose();
    // Safe while a call runs: the call holds its own reference to the weights.
    if (model && !fatal) model.free();
  }
}

/** A shapes-world batch as the wasm bindings give it. */
interface WasmShapes {
  images: Images;
  captions: string[];
  classes: string[];
  difficulty?: number;
}

/** The batch with its images as ImageData (the wasm `Images` is freed). */
function shapesFromWasm(batch: WasmShapes): ShapesBatch {
  try {
    const images: ImageData[] = [];
    for (let i = 0; i < batch.images.length; i++) {
      const { width, height, data } = batch.images.toRgba(i) as { width: number; height: number; data: Uint8ClampedArray<ArrayBuffer> };
      images.push(new ImageData(data, width, height));
    }
    const out: ShapesBatch = { images, captions: batch.captions, classes: batch.classes };
    if (batch.difficulty !== undefined) out.difficulty = batch.difficulty;
    return out;
  } finally {
    batch.images.free();
  }
}

type Queue = <T>(fn: () => Promise<T>) => Promise<T>;

/** A trainer in this thread's wasm instance; its calls go through its model's queue. */
class LocalTrainer implements ClipTrainer {
  #trainer: Trainer | null;
  #queue: Queue;
  #onDispose: (t: LocalTrainer) => void;
  // A mirror: the wasm getter reads 0 while a call holds the trainer.
  #steps = 0;

  constructor(trainer: Trainer, queue: Queue, onDispose: (t: LocalTrainer) => void) {
    this.#trainer = trainer;
    this.#queue = queue;
    this.#onDispose = onDispose;
  }

  get steps(): number {
    return this.#steps;
  }

  #check(): void {
    if (!this.#trainer) throw new Error("trainer disposed");
  }

  #run<T>(fn: (trainer: Trainer) => Promise<T>): Promise<T> {
    return this.#queue(() => {
      const trainer = this.#trainer;
      if (!trainer) throw new Error("trainer disposed");
      return fn(trainer);
    });
  }

  async #withImages<T>(inputs: readonly ImageInput[], fn: (trainer: Trainer, images: Images) => Promise<T>): Promise<T> {
    return this.#run(async (trainer) => {
      const images = await toWasmImages(inputs, Images);
      try {
        return await fn(trainer, images);
      } finally {
        images.free();
      }
    });
  }

  async step(images: readonly ImageInput[], texts: readonly string[]): Promise<StepResult> {
    checkImages(images);
    checkTexts(texts);
    this.#check();
    const r = await this.#withImages(images, async (t, imgs) => (await t.step(imgs, [...texts])) as StepResult);
    this.#steps = r.step;
    return r;
  }

  async evaluate(images: readonly ImageInput[], texts: readonly string[]): Promise<Evaluation> {
    checkImages(images);
    checkTexts(texts);
    this.#check();
    return this.#withImages(images, async (t, imgs) => (await t.evaluate(imgs, [...texts])) as Evaluation);
  }

  async export(options?: ExportOptions): Promise<ExportedModel> {
    const { dtype, wiseFt } = checkExportOptions(options);
    this.#check();
    return this.#run(async (t) => (await t.export(dtype, wiseFt)) as ExportedModel);
  }

  async saveState(): Promise<Uint8Array> {
    this.#check();
    return this.#run(async (t) => (await t.saveState()) as Uint8Array);
  }

  async restore(state: Uint8Array | ArrayBuffer): Promise<void> {
    const bytes = checkState(state);
    this.#check();
    await this.#run(async (t) => {
      await t.restore(bytes);
      this.#steps = t.steps;
    });
  }

  async reset(): Promise<void> {
    this.#check();
    await this.#run(async (t) => {
      await t.reset();
      this.#steps = 0;
    });
  }

  dispose(): void {
    const trainer = this.#trainer;
    this.#trainer = null;
    this.#onDispose(this);
    // Safe while a call runs: the call holds its own reference to the trainer's state.
    if (trainer && !fatal) trainer.free();
  }
}
