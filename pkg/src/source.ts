// Getting a checkpoint's files: from a URL folder (streamed, with progress and the optional
// Cache API) or from data the caller passes (validated and turned into bytes).

import type { LoadOptions, ModelFilesSource, Progress } from "./types.js";

/** The files `Model.load` takes, as bytes (or, with `randomSeed`, what `Model.random` takes). */
export interface FileBytes {
  config?: Uint8Array;
  openClipConfig?: Uint8Array;
  weights?: Uint8Array;
  tokenizer: Uint8Array;
  preprocessor?: Uint8Array;
  tokenizerConfig?: Uint8Array;
  randomSeed?: number;
}

export const DEFAULT_CACHE = "webclip-models-v1";

/** Header marking a cached "this file does not exist" answer (a 404 of an optional file). */
const MISSING = "x-webclip-missing";

type ProgressFn = (p: Progress) => void;

/** Resolves `url` against the document (or worker) location when it is relative. */
export function absoluteUrl(url: string | URL): string {
  const base = (globalThis as { location?: { href: string } }).location?.href;
  return base === undefined ? new URL(url).href : new URL(url, base).href;
}

/**
 * The URL of one of this package's files (`path` from the package root, e.g. "dist/worker.js")
 * when this code runs as a copy pre-bundled by Vite's dev server, else null. Vite's dependency
 * optimizer copies the package's JavaScript into node_modules/.vite/deps/ but not its other
 * files, so `new URL("…", import.meta.url)` points at files that are not there (Vite 5–7: the
 * worker 404s, the wasm URL answers the app's HTML). From that folder the package itself is
 * ../../webclip/. Elsewhere (the package's own files, a production bundle) this is null.
 */
