// The worker script of `loadModelInWorker`: one model (and its trainers) per worker, driven by
// messages.

import { ModelHasher, SearchIndex, imageExtensions, metadataParquet, npyFromF16, parseNpy, readMetadata } from "../wasm/webclip_wasm.js";
import { LocalClipModel, initWasm, loadModel } from "./model.js";
import type { MetaColumns, ModelInfo, Op, Results, WorkerMessage, WorkerRequest } from "./protocol.js";
import { fetchFolder, filesFromObject } from "./source.js";
import type { ClipModel, ClipTrainer, ShapesBatch, TemplateSetName } from "./types.js";

interface WorkerScope {
  postMessage(message: WorkerMessage, transfer: Transferable[]): void;
  addEventListener(type: "message", listener: (event: MessageEvent<WorkerRequest>) => void): void;
}
const scope = self as unknown as WorkerScope;

let model: ClipModel | null = null;
/** The Library's rows, for search (worker 0 of a Library only). */
let searchIndex: SearchIndex | null = null;
const trainers = new Map<number, ClipTrainer>();
let nextTrainer = 1;

function post(message: WorkerMessage, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

function info(m: ClipModel): ModelInfo {
  return {
    backend: m.backend,
    precision: m.precision,
    adapter: m.adapter,
    deviceNote: m.deviceNote,
    embeddingDim: m.embeddingDim,
    imageSize: [m.imageSize[0], m.imageSize[1]],
    logitScale: m.logitScale,
    logitBias: m.logitBias,
    family: m.family,
    scoring: m.scoring,
    modelHash: m.modelHash,
    modelId: m.modelId,
  };
}

function loaded(): ClipModel {
  if (!model) throw new Error("no model loaded in this worker");
  return model;
}

function trainer(id: number): ClipTrainer {
  const t = trainers.get(id);
  if (!t) throw new Error("trainer disposed");
  return t;
}

/** A buffer that can be transferred: the whole of `bytes`' own ArrayBuffer (else a copy). */
function own(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  if (bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) {
    return bytes as Uint8Array<ArrayBuffer>;
  }
  return bytes.slice();
}

async function handle(req: WorkerRequest): Promise<Results[Op]> {
  switch (req.op) {
    case "load": {
      if (model) throw new Error("this worker already has a model");
      settingsWasmUrl = req.options.wasmUrl;
      const m = await loadModel(req.source, {
        ...req.options,
        onProgress: (progress) => post({ id: req.id, type: "progress", progress }),
      });
      model = m;
      return info(m);
    }
    case "embedImages":
      return loaded().embedImages(req.images);
    case "embedTexts":
      return loaded().embedTexts(req.texts);
    case "classify":
      return loaded().classify(req.images, req.labels, req.options);
    case "rank":
      return loaded().rank(req.text, req.images);
    case "templates":
      return loaded().templates(req.name as TemplateSetName);
    case "prepareLabels":
      return loaded().prepareLabels(req.labels, req.options);
    case "memoryBytes":
      return loaded().memoryBytes();
    case "trainer": {
      const t = await loaded().trainer(req.options);
      const id = nextTrainer++;
      trainers.set(id, t);
      return id;
    }
    case "trainerStep":
      return trainer(req.trainer).step(req.images, req.texts);
    case "trainerEvaluate":
      return trainer(req.trainer).evaluate(req.images, req.texts);
    case "trainerExport": {
      const files = await trainer(req.trainer).export(req.options);
      return { ...files, weights: own(files.weights) };
    }
    case "trainerSaveState":
      return own(await trainer(req.trainer).saveState());
    case "trainerRestore": {
      const t = trainer(req.trainer);
      await t.restore(req.state);
      return t.steps;
    }
    case "trainerReset":
      return trainer(req.trainer).reset();
    case "trainerDispose": {
      trainers.get(req.trainer)?.dispose();
      trainers.delete(req.trainer);
      return;
    }
    case "shapesBatch":
      return loaded().shapesBatch(req.options);
    case "shapesClasses":
      return loaded().shapesClasses();
    case "shapesRecipe":
      return loaded().shapesRecipe();
    case "shapesTrainingBatch":
      return loaded().shapesTrainingBatch(req.options);
    case "embedFiles":
      return local().embedForIndex(req.files);
    case "searchSet": {
      searchIndex?.free();
      searchIndex = null;
      const index = new SearchIndex(req.dim);
      index.set(req.rows);
      searchIndex = index;
      return;
    }
    case "search": {
      if (!searchIndex) throw new Error("the library's rows were not sent to this worker");
      const index = searchIndex;
      const q = req.query;
      if ("row" in q) return index.searchRow(q.row, req.topK) as Results["search"];
      const emb = await local().queryEmbedding(q);
      return index.search(emb, req.topK) as Results["search"];
    }
    case "encodeIndex": {
      const { rows, dim, meta, partitionSize } = req;
      const n = meta.paths.length;
      const size = Math.max(1, partitionSize);
      const npys: Uint8Array[] = [];
      const parquets: Uint8Array[] = [];
      // At least one partition, even for an empty index (the CLI writes none; both read fine).
      for (let start = 0; start < Math.max(n, 1); start += size) {
        const end = Math.min(n, start + size);
        npys.push(npyFromF16(dim, rows.subarray(start * dim * 2, end * dim * 2)));
        parquets.push(
          metadataParquet(meta.paths.slice(start, end), meta.widths.subarray(start, end), meta.heights.subarray(start, end), meta.sizes.subarray(start, end)),
        );
      }
      return { npys, parquets };
    }
    case "decodeIndex": {
      await initWasm(settingsWasmUrl);
      const parts: Uint8Array[] = [];
      const meta: MetaColumns = { paths: [], widths: new Int32Array(0), heights: new Int32Array(0), sizes: new Float64Array(0) };
      const widths: number[] = [];
      const heights: number[] = [];
      const sizes: number[] = [];
      let dim = 0;
      req.npys.forEach((bytes, k) => {
        const npy = parseNpy(bytes) as { rows: number; dim: number; data: Uint8Array };
        const m = readMetadata(req.parquets[k]!) as MetaColumns;
        if (m.paths.length !== npy.rows) {
          throw new Error(`partition ${k}: img_emb has ${npy.rows} rows but its metadata ${m.paths.length}: the index is damaged`);
        }
        if (dim !== 0 && npy.dim !== dim) throw new Error(`partition ${k} holds ${npy.dim}-d rows, partition 0 ${dim}-d`);
        dim = npy.dim;
        parts.push(npy.data);
        meta.paths.push(...m.paths);
        widths.push(...m.widths);
        heights.push(...m.heights);
        sizes.push(...m.sizes);
      });
      const total = parts.reduce((a, p) => a + p.length, 0);
      const rows = new Uint8Array(total);
      let at = 0;
      for (const p of parts) {
        rows.set(p, at);
        at += p.length;
      }
      return { rows, dim, meta: { paths: meta.paths, widths: Int32Array.from(widths), heights: Int32Array.from(heights), sizes: Float64Array.from(sizes) } };
    }
    case "imageExtensions":
      return imageExtensions();
    case "modelHash": {
      settingsWasmUrl = req.options.wasmUrl;
      await initWasm(req.options.wasmUrl);
      let hasher: ModelHasher | null = null;
      const files =
        typeof req.source === "string"
          ? await fetchFolder(req.source, req.options, () => {}, async (small) => {
              const h = new ModelHasher(small.config, small.openClipConfig, small.preprocessor);
              hasher = h;
              return (chunk) => h.push(chunk);
            })
          : await filesFromObject(req.source);
      if (files.weights) {
        hasher = new ModelHasher(files.config, files.openClipConfig, files.preprocessor);
        hasher.push(files.weights);
      }
      const h = hasher as ModelHasher | null;
      const out = h?.finish() ?? null;
      h?.free();
      return out;
    }
  }
}

let settingsWasmUrl: string | undefined;

/** The loaded model as this worker's own (the Library's ops need its internals). */
function local(): LocalClipModel {
  const m = loaded();
  if (!(m instanceof LocalClipModel)) throw new Error("internal: the worker's model is not local");
  return m;
}

/** The buffers a result can give away to the page instead of copying. */
function transferables(req: WorkerRequest, result: Results[Op]): Transferable[] {
  switch (req.op) {
    case "embedImages":
    case "embedTexts":
      return (result as Float32Array[]).map((row) => row.buffer as ArrayBuffer);
    case "trainerExport":
      return [(result as Results["trainerExport"]).weights.buffer as ArrayBuffer];
    case "trainerSaveState":
      return [(result as Uint8Array).buffer as ArrayBuffer];
    case "shapesBatch":
    case "shapesTrainingBatch":
      return (result as ShapesBatch).images.map((img) => img.data.buffer as ArrayBuffer);
    case "embedFiles": {
      const r = result as Results["embedFiles"];
      return [r.rows.buffer as ArrayBuffer, r.dims.buffer as ArrayBuffer];
    }
    case "search": {
      const r = result as Results["search"];
      return [r.rows.buffer as ArrayBuffer, r.scores.buffer as ArrayBuffer];
    }
    case "encodeIndex": {
      const r = result as Results["encodeIndex"];
      return [...r.npys, ...r.parquets].map((b) => b.buffer as ArrayBuffer);
    }
    case "decodeIndex": {
      const r = result as Results["decodeIndex"];
      return [r.rows.buffer as ArrayBuffer];
    }
    default:
      return [];
  }
}

scope.addEventListener("message", (event) => {
  const req = event.data;
  handle(req).then(
    (result) => {
      const transfer = [...new Set(transferables(req, result))];
      post({ id: req.id, type: "response", ok: true, op: req.op, result } as WorkerMessage, transfer);
    },
    (e: unknown) => {
      const error = e instanceof Error ? e.message : String(e);
      const name = e instanceof Error ? e.name : "Error";
      post({ id: req.id, type: "response", ok: false, error, name });
    },
  );
});
