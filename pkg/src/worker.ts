// The worker script of `loadModelInWorker`: one model per worker, driven by messages.

import { loadModel } from "./model.js";
import type { ModelInfo, Op, Results, WorkerMessage, WorkerRequest } from "./protocol.js";
import type { ClipModel, TemplateSetName } from "./types.js";

interface WorkerScope {
  postMessage(message: WorkerMessage, transfer: Transferable[]): void;
  addEventListener(type: "message", listener: (event: MessageEvent<WorkerRequest>) => void): void;
}
const scope = self as unknown as WorkerScope;

let model: ClipModel | null = null;

function post(message: WorkerMessage, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

function info(m: ClipModel): ModelInfo {
  return {
    backend: m.backend,
    adapter: m.adapter,
    deviceNote: m.deviceNote,
    embeddingDim: m.embeddingDim,
    imageSize: [m.imageSize[0], m.imageSize[1]],
    logitScale: m.logitScale,
  };
}

function loaded(): ClipModel {
  if (!model) throw new Error("no model loaded in this worker");
  return model;
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
  }
}

scope.addEventListener("message", (event) => {
  const req = event.data;
  handle(req).then(
    (result) => {
      const transfer: Transferable[] = [];
      if (req.op === "embedImages" || req.op === "embedTexts") {
        for (const row of result as Float32Array[]) transfer.push(row.buffer as ArrayBuffer);
      }
      post({ id: req.id, type: "response", ok: true, op: req.op, result } as WorkerMessage, transfer);
    },
    (e: unknown) => {
      const error = e instanceof Error ? e.message : String(e);
      const name = e instanceof Error ? e.name : "Error";
      post({ id: req.id, type: "response", ok: false, error, name });
    },
  );
});
