// `loadModelInWorker`: the same model API, with the model in a dedicated module worker so the
// page stays responsive. The page side validates inputs (TypeErrors are thrown here, before
// anything is sent) and keeps the pending calls; the worker (worker.ts) runs `loadModel`.

import { checkImages, isImageBitmap } from "./images.js";
import { checkBackend, checkClassifyOptions, checkPrecision, checkSource, checkTexts, checkTowers, progressReporter } from "./model.js";
import type { ModelInfo, Op, RequestBody, Results, WorkerLoadSettings, WorkerMessage, WorkerRequest } from "./protocol.js";
import { SERVING_HINT, absoluteUrl, describe, prebundledFile } from "./source.js";
import { checkExportOptions, checkShapesOptions, checkShapesTrainingOptions, checkState, checkTrainerOptions } from "./train.js";
import type {
  Backend,
  Family,
  Scoring,
  ClassifyOptions,
  ClipModel,
  ClipTrainer,
  Evaluation,
  ExportOptions,
  ExportedModel,
  ImageInput,
  LabelProb,
  ModelFilesSource,
  ModelSource,
  Precision,
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
  WorkerLoadOptions,
} from "./types.js";

interface Pending {
  resolve: (value: never) => void;
  reject: (error: Error) => void;
  onProgress?: (p: Progress) => void;
}

/** Loads a model inside a new Web Worker; `dispose()` ends the worker. */
export async function loadModelInWorker(source: ModelSource, options: WorkerLoadOptions = {}): Promise<ClipModel> {
  const { channel, info } = await openWorker(source, options);
  return new WorkerClipModel(channel, info!);
}

/**
 * A new worker with `source` loaded (or, with `load: false`, only started: for ops that need
 * the wasm but no model); the Library drives its workers through the channel directly.
 */
export async function openWorker(
  source: ModelSource,
  options: WorkerLoadOptions = {},
  load = true,
): Promise<{ channel: Channel; info: ModelInfo | null; settings: WorkerLoadSettings; source: string | ModelFilesSource }> {
  const backend = checkBackend(options.backend);
  const precision = checkPrecision(options.precision);
  checkSource(source);
  const onProgress = progressReporter(options.onProgress);
  const settings: WorkerLoadSettings = { backend, precision };
  if (options.cache !== undefined) settings.cache = options.cache;
  if (options.towers !== undefined) settings.towers = checkTowers(options.towers);
  if (options.wasmUrl !== undefined) settings.wasmUrl = absoluteUrl(options.wasmUrl);
  if (options.fetchOptions !== undefined) settings.fetchOptions = cloneableFetchOptions(options.fetchOptions);
  const src = typeof source === "string" || source instanceof URL ? absoluteUrl(source) : source;

  // The script's URL when known here: given, or the package's own file under a dev server's
  // pre-bundled copy of this code (see prebundledFile). Otherwise the default is written out in
  // full, once, so that bundlers (Vite, webpack 5, …) see it and emit (and rename) the script.
  const scriptUrl = options.workerUrl !== undefined ? absoluteUrl(options.workerUrl) : prebundledFile("dist/worker.js");
  const worker =
    scriptUrl !== null
      ? new Worker(scriptUrl, { type: "module", name: "webclip" })
      : new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "webclip" });
  const channel = new Channel(worker, scriptUrl);
  if (!load) return { channel, info: null, settings, source: src };
  try {
    const info = await channel.call({ op: "load", source: src, options: settings }, [], onProgress);
    return { channel, info, settings, source: src };
  } catch (e) {
    channel.close(e instanceof Error ? e : new Error(String(e)));
    throw e;
  }
}

function cloneableFetchOptions(init: RequestInit): RequestInit {
  const { signal, window, headers, ...rest } = init as RequestInit & { window?: unknown };
  if (signal != null) throw new TypeError("options.fetchOptions.signal cannot be sent to a worker");
  void window;
  return headers === undefined ? rest : { ...rest, headers: Object.fromEntries(new Headers(headers)) };
}

/** Requests with ids and their pending promises; fails them all when the worker dies. */
export class Channel {
  #worker: Worker;
  #next = 1;
  #pending = new Map<number, Pending>();
  #closed: Error | null = null;

