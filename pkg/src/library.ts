// `openLibrary`: a photo collection indexed in the page and searched as you type.
//
// Threads: the Library object lives on the calling thread (the page); the model runs in workers.
// Worker 0 holds the whole model (text queries, image queries, search over the rows, and the
// index files' encoding — all in the core, like `webclip index` / `webclip search`); on the CPU
// backend more workers join it for embedding, because wasm threads are not available and one
// wasm instance uses one core. WebGPU uses one worker: the GPU is the bottleneck there.
//
// State: `entries` (path, size, lastModified, width, height) row-aligned with `rows` (L2-
// normalised f16 embeddings, exactly what `webclip index` writes to img_emb_{k}.npy), plus the
// files that failed. Persisted per (name, model hash) by store.ts after each stretch of work;
// every save is all-or-nothing, so a crash or a full disk leaves the last complete index.

import { Channel, openWorker } from "./client.js";
import { checkBackend, checkPrecision, checkSource } from "./model.js";
import type { EmbeddedFiles, MetaColumns, ModelInfo, SearchQuery, WorkerLoadSettings } from "./protocol.js";
import { describe } from "./source.js";
import { type SavedLibrary, type Store, openStore } from "./store.js";
import type {
  Backend,
  ImageInput,
  IndexFile,
  Library,
  LibraryEntry,
  LibraryError,
  LibraryFile,
  LibraryHit,
  LibraryOptions,
  LibraryProgress,
  LibraryStorage,
  LibraryUpdateOptions,
  LibraryUpdateSummary,
  ModelFilesSource,
  ModelSource,
  WorkerLoadOptions,
} from "./types.js";

/** Seconds between saves while a run goes on (and one at its end). */
const SAVE_EVERY_S = 5;
/** `index.json`'s partition size, as `webclip index`'s default. */
const PARTITION_SIZE = 10_000;

interface FailedFile extends LibraryError {
  size: number;
  lastModified: number;
}

/** Opens (or creates) the library `name` for the model at `source`, with its workers. */
export async function openLibrary(source: ModelSource, options: LibraryOptions = {}): Promise<Library> {
  checkSource(source);
  if (options === null || typeof options !== "object") throw new TypeError(`library options must be an object, got ${describe(options)}`);
  const name = options.name ?? "default";
  if (typeof name !== "string" || name === "") throw new TypeError(`options.name must be a non-empty string, got ${describe(name)}`);
  const workers = options.workers;
  if (workers !== undefined && !(Number.isInteger(workers) && workers >= 1 && workers <= 64)) {
    throw new TypeError(`options.workers must be an integer from 1 to 64, got ${describe(workers)}`);
  }
  const storageChoice = options.storage ?? "auto";
  if (!["auto", "opfs", "indexeddb", "memory"].includes(storageChoice)) {
    throw new TypeError(`options.storage must be "auto", "opfs", "indexeddb" or "memory", got ${describe(storageChoice)}`);
  }
  const { onProgress, ...rest } = options;
  const load = (i: number, backend: WorkerLoadOptions["backend"]): WorkerLoadOptions => ({
    ...rest,
    // Worker 0 answers text queries; the others only embed images.
    towers: i === 0 ? "both" : "image",
    backend: checkBackend(backend),
    precision: checkPrecision(options.precision),
    onProgress: (p) => onProgress?.({ ...p, worker: i }),
  });
  const first = await openWorker(source, load(0, options.backend));
  const info = first.info!;
  const channels = [first.channel];
  try {
    if (info.modelHash === undefined) throw new Error("a library needs a model loaded from its files (random or fine-tuned weights have no identity to key the index by)");
    const hw = typeof navigator !== "undefined" ? navigator.hardwareConcurrency || 2 : 2;
    const n = info.backend === "webgpu" ? 1 : (workers ?? Math.min(4, Math.max(1, Math.floor(hw / 2))));
    // The others load on the CPU backend too (the first worker's "auto" resolved to it).
    const more = await Promise.all(Array.from({ length: n - 1 }, (_, i) => openWorker(source, load(i + 1, "cpu"))));
    channels.push(...more.map((w) => w.channel));
    const store = await openStore(storageChoice as "auto" | LibraryStorage);
    const extensions = await first.channel.call({ op: "imageExtensions" });
    const lib = new WorkerLibrary(name, info, channels, store, extensions);
    await lib.restore();
    return lib;
  } catch (e) {
    for (const c of channels) c.close(e instanceof Error ? e : new Error(String(e)));
    throw e;
  }
}

