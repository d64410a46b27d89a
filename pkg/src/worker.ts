// The worker script of `loadModelInWorker`: one model (and its trainers) per worker, driven by
// messages.

import { loadModel } from "./model.js";
import type { ModelInfo, Op, Results, WorkerMessage, WorkerRequest } from "./protocol.js";
import type { ClipModel, ClipTrainer, ShapesBatch, TemplateSetName } from "./types.js";

interface WorkerScope {
  postMessage(message: WorkerMessage, transfer: Transferable[]): void;
  addEventListener(type: "message", listener: (event: MessageEvent<WorkerRequest>) => void): void;
}
const scope = self as unknown as WorkerScope;

let model: ClipModel | null = null;
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
  }
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