  /** `scriptUrl`: the worker's script when known (not when a bundler chose its URL). */
  constructor(worker: Worker, scriptUrl: string | null) {
    this.#worker = worker;
    worker.addEventListener("message", (ev: MessageEvent<WorkerMessage>) => this.#onMessage(ev.data));
    worker.addEventListener("error", (ev: Event) => {
      ev.preventDefault();
      // An ErrorEvent with a message: an uncaught error in the worker. A bare error event: its
      // script could not be fetched or is not JavaScript (a 404, an HTML page).
      const what =
        ev instanceof ErrorEvent && ev.message
          ? `: ${ev.message}${ev.filename ? ` (${ev.filename}:${ev.lineno})` : ""}`
          : `: its script (${scriptUrl ?? "the package's dist/worker.js, as bundled"}) could not be loaded, or it crashed; ${SERVING_HINT}`;
      this.close(new Error(`webclip worker died${what} — the model must be reloaded`));
    });
    worker.addEventListener("messageerror", () => {
      this.close(new Error("webclip worker sent a message that could not be read — the model must be reloaded"));
    });
  }

  get closed(): Error | null {
    return this.#closed;
  }

  call<O extends Op>(body: Extract<RequestBody, { op: O }>, transfer: Transferable[] = [], onProgress?: (p: Progress) => void): Promise<Results[O]> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#next++;
    return new Promise<Results[O]>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: never) => void, reject, ...(onProgress ? { onProgress } : {}) });
      try {
        this.#worker.postMessage({ ...body, id } as WorkerRequest, transfer);
      } catch (e) {
        this.#pending.delete(id);
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  #onMessage(msg: WorkerMessage): void {
    const pending = this.#pending.get(msg.id);
    if (!pending) return;
    if (msg.type === "progress") {
      pending.onProgress?.(msg.progress);
      return;
    }
    this.#pending.delete(msg.id);
    if (msg.ok) {
      pending.resolve(msg.result as never);
    } else {
      const Ctor = msg.name === "TypeError" ? TypeError : msg.name === "RangeError" ? RangeError : Error;
      pending.reject(new Ctor(msg.error));
    }
  }

  /** Ends the worker; pending and later calls reject with `error`. */
  close(error: Error): void {
    if (this.#closed) return;
    this.#closed = error;
    this.#worker.terminate();
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
  }
}

/**
 * Images ready to post: encoded bytes and ImageBitmaps are transferred (the caller's
 * ArrayBuffers/ImageBitmaps are detached), Blobs and ImageData are copied.
 */
function forTransfer(images: readonly ImageInput[]): { images: ImageInput[]; transfer: Transferable[] } {
  const transfer = new Set<Transferable>();
  const out = images.map((img): ImageInput => {
    if (img instanceof ArrayBuffer) {
      transfer.add(img);
      return img;
    }
    if (img instanceof Uint8Array) {
      // A view of part of a buffer would drag (and detach) the whole buffer: send a copy.
      if (img.byteOffset !== 0 || img.byteLength !== img.buffer.byteLength || !(img.buffer instanceof ArrayBuffer)) {
        const copy = img.slice();
        transfer.add(copy.buffer);
        return copy;
      }
      transfer.add(img.buffer);
      return img;
    }
    if (isImageBitmap(img)) transfer.add(img);
    return img;
  });
  return { images: out, transfer: [...transfer] };
}

class WorkerClipModel implements ClipModel {
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
  readonly inWorker = true;

  #channel: Channel;

  constructor(channel: Channel, info: ModelInfo) {
    this.#channel = channel;
    this.backend = info.backend;
    this.precision = info.precision;
    this.adapter = info.adapter;
    this.deviceNote = info.deviceNote;
    this.embeddingDim = info.embeddingDim;
    this.imageSize = [info.imageSize[0], info.imageSize[1]];
    this.logitScale = info.logitScale;
    this.logitBias = info.logitBias;
    this.family = info.family;
    this.scoring = info.scoring;
    this.modelHash = info.modelHash;
    this.modelId = info.modelId;
  }

