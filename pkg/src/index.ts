// webclip: CLIP in the browser (Rust core compiled to WebAssembly, WebGPU or CPU).

export { loadModel } from "./model.js";
export { loadModelInWorker } from "./client.js";
export {
  openLibrary,
  storedLibraries,
  deleteStoredLibrary,
  modelHashOf,
  filesFromDirectoryHandle,
  filesFromFileList,
  filesFromDataTransfer,
} from "./library.js";
export { DEFAULT_CACHE } from "./source.js";
// Every public type (ClipModel, LoadOptions, TrainerOptions, ShapesRecipe, …).
export type * from "./types.js";
export type { WorkerMessage, WorkerRequest, WorkerResponse } from "./protocol.js";

import { DEFAULT_CACHE } from "./source.js";

/** Deletes the Cache API cache that `cache: true` (or `cache: name`) fills. Resolves to whether it existed. */
export async function clearModelCache(name: string = DEFAULT_CACHE): Promise<boolean> {
  if (typeof caches === "undefined") return false;
  try {
    return await caches.delete(name);
  } catch {
    return false;
  }
}