export function prebundledFile(path: string): string | null {
  const here: unknown = import.meta.url; // a bundle without import.meta may leave it undefined
  if (typeof here !== "string" || !/\/node_modules\/\.vite\/deps\/[^/?#]+(?:[?#]|$)/.test(here)) return null;
  return new URL(`../../webclip/${path}`, here).href;
}

/** What to do when the worker script or the wasm is not where the code expects it. */
export const SERVING_HINT =
  'serve the package\'s dist/ and wasm/ folders as installed, or pass workerUrl / wasmUrl; with Vite\'s dev server, add optimizeDeps: { exclude: ["webclip"] } to vite.config';

/** Receives the bytes of model.safetensors as they arrive (a streaming loader). */
export type WeightsSink = (chunk: Uint8Array) => void;

/**
 * The files of a folder at `base` (HF layout, else OpenCLIP's). With `beginWeights`, an HF
 * folder's small files are fetched first and handed to it; the sink it returns then gets
 * model.safetensors chunk by chunk, and `weights` stays unset (the file is never held whole).
 */
export async function fetchFolder(
  base: string | URL,
  options: LoadOptions,
  progress: ProgressFn,
  beginWeights?: (small: FileBytes) => Promise<WeightsSink>,
): Promise<FileBytes> {
  let root = absoluteUrl(base);
  if (!root.endsWith("/")) root += "/";
  const cache = await openCache(options.cache);
  const get = (file: string, optional: boolean, sink?: WeightsSink) =>
    fetchFile(root, file, optional, cache, options.fetchOptions, progress, sink);

  const config = await get("config.json", true);
  if (config !== undefined) {
    const [tokenizer, preprocessor, tokenizerConfig] = await Promise.all([
      get("tokenizer.json", false),
      get("preprocessor_config.json", true),
      get("tokenizer_config.json", true),
    ]);
    const small: FileBytes = { config, tokenizer: tokenizer!, preprocessor, tokenizerConfig };
    if (beginWeights) {
      const sink = await beginWeights(small);
      await get("model.safetensors", false, sink);
      return small;
    }
    return { ...small, weights: (await get("model.safetensors", false))! };
  }
  const openClipConfig = await get("open_clip_config.json", true);
  if (openClipConfig === undefined) {
    throw new Error(
      `no model at ${root}: neither ${root}config.json (Hugging Face layout) nor ${root}open_clip_config.json (OpenCLIP layout) exists (HTTP 404)`,
    );
  }
  const [weights, tokenizer, preprocessor] = await Promise.all([
    get("open_clip_model.safetensors", false),
    get("tokenizer.json", false),
    get("preprocessor_config.json", true),
  ]);
  return { openClipConfig, weights: weights!, tokenizer: tokenizer!, preprocessor };
}

async function openCache(option: LoadOptions["cache"]): Promise<Cache | null> {
  if (!option) return null;
  const name = typeof option === "string" ? option : DEFAULT_CACHE;
  try {
    if (typeof caches === "undefined") return null;
    return await caches.open(name);
  } catch {
    return null; // e.g. a non-secure context or storage disabled: no caching, no error
  }
}

/** One file; `undefined` when optional and the server answers 404. */
async function fetchFile(
  root: string,
  file: string,
  optional: boolean,
  cache: Cache | null,
  init: RequestInit | undefined,
  progress: ProgressFn,
  sink?: WeightsSink,
): Promise<Uint8Array | undefined> {
  const url = root + file;
  if (cache) {
    const hit = await cache.match(url).catch(() => undefined);
    if (hit) {
      if (hit.headers.has(MISSING)) {
        if (optional) return undefined;
      } else if (sink && hit.body) {
        const loaded = await pump(hit.body, sink, url, () => {});
        progress({ stage: "download", file, url, loaded, total: loaded, cached: true });
        return undefined;
      } else {
        const bytes = new Uint8Array(await hit.arrayBuffer());
        progress({ stage: "download", file, url, loaded: bytes.byteLength, total: bytes.byteLength, cached: true });
        return bytes;
      }
    }
  }

  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new Error(`could not fetch ${url}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (res.status === 404 && optional) {
    if (cache) await cache.put(url, new Response(null, { status: 404, headers: { [MISSING]: "1" } })).catch(() => {});
    return undefined;
  }
  if (!res.ok) {
    throw new Error(`could not fetch ${url}: HTTP ${res.status}${res.statusText ? " " + res.statusText : ""}`);
  }
  if (sink) {
    // Streamed: the bytes go to the loader; a cache copy is written from the other branch of
    // the stream (into the browser's cache storage, not this page's memory).
    let body = res.body;
    let caching: Promise<unknown> = Promise.resolve();
    if (cache && body) {
      const [mine, theirs] = body.tee();
      body = mine;
      const headers = { "content-type": res.headers.get("content-type") ?? "application/octet-stream" };
      caching = cache.put(url, new Response(theirs, { headers })).catch(() => {}); // quota: just don't cache
    }
    await readBody(new Response(body, { headers: res.headers }), file, url, progress, sink);
    await caching;
    return undefined;
  }
  const bytes = await readBody(res, file, url, progress);
  if (cache) {
    const headers = { "content-type": res.headers.get("content-type") ?? "application/octet-stream" };
    await cache.put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers })).catch(() => {}); // quota: just don't cache
  }
  return bytes;
}

/** Every chunk of `body` to `sink`; the byte count. Errors of the sink (the loader) pass through
 * as they are; errors of the stream say the download broke off. */
async function pump(body: ReadableStream<Uint8Array>, sink: WeightsSink, url: string, onBytes: (n: number) => void): Promise<number> {
  const reader = body.getReader();
  let loaded = 0;
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch (e) {
      throw new Error(`could not fetch ${url}: the download broke off after ${loaded} bytes (${e instanceof Error ? e.message : String(e)})`);
    }
    if (next.done) return loaded;
    try {
      sink(next.value);
    } catch (e) {
      await reader.cancel().catch(() => {});
      throw e;
    }
    loaded += next.value.byteLength;
    onBytes(loaded);
  }
}

/** The whole body, counting bytes as they arrive (or handed to `sink` chunk by chunk). */
async function readBody(res: Response, file: string, url: string, progress: ProgressFn, sink?: WeightsSink): Promise<Uint8Array> {
  const encoding = res.headers.get("content-encoding");
  const length = Number(res.headers.get("content-length"));
  // With a content encoding the header counts compressed bytes, which are not what we count.
  const total = (!encoding || encoding === "identity") && Number.isFinite(length) && length > 0 ? length : undefined;
  let reported = -1;
  const report = (loaded: number) => {
    if (loaded === reported) return;
    reported = loaded;
    progress({ stage: "download", file, url, loaded, ...(total !== undefined ? { total } : {}) });
  };

  report(0);
  if (!res.body) {
    const bytes = new Uint8Array(await res.arrayBuffer());
    sink?.(bytes);
    report(bytes.byteLength);
    return sink ? new Uint8Array(0) : bytes;
  }
  if (sink) {
    let last = 0;
    const loaded = await pump(res.body, sink, url, (n) => {
      const now = Date.now();
      if (now - last >= 50) {
        last = now;
        report(n);
      }
    });
    report(loaded);
    return new Uint8Array(0);
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  let last = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.byteLength;
      const now = Date.now();
      if (now - last >= 50) {
        last = now;
        report(loaded);
      }
    }
  } catch (e) {
    throw new Error(`could not fetch ${url}: the download broke off after ${loaded} bytes (${e instanceof Error ? e.message : String(e)})`);
  }
  const bytes = concat(chunks, loaded);
  report(loaded);
  return bytes;
}

function concat(chunks: Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]!.byteOffset === 0 && chunks[0]!.byteLength === chunks[0]!.buffer.byteLength) {
    return chunks[0]!;
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

const FIELDS = ["config", "openClipConfig", "weights", "tokenizer", "preprocessor", "tokenizerConfig"] as const;
const KEYS: readonly string[] = [...FIELDS, "randomSeed"];

/** Throws a TypeError when `source` is not a valid files object (checks types only). */
export function checkFilesSource(source: unknown): asserts source is ModelFilesSource {
  if (source === null || typeof source !== "object") {
    throw new TypeError(`the model source must be a URL (string or URL) or an object {config, weights, tokenizer, preprocessor?}, got ${describe(source)}`);
  }
  const s = source as Record<string, unknown>;
  for (const key of Object.keys(s)) {
    if (!KEYS.includes(key)) {
      throw new TypeError(`unknown field source.${key}: a files source has ${KEYS.join(", ")}`);
    }
  }
  if (s.randomSeed !== undefined) {
    const seed = s.randomSeed;
    if (typeof seed !== "number" || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new TypeError(`source.randomSeed must be an integer from 0 to 4294967295, got ${typeof seed === "number" ? String(seed) : describe(seed)}`);
    }
    if (s.weights !== undefined) throw new TypeError("give source.weights or source.randomSeed (random initial weights), not both");
    if (s.config === undefined) {
      throw new TypeError("source.config is missing: random initial weights (randomSeed) need an HF config.json (openClipConfig is not supported there)");
    }
    if (s.openClipConfig !== undefined) throw new TypeError("source.openClipConfig cannot be used with randomSeed: give an HF config.json as source.config");
    if (s.preprocessor !== undefined) {
      throw new TypeError("source.preprocessor cannot be used with randomSeed: a random model takes its image size from config and CLIP's mean/std");
    }
  }
  if (s.config === undefined && s.openClipConfig === undefined) {
    throw new TypeError("source.config is missing: give config.json (or openClipConfig: open_clip_config.json)");
  }
  if (s.config !== undefined && s.openClipConfig !== undefined) {
    throw new TypeError("give source.config or source.openClipConfig, not both");
  }
  if (s.weights === undefined && s.randomSeed === undefined) {
    throw new TypeError("source.weights is missing: give the model.safetensors bytes (or randomSeed for random initial weights)");
  }
  if (s.tokenizer === undefined) throw new TypeError("source.tokenizer is missing: give tokenizer.json");
  for (const key of FIELDS) {
    const v = s[key];
    if (v === undefined) continue;
    if (isBytes(v) || isBlob(v)) continue;
    if (key === "weights") {
      throw new TypeError(`source.weights must be bytes (ArrayBuffer, Uint8Array or Blob with the safetensors file), got ${describe(v)}`);
    }
    if (typeof v === "string" || isPlainObject(v)) continue;
    throw new TypeError(`source.${key} must be an ArrayBuffer, Uint8Array, Blob, string (the file's text) or plain object (JSON), got ${describe(v)}`);
  }
}

/** The files of an object source as bytes (after `checkFilesSource`). */
export async function filesFromObject(source: ModelFilesSource): Promise<FileBytes> {
  checkFilesSource(source);
  const out: Partial<Record<(typeof FIELDS)[number], Uint8Array>> = {};
  for (const key of FIELDS) {
    const v = source[key];
    if (v !== undefined) out[key] = await toBytes(v);
  }
  const files = out as FileBytes;
  if (source.randomSeed !== undefined) files.randomSeed = source.randomSeed;
  return files;
}

async function toBytes(v: unknown): Promise<Uint8Array> {
  if (v instanceof Uint8Array) return v;
  if (isArrayBuffer(v)) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (isBlob(v)) return new Uint8Array(await v.arrayBuffer());
  if (typeof v === "string") return new TextEncoder().encode(v);
  return new TextEncoder().encode(JSON.stringify(v));
}

function isArrayBuffer(v: unknown): v is ArrayBuffer {
  return v instanceof ArrayBuffer || Object.prototype.toString.call(v) === "[object ArrayBuffer]";
}

function isBytes(v: unknown): boolean {
  return isArrayBuffer(v) || ArrayBuffer.isView(v);
}

function isBlob(v: unknown): v is Blob {
  return typeof Blob !== "undefined" && v instanceof Blob;
}

function isPlainObject(v: unknown): boolean {
  if (v === null || typeof v !== "object") return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A short description of a value's type for error messages. */
export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return (v as object).constructor?.name ? `a ${(v as object).constructor.name}` : "an object";
  return typeof v;
}