  #check(): void {
    const closed = this.#channel.closed;
    if (closed) throw closed;
  }

  async embedImages(images: readonly ImageInput[]): Promise<Float32Array[]> {
    checkImages(images);
    this.#check();
    if (images.length === 0) return [];
    const t = forTransfer(images);
    return this.#channel.call({ op: "embedImages", images: t.images }, t.transfer);
  }

  async embedTexts(texts: readonly string[]): Promise<Float32Array[]> {
    checkTexts(texts);
    this.#check();
    if (texts.length === 0) return [];
    return this.#channel.call({ op: "embedTexts", texts: [...texts] });
  }

  async classify(images: readonly ImageInput[], labels: readonly string[], options?: ClassifyOptions): Promise<LabelProb[][]> {
    checkImages(images);
    checkTexts(labels, "labels");
    const opts = checkClassifyOptions(options);
    this.#check();
    if (images.length === 0) return [];
    const t = forTransfer(images);
    const templates = opts.templates === undefined || typeof opts.templates === "string" ? opts.templates : [...opts.templates];
    const sent: ClassifyOptions = { ...(templates !== undefined ? { templates } : {}), ...(opts.topK !== undefined ? { topK: opts.topK } : {}) };
    return this.#channel.call({ op: "classify", images: t.images, labels: [...labels], options: sent }, t.transfer);
  }

  async rank(text: string, images: readonly ImageInput[]): Promise<RankEntry[]> {
    if (typeof text !== "string") throw new TypeError(`text must be a string, got ${describe(text)}`);
    checkImages(images);
    this.#check();
    if (images.length === 0) return [];
    const t = forTransfer(images);
    return this.#channel.call({ op: "rank", text, images: t.images }, t.transfer);
  }

  async templates(name: TemplateSetName): Promise<string[]> {
    if (typeof name !== "string") throw new TypeError(`template set name must be a string, got ${describe(name)}`);
    this.#check();
    return this.#channel.call({ op: "templates", name });
  }

  async prepareLabels(labels: readonly string[], options?: Pick<ClassifyOptions, "templates">): Promise<void> {
    checkTexts(labels, "labels");
    const opts = checkClassifyOptions(options);
    this.#check();
    const templates = opts.templates === undefined || typeof opts.templates === "string" ? opts.templates : [...opts.templates];
    await this.#channel.call({ op: "prepareLabels", labels: [...labels], options: templates !== undefined ? { templates } : {} });
  }

  async memoryBytes(): Promise<number> {
    this.#check();
    return this.#channel.call({ op: "memoryBytes" });
  }

  async trainer(options?: TrainerOptions): Promise<ClipTrainer> {
    const opts = checkTrainerOptions(options);
    this.#check();
    const id = await this.#channel.call({ op: "trainer", options: opts });
    return new WorkerTrainer(this.#channel, id);
  }

  async shapesBatch(options: ShapesBatchOptions): Promise<ShapesBatch> {
    const opts = checkShapesOptions(options);
    this.#check();
    return this.#channel.call({ op: "shapesBatch", options: opts });
  }

  async shapesClasses(): Promise<ShapesClass[]> {
    this.#check();
    return this.#channel.call({ op: "shapesClasses" });
  }

  async shapesRecipe(): Promise<ShapesRecipe> {
    this.#check();
    return this.#channel.call({ op: "shapesRecipe" });
  }

  async shapesTrainingBatch(options: ShapesTrainingBatchOptions): Promise<ShapesBatch> {
    const opts = checkShapesTrainingOptions(options);
    this.#check();
    return this.#channel.call({ op: "shapesTrainingBatch", options: opts });
  }

  dispose(): void {
    this.#channel.close(new Error("model disposed"));
  }
}

/** A trainer living in the worker (by id); `steps` mirrors the worker's count from results. */
class WorkerTrainer implements ClipTrainer {
  #channel: Channel;
  #id: number;
  #disposed = false;
  #steps = 0;

  constructor(channel: Channel, id: number) {
    this.#channel = channel;
    this.#id = id;
  }

  get steps(): number {
    return this.#steps;
  }

  #check(): void {
    if (this.#disposed) throw new Error("trainer disposed");
    const closed = this.#channel.closed;
    if (closed) throw closed;
  }

  async step(images: readonly ImageInput[], texts: readonly string[]): Promise<StepResult> {
    checkImages(images);
    checkTexts(texts);
    this.#check();
    const t = forTransfer(images);
    const r = await this.#channel.call({ op: "trainerStep", trainer: this.#id, images: t.images, texts: [...texts] }, t.transfer);
    this.#steps = r.step;
    return r;
  }

  async evaluate(images: readonly ImageInput[], texts: readonly string[]): Promise<Evaluation> {
    checkImages(images);
    checkTexts(texts);
    this.#check();
    const t = forTransfer(images);
    return this.#channel.call({ op: "trainerEvaluate", trainer: this.#id, images: t.images, texts: [...texts] }, t.transfer);
  }

  async export(options?: ExportOptions): Promise<ExportedModel> {
    const opts = checkExportOptions(options);
    this.#check();
    return this.#channel.call({ op: "trainerExport", trainer: this.#id, options: opts });
  }

  async saveState(): Promise<Uint8Array> {
    this.#check();
    return this.#channel.call({ op: "trainerSaveState", trainer: this.#id });
  }

  async restore(state: Uint8Array | ArrayBuffer): Promise<void> {
    const bytes = checkState(state);
    this.#check();
    // Copied (not transferred): the caller keeps its bytes, e.g. to store them.
    this.#steps = await this.#channel.call({ op: "trainerRestore", trainer: this.#id, state: bytes });
  }

  async reset(): Promise<void> {
    this.#check();
    await this.#channel.call({ op: "trainerReset", trainer: this.#id });
    this.#steps = 0;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (!this.#channel.closed) this.#channel.call({ op: "trainerDispose", trainer: this.#id }).catch(() => {});
  }
}