/** The libraries persisted in this origin (any model, OPFS and IndexedDB), for a page to ask before re-indexing. */
export async function storedLibraries(): Promise<import("./types.js").StoredLibrary[]> {
  const out = [];
  for (const store of await persistentStores()) out.push(...(await store.list()));
  return out;
}

/** Deletes one persisted library (wherever it is stored). */
export async function deleteStoredLibrary(name: string, modelHash: string): Promise<void> {
  if (typeof name !== "string" || typeof modelHash !== "string") throw new TypeError("deleteStoredLibrary takes a name and a model hash (strings)");
  for (const store of await persistentStores()) await store.remove(name, modelHash);
}

/** The stores this browser has (OPFS if writable here, IndexedDB if present). */
async function persistentStores(): Promise<Store[]> {
  const out: Store[] = [];
  for (const kind of ["opfs", "indexeddb"] as const) {
    try {
      out.push(await openStore(kind));
    } catch {
      // not available here
    }
  }
  return out;
}

/**
 * The hash `webclip index` would write for the model at `source` (or of a loaded model), without
 * loading it: its small files and samples of its weights (a cached download costs nothing).
 */
export async function modelHashOf(
  source: ModelSource | { modelHash: string | undefined; modelId: string },
  options: WorkerLoadOptions = {},
): Promise<{ modelHash: string | undefined; modelId: string }> {
  if (source !== null && typeof source === "object" && "modelHash" in source && "modelId" in source) {
    return { modelHash: source.modelHash, modelId: source.modelId };
  }
  const src = source as ModelSource;
  checkSource(src);
  const { channel, settings, source: sent } = await openWorker(src, options, false);
  try {
    const hash = await channel.call({ op: "modelHash", source: sent, options: settings });
    return { modelHash: hash ?? undefined, modelId: modelIdOfSource(sent) };
  } finally {
    channel.close(new Error("closed"));
  }
}

function modelIdOfSource(source: string | ModelFilesSource): string {
  if (typeof source !== "string") return "files";
  return decodeURIComponent(new URL(source).pathname.split("/").filter((p) => p !== "").at(-1) ?? "model");
}

class WorkerLibrary implements Library {
  readonly name: string;
  readonly modelHash: string;
  readonly modelId: string;
  readonly embeddingDim: number;
  readonly backend: Backend;

  #channels: Channel[];
  #store: Store;
  #entries: LibraryEntry[] = [];
  #byPath = new Map<string, number>();
  /** f16 rows, `embeddingDim` each; capacity grows by doubling. */
  #rows: Uint8Array = new Uint8Array(0);
  #failed = new Map<string, FailedFile>();
  /** Whether worker 0's search rows are stale. */
  #searchDirty = true;
  #updating = false;
  #disposed: Error | null = null;
  /** Saves run one after another. */
  #saving: Promise<void> = Promise.resolve();

  #extensions: Set<string>;

  constructor(name: string, info: ModelInfo, channels: Channel[], store: Store, extensions: string[]) {
    this.#extensions = new Set(extensions);
    this.name = name;
    this.modelHash = info.modelHash!;
    this.modelId = info.modelId;
    this.embeddingDim = info.embeddingDim;
    this.backend = info.backend;
    this.#channels = channels;
    this.#store = store;
  }

  get storage(): LibraryStorage {
    return this.#store.kind;
  }

  get workers(): number {
    return this.#channels.length;
  }

  get size(): number {
    return this.#entries.length;
  }

  entries(): LibraryEntry[] {
    return this.#entries.map((e) => ({ ...e }));
  }

  errors(): LibraryError[] {
    return [...this.#failed.values()].map(({ path, reason }) => ({ path, reason }));
  }

  #check(): void {
    if (this.#disposed) throw this.#disposed;
  }

  get #rowBytes(): number {
    return this.embeddingDim * 2;
  }

