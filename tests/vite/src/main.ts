// A strict TypeScript consumer of the webclip package, built by Vite as a new user would (no
// Vite config: no optimizeDeps.exclude) and type-checked with `tsc --noEmit` (no skipLibCheck,
// lib ES2022). tests/e2e/vite.test.mjs calls window.classifyBoth and compares the numbers.
import { DEFAULT_CACHE, clearModelCache, loadModel, loadModelInWorker } from "webclip";
import type { ClipModel, LabelProb, LoadOptions, Progress, WorkerLoadOptions } from "webclip";

export interface Request {
  /** The model folder's URL. */
  model: string;
  /** An image file's URL. */
  image: string;
  labels: string[];
}

export interface Answer {
  backend: ClipModel["backend"];
  inWorker: boolean;
  stages: Progress["stage"][];
  scores: LabelProb[];
}

declare global {
  interface Window {
    classifyBoth(request: Request): Promise<{ main: Answer; worker: Answer; cacheName: string; cacheCleared: boolean }>;
  }
}

async function classifyWith(load: typeof loadModel, request: Request, options: LoadOptions & WorkerLoadOptions): Promise<Answer> {
  const stages: Progress["stage"][] = [];
  const model = await load(request.model, { ...options, onProgress: (p) => stages.push(p.stage) });
  try {
    const image = await (await fetch(request.image)).blob();
    const [scores] = await model.classify([image], request.labels);
    if (scores === undefined) throw new Error("no scores");
    return { backend: model.backend, inWorker: model.inWorker, stages, scores };
  } finally {
    model.dispose();
  }
}

window.classifyBoth = async (request) => {
  const options = { backend: "cpu", cache: false } as const;
  const main = await classifyWith(loadModel, request, options);
  const worker = await classifyWith(loadModelInWorker, request, options);
  return { main, worker, cacheName: DEFAULT_CACHE, cacheCleared: await clearModelCache() };
};