  /** Loads the persisted copy, if there is one. */
  async restore(): Promise<void> {
    const saved = await this.#store.load(this.name, this.modelHash);
    if (!saved) return;
    if (saved.dim !== this.embeddingDim || saved.rows.length !== saved.entries.length * this.#rowBytes) {
      console.warn(`webclip: the saved library "${this.name}" does not match its rows; starting empty`);
      return;
    }
    this.#entries = saved.entries;
    this.#rows = saved.rows;
    this.#byPath = new Map(saved.entries.map((e, i) => [e.path, i]));
    this.#failed = new Map(saved.errors.map((f) => [f.path, f]));
    this.#searchDirty = true;
  }

  #snapshot(): SavedLibrary {
    return {
      name: this.name,
      modelHash: this.modelHash,
      modelId: this.modelId,
      dim: this.embeddingDim,
      entries: this.#entries,
      errors: [...this.#failed.values()],
      rows: this.#rows.subarray(0, this.#entries.length * this.#rowBytes),
    };
  }

  /** Saves now (after earlier saves); a failure (a full disk) leaves the previous copy. */
  #save(): Promise<void> {
    const snap = this.#snapshot();
    // The rows are copied: the array keeps changing while the store writes.
    snap.rows = snap.rows.slice();
    snap.entries = snap.entries.map((e) => ({ ...e }));
    const run = this.#saving.then(() => this.#store.save(snap));
    this.#saving = run.catch(() => {});
    return run;
  }

  #append(entry: LibraryEntry, row: Uint8Array): void {
    const rb = this.#rowBytes;
    const at = this.#byPath.get(entry.path);
    if (at !== undefined) {
      this.#entries[at] = entry;
      this.#rows.set(row, at * rb);
      return;
    }
    const n = this.#entries.length;
    if ((n + 1) * rb > this.#rows.length) {
      const grown = new Uint8Array(Math.max(64 * rb, this.#rows.length * 2));
      grown.set(this.#rows.subarray(0, n * rb));
      this.#rows = grown;
    }
    this.#rows.set(row, n * rb);
    this.#entries.push(entry);
    this.#byPath.set(entry.path, n);
  }

  /** Drops the entries whose path `keep` rejects, keeping the others' order. */
  #removeWhere(drop: (path: string) => boolean): number {
    const rb = this.#rowBytes;
    let w = 0;
    const kept: LibraryEntry[] = [];
    this.#entries.forEach((e, r) => {
      if (drop(e.path)) return;
      if (w !== r) this.#rows.copyWithin(w * rb, r * rb, (r + 1) * rb);
      kept.push(e);
      w++;
    });
    const removed = this.#entries.length - kept.length;
    this.#entries = kept;
    this.#byPath = new Map(kept.map((e, i) => [e.path, i]));
    return removed;
  }

  async update(files: readonly LibraryFile[], options: LibraryUpdateOptions = {}): Promise<LibraryUpdateSummary> {
    this.#check();
    // What `webclip index` walks: files with an image extension (others are not errors).
    const list = checkFiles(files).filter((f) => this.#extensions.has(f.path.split(".").pop()?.toLowerCase() ?? ""));
    const { onProgress, signal } = options;
    const batchSize = options.batchSize ?? 8;
    if (!(Number.isInteger(batchSize) && batchSize >= 1 && batchSize <= 256)) throw new TypeError(`options.batchSize must be an integer from 1 to 256, got ${describe(batchSize)}`);
    if (this.#updating) throw new Error("this library is already updating: abort that run first");
    this.#updating = true;
    const t0 = performance.now();
    try {
      const present = new Map(list.map((f) => [f.path, f]));
      this.#adoptPaths(present);
      // Gone from the collection: their entries and errors go.
      const removed = this.#removeWhere((p) => !present.has(p));
      for (const p of [...this.#failed.keys()]) if (!present.has(p)) this.#failed.delete(p);
      if (removed > 0) this.#searchDirty = true;
      // New or changed (an unchanged file that failed before is not retried).
      const todo = list.filter((f) => {
        const at = this.#byPath.get(f.path);
        const e = at === undefined ? undefined : this.#entries[at];
        if (e && e.size === f.size && (e.lastModified === f.lastModified || e.lastModified === 0)) {
          e.lastModified = f.lastModified; // an imported entry (time unknown) adopts the file's
          return false;
        }
        const bad = this.#failed.get(f.path);
        return !(bad && bad.size === f.size && bad.lastModified === f.lastModified);
      });
      const unchanged = list.length - todo.length;
      const batches: LibraryFileChecked[][] = [];
      for (let i = 0; i < todo.length; i += batchSize) batches.push(todo.slice(i, i + batchSize));
      let done = 0;
      let failed = 0;
      let embedded = 0;
      let lastSave = performance.now();
      let latest: string[] = [];
      const report = () => {
        const secs = (performance.now() - t0) / 1000;
        const rate = secs > 0 ? done / secs : 0;
        const p: LibraryProgress = { total: todo.length, done, failed, rate, etaSeconds: done > 0 && rate > 0 ? (todo.length - done) / rate : undefined, latest };
        try {
          onProgress?.(p);
        } catch (e) {
          console.error("webclip: onProgress threw", e);
        }
      };
      report();
      let next = 0;
      let saveError: unknown = null;
      // A loop that fails (its worker died) stops the others after their batch in flight; what
      // was embedded is saved before the error is reported.
      let failure: { error: unknown } | null = null;
      const work = async (channel: Channel) => {
        while (next < batches.length && !signal?.aborted && !this.#disposed && !failure) {
          const batch = batches[next++]!;
          const res: EmbeddedFiles = await channel.call({ op: "embedFiles", files: batch.map((f) => f.file) });
          let k = 0;
          latest = [];
          batch.forEach((f, i) => {
            const err = res.errors[i];
            if (err == null) {
              const row = res.rows.subarray(k * this.#rowBytes, (k + 1) * this.#rowBytes);
              this.#append({ path: f.path, size: f.size, lastModified: f.lastModified, width: res.dims[2 * k]!, height: res.dims[2 * k + 1]! }, row);
              this.#failed.delete(f.path);
              k++;
              embedded++;
              latest.push(f.path);
            } else {
              // A changed file that no longer decodes loses its old row.
              if (this.#byPath.has(f.path)) this.#removeWhere((p) => p === f.path);
              this.#failed.set(f.path, { path: f.path, reason: err, size: f.size, lastModified: f.lastModified });
              failed++;
            }
          });
          done += batch.length;
          this.#searchDirty = true;
          report();
          if ((performance.now() - lastSave) / 1000 > SAVE_EVERY_S) {
            lastSave = performance.now();
            this.#save().catch((e: unknown) => (saveError ??= e));
          }
        }
      };
      // Two batches in flight per worker: the next one's files are read (and its message sent)
      // while the current one runs, so no worker waits for a round trip to the page.
      await Promise.all(
        this.#channels.flatMap((c) => [work(c), work(c)]).map((p) => p.catch((error: unknown) => void (failure ??= { error }))),
      );
      if (failure) {
        if (!this.#disposed) await this.#save().catch(() => {});
        throw (failure as { error: unknown }).error;
      }
      this.#check();
      await this.#save();
      if (saveError) throw saveError;
      const seconds = (performance.now() - t0) / 1000;
      return { embedded, failed, removed, unchanged, aborted: !!signal?.aborted && done < todo.length, seconds, imagesPerSecond: seconds > 0 ? done / seconds : 0 };
    } finally {
      this.#updating = false;
    }
  }

  /**
   * Entries imported from `webclip index` carry the paths the CLI saw ("/home/me/photos/a.jpg");
   * a picked folder names the same file "photos/a.jpg". An entry whose path is not in the
   * collection but ends with "/" + one of its paths (the longest such) takes that path, so the
   * first update after an import re-embeds only what really changed.
   */
  #adoptPaths(present: Map<string, LibraryFileChecked>): void {
    let renamed = false;
    const taken = new Set(this.#entries.map((e) => e.path).filter((p) => present.has(p)));
    for (const e of this.#entries) {
      if (present.has(e.path)) continue;
      const parts = e.path.split(/[\\/]/);
      for (let i = 1; i < parts.length; i++) {
        const tail = parts.slice(i).join("/");
        if (present.has(tail) && !taken.has(tail)) {
          e.path = tail;
          taken.add(tail);
          renamed = true;
          break;
        }
      }
    }
    if (renamed) this.#byPath = new Map(this.#entries.map((e, i) => [e.path, i]));
  }

  async #syncSearch(): Promise<void> {
    if (!this.#searchDirty) return;
    const rows = this.#rows.slice(0, this.#entries.length * this.#rowBytes);
    this.#searchDirty = false;
    await this.#channels[0]!.call({ op: "searchSet", rows, dim: this.embeddingDim }, [rows.buffer]);
  }

  async search(query: string | { image: ImageInput } | { path: string }, options: { topK?: number } = {}): Promise<LibraryHit[]> {
    this.#check();
    const topK = options.topK ?? 20;
    if (!(Number.isInteger(topK) && topK >= 1)) throw new TypeError(`options.topK must be a positive integer, got ${describe(topK)}`);
    let q: SearchQuery;
    if (typeof query === "string") q = { text: query };
    else if (query && typeof query === "object" && "path" in query) {
      const row = this.#byPath.get(query.path);
      if (row === undefined) throw new Error(`${query.path} is not in the library`);
      q = { row };
    } else if (query && typeof query === "object" && "image" in query) q = { image: query.image };
    else throw new TypeError(`a search takes a text, {image} or {path}, got ${describe(query)}`);
    if (this.#entries.length === 0) return [];
    await this.#syncSearch();
    // Rows may move while the answer comes back (an update running): map them with the
    // entries as they were when the query was sent.
    const entries = this.#entries.slice();
    const res = await this.#channels[0]!.call({ op: "search", query: q, topK });
    const hits: LibraryHit[] = [];
    res.rows.forEach((r, i) => {
      const e = entries[r];
      if (e) hits.push({ path: e.path, score: res.scores[i]!, row: r });
    });
    return hits;
  }

  async exportIndex(options: { partitionSize?: number } = {}): Promise<IndexFile[]> {
    this.#check();
    const partitionSize = options.partitionSize ?? PARTITION_SIZE;
    if (!(Number.isInteger(partitionSize) && partitionSize >= 1)) throw new TypeError(`options.partitionSize must be a positive integer, got ${describe(partitionSize)}`);
    const n = this.#entries.length;
    const meta: MetaColumns = {
      paths: this.#entries.map((e) => e.path),
      widths: Int32Array.from(this.#entries, (e) => e.width),
      heights: Int32Array.from(this.#entries, (e) => e.height),
      sizes: Float64Array.from(this.#entries, (e) => e.size),
    };
    const rows = this.#rows.slice(0, n * this.#rowBytes);
    const { npys, parquets } = await this.#channels[0]!.call({ op: "encodeIndex", rows, dim: this.embeddingDim, meta, partitionSize }, [rows.buffer]);
    const partitions: Record<string, number> = {};
    npys.forEach((_, k) => (partitions[String(k)] = Math.max(0, Math.min(partitionSize, n - k * partitionSize))));
    const info: IndexJson = {
      layout: "clip-retrieval",
      webclip_version: PACKAGE_VERSION,
      model_id: this.modelId,
      model_hash: this.modelHash,
      model_path: "",
      embedding_dim: this.embeddingDim,
      dtype: "f16",
      partition_size: partitionSize,
      shard: null,
      inputs: n + this.#failed.size,
      count: n,
      skipped: this.#failed.size,
      partitions,
      complete: true,
    };
    const enc = new TextEncoder();
    const errors = [...this.#failed.values()].map((f) => JSON.stringify({ path: f.path, reason: f.reason, partition: 0 }) + "\n").join("");
    return [
      { path: "index.json", data: enc.encode(JSON.stringify(info, null, 2)) },
      ...npys.map((data, k) => ({ path: `img_emb/img_emb_${k}.npy`, data })),
      ...parquets.map((data, k) => ({ path: `metadata/metadata_${k}.parquet`, data })),
      { path: "errors.jsonl", data: enc.encode(errors) },
    ];
  }

  async importIndex(files: readonly IndexFile[]): Promise<void> {
    this.#check();
    if (!Array.isArray(files)) throw new TypeError(`importIndex takes an array of {path, data}, got ${describe(files)}`);
    if (this.#updating) throw new Error("this library is updating: abort that run before importing");
    const byPath = new Map<string, Uint8Array>();
    for (const f of files) {
      if (!f || typeof f.path !== "string" || !(f.data instanceof Uint8Array)) throw new TypeError("importIndex takes {path: string, data: Uint8Array} items");
      byPath.set(f.path.replace(/^\.?\//, ""), f.data);
    }
    const infoBytes = byPath.get("index.json");
    if (!infoBytes) throw new Error("not a webclip index: there is no index.json (choose the folder that holds index.json, img_emb/ and metadata/)");
    let info: IndexJson;
    try {
      info = JSON.parse(new TextDecoder().decode(infoBytes)) as IndexJson;
    } catch (e) {
      throw new Error(`index.json is not JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (info.model_hash !== this.modelHash) {
      throw new Error(`this index was made with another model (${info.model_id} ${info.model_hash}); the library's model is ${this.modelId} ${this.modelHash}`);
    }
    if (info.embedding_dim !== this.embeddingDim) throw new Error(`this index holds ${info.embedding_dim}-d embeddings; the model makes ${this.embeddingDim}-d`);
    const ks = Object.keys(info.partitions ?? {}).map(Number).sort((a, b) => a - b);
    const npys: Uint8Array[] = [];
    const parquets: Uint8Array[] = [];
    for (const k of ks) {
      const npy = byPath.get(`img_emb/img_emb_${k}.npy`);
      const pq = byPath.get(`metadata/metadata_${k}.parquet`);
      if (!npy || !pq) throw new Error(`the index lists partition ${k} but img_emb/img_emb_${k}.npy or metadata/metadata_${k}.parquet is missing`);
      npys.push(npy);
      parquets.push(pq);
    }
    const dec = await this.#channels[0]!.call({ op: "decodeIndex", npys, parquets });
    if (dec.meta.paths.length > 0 && dec.dim !== this.embeddingDim) throw new Error(`the index's rows are ${dec.dim}-d; the model makes ${this.embeddingDim}-d`);
    const entries: LibraryEntry[] = dec.meta.paths.map((path, i) => ({
      path,
      size: dec.meta.sizes[i]!,
      // Not in the layout: 0 means "unknown", and a later update() trusts the size alone.
      lastModified: 0,
      width: dec.meta.widths[i]!,
      height: dec.meta.heights[i]!,
    }));
    const failed = new Map<string, FailedFile>();
    const errText = byPath.get("errors.jsonl");
    if (errText) {
      for (const line of new TextDecoder().decode(errText).split("\n")) {
        if (!line.trim()) continue;
        try {
          const e = JSON.parse(line) as { path: string; reason: string };
          failed.set(e.path, { path: e.path, reason: e.reason, size: -1, lastModified: -1 });
        } catch {
          // a damaged line: the file will be tried again
        }
      }
    }
    this.#entries = entries;
    this.#rows = dec.rows;
    this.#byPath = new Map(entries.map((e, i) => [e.path, i]));
    this.#failed = failed;
    this.#searchDirty = true;
    await this.#save();
  }

  async clear(): Promise<void> {
    this.#check();
    if (this.#updating) throw new Error("this library is updating: abort that run before clearing");
    this.#entries = [];
    this.#rows = new Uint8Array(0);
    this.#byPath.clear();
    this.#failed.clear();
    this.#searchDirty = true;
    await this.#saving;
    await this.#store.remove(this.name, this.modelHash);
  }

  async memoryBytes(): Promise<number[]> {
    this.#check();
    return Promise.all(this.#channels.map((c) => c.call({ op: "memoryBytes" })));
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = new Error("library disposed");
    for (const c of this.#channels) c.close(this.#disposed);
  }
}

/** The package's version, written to exported index.json files. */
const PACKAGE_VERSION = "0.1.0";

/** index.json as `webclip index` writes it (webclip::index::IndexInfo). */
interface IndexJson {
  layout: string;
  webclip_version: string;
  model_id: string;
  model_hash: string;
  model_path: string;
  embedding_dim: number;
  dtype: "f16" | "f32";
  partition_size: number;
  shard: [number, number] | null;
  inputs: number;
  count: number;
  skipped: number;
  partitions: Record<string, number>;
  complete: boolean;
}

interface LibraryFileChecked {
  path: string;
  file: Blob;
  size: number;
  lastModified: number;
}

function checkFiles(files: unknown): LibraryFileChecked[] {
  if (!Array.isArray(files)) throw new TypeError(`update takes an array of {path, file}, got ${describe(files)}`);
  const seen = new Set<string>();
  return files.map((f: LibraryFile, i) => {
    if (!f || typeof f.path !== "string" || f.path === "" || !(f.file instanceof Blob)) {
      throw new TypeError(`files[${i}] must be {path: string, file: Blob}, got ${describe(f)}`);
    }
    if (seen.has(f.path)) throw new TypeError(`files[${i}]: the path ${f.path} appears twice`);
    seen.add(f.path);
    const lm = f.lastModified ?? (f.file as File).lastModified ?? 0;
    return { path: f.path, file: f.file, size: f.size ?? f.file.size, lastModified: lm };
  });
}

export type { WorkerLoadSettings };

// ---- the files of a collection --------------------------------------------------------------

/** Every file under a directory handle (`showDirectoryPicker()`), recursively, sorted by path. */
export async function filesFromDirectoryHandle(handle: FileSystemDirectoryHandle): Promise<LibraryFile[]> {
  const out: LibraryFile[] = [];
  const walk = async (dir: FileSystemDirectoryHandle, prefix: string) => {
    for await (const [name, h] of (dir as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
      if (h.kind === "directory") await walk(h as FileSystemDirectoryHandle, `${prefix}${name}/`);
      else {
        const file = await (h as FileSystemFileHandle).getFile();
        out.push({ path: `${prefix}${name}`, file, size: file.size, lastModified: file.lastModified });
      }
    }
  };
  await walk(handle, `${handle.name}/`);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The files of an `<input type="file" webkitdirectory>` (their `webkitRelativePath`), sorted. */
export async function filesFromFileList(list: FileList | readonly File[]): Promise<LibraryFile[]> {
  const out = Array.from(list as ArrayLike<File>, (file) => ({
    path: file.webkitRelativePath || file.name,
    file,
    size: file.size,
    lastModified: file.lastModified,
  }));
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The files of dropped folders and files (`DataTransfer` of a drop event), recursively, sorted. */
export async function filesFromDataTransfer(dt: DataTransfer): Promise<LibraryFile[]> {
  type Entry = { isFile: boolean; isDirectory: boolean; name: string; fullPath: string };
  type FileEntry = Entry & { file(ok: (f: File) => void, err: (e: unknown) => void): void };
  type DirEntry = Entry & { createReader(): { readEntries(ok: (e: Entry[]) => void, err: (e: unknown) => void): void } };
  const out: LibraryFile[] = [];
  const visit = async (entry: Entry): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((ok, err) => (entry as FileEntry).file(ok, err));
      out.push({ path: entry.fullPath.replace(/^\//, ""), file, size: file.size, lastModified: file.lastModified });
    } else if (entry.isDirectory) {
      const reader = (entry as DirEntry).createReader();
      // readEntries answers in chunks (100 in Chromium) until an empty one.
      for (;;) {
        const chunk = await new Promise<Entry[]>((ok, err) => reader.readEntries(ok, err));
        if (chunk.length === 0) break;
        for (const e of chunk) await visit(e);
      }
    }
  };
  // Entries must be taken synchronously, before the event's data store closes.
  const entries = [...dt.items]
    .map((it) => it.webkitGetAsEntry() as unknown as Entry | null)
    .filter((e): e is Entry => e !== null);
  for (const e of entries) await visit(e);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
