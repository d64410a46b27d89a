// Messages between the page (client.ts) and the worker (worker.ts). Every request carries an
// id; the worker answers each with exactly one response (ok: true with the result, or ok: false
// with the error) and, for "load", any number of progress messages before it. Trainers live in
// the worker, in a map by number: "trainer" answers a new one's id, the "trainer…" ops name it.

import type {
  Backend,
  Family,
  Scoring,
  BackendChoice,
  ClassifyOptions,
  Evaluation,
  ExportOptions,
  ExportedModel,
  ImageInput,
  LabelProb,
  ModelFilesSource,
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
  TrainerOptions,
} from "./types.js";

/** Load options as sent to the worker (functions stay on the page; URLs are absolute). */
export interface WorkerLoadSettings {
  backend: BackendChoice;
  precision: PrecisionChoice;
  towers?: "both" | "image";
  cache?: boolean | string;
  wasmUrl?: string;
  fetchOptions?: RequestInit;
}

export type WorkerRequest =
  | { id: number; op: "load"; source: string | ModelFilesSource; options: WorkerLoadSettings }
  | { id: number; op: "embedImages"; images: ImageInput[] }
  | { id: number; op: "embedTexts"; texts: string[] }
  | { id: number; op: "classify"; images: ImageInput[]; labels: string[]; options: ClassifyOptions }
  | { id: number; op: "rank"; text: string; images: ImageInput[] }
  | { id: number; op: "templates"; name: string }
  | { id: number; op: "prepareLabels"; labels: string[]; options: ClassifyOptions }
  | { id: number; op: "memoryBytes" }
  | { id: number; op: "trainer"; options: TrainerOptions }
  | { id: number; op: "trainerStep"; trainer: number; images: ImageInput[]; texts: string[] }
  | { id: number; op: "trainerEvaluate"; trainer: number; images: ImageInput[]; texts: string[] }
  | { id: number; op: "trainerExport"; trainer: number; options: ExportOptions }
  | { id: number; op: "trainerSaveState"; trainer: number }
  | { id: number; op: "trainerRestore"; trainer: number; state: Uint8Array }
  | { id: number; op: "trainerReset"; trainer: number }
  | { id: number; op: "trainerDispose"; trainer: number }
  | { id: number; op: "shapesBatch"; options: ShapesBatchOptions }
  | { id: number; op: "shapesClasses" }
  | { id: number; op: "shapesRecipe" }
  | { id: number; op: "shapesTrainingBatch"; options: ShapesTrainingBatchOptions }
  | { id: number; op: "embedFiles"; files: Blob[] }
  | { id: number; op: "searchSet"; rows: Uint8Array; dim: number }
  | { id: number; op: "search"; query: SearchQuery; topK: number }
  | { id: number; op: "encodeIndex"; rows: Uint8Array; dim: number; meta: MetaColumns; partitionSize: number }
  | { id: number; op: "decodeIndex"; npys: Uint8Array[]; parquets: Uint8Array[] }
  | { id: number; op: "imageExtensions" }
  | { id: number; op: "modelHash"; source: string | ModelFilesSource; options: WorkerLoadSettings };

export type Op = WorkerRequest["op"];

/** A request without its id (the client assigns ids). */
export type RequestBody = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

/** The properties of a loaded model, sent once after "load". */
export interface ModelInfo {
  backend: Backend;
  precision: Precision;
  adapter: string;
  deviceNote: string | undefined;
  embeddingDim: number;
  imageSize: [number, number];
  logitScale: number;
  logitBias: number | undefined;
  family: Family;
  scoring: Scoring;
  modelHash: string | undefined;
  modelId: string;
}

/** A search's answer: rows of the index, best first, and their cosine similarities. */
export interface Ranked {
  rows: Uint32Array;
  scores: Float32Array;
}

/** A batch embedded for an index: rows for the files that decoded, reasons for the others. */
export interface EmbeddedFiles {
  /** L2-normalised f16 rows (little-endian), one per file whose `errors[i]` is null, in order. */
  rows: Uint8Array;
  /** `[width, height]` per embedded file, flattened. */
  dims: Int32Array;
  /** Per input file: null (embedded) or why it was skipped. */
  errors: (string | null)[];
}

/** An index's metadata columns (row-aligned with its embeddings). */
export interface MetaColumns {
  paths: string[];
  widths: Int32Array;
  heights: Int32Array;
  sizes: Float64Array;
}

export type SearchQuery = { text: string } | { image: ImageInput } | { row: number };

export interface Results {
  load: ModelInfo;
  embedImages: Float32Array[];
  embedTexts: Float32Array[];
  classify: LabelProb[][];
  rank: RankEntry[];
  templates: string[];
  prepareLabels: void;
  memoryBytes: number;
  /** The new trainer's id in the worker. */
  trainer: number;
  trainerStep: StepResult;
  trainerEvaluate: Evaluation;
  /** `weights`' buffer is transferred. */
  trainerExport: ExportedModel;
  /** Transferred. */
  trainerSaveState: Uint8Array;
  /** The trainer's step count after restoring. */
  trainerRestore: number;
  trainerReset: void;
  trainerDispose: void;
  /** The images' pixel buffers are transferred. */
  shapesBatch: ShapesBatch;
  shapesClasses: ShapesClass[];
  shapesRecipe: ShapesRecipe;
  /** The images' pixel buffers are transferred. */
  shapesTrainingBatch: ShapesBatch;
  embedFiles: EmbeddedFiles;
  searchSet: void;
  search: Ranked;
  /** Per partition: its .npy and .parquet bytes. */
  encodeIndex: { npys: Uint8Array[]; parquets: Uint8Array[] };
  decodeIndex: { rows: Uint8Array; dim: number; meta: MetaColumns };
  modelHash: string | null;
  imageExtensions: string[];
}

export type OkResponse = { [O in Op]: { id: number; type: "response"; ok: true; op: O; result: Results[O] } }[Op];

export interface ErrorResponse {
  id: number;
  type: "response";
  ok: false;
  /** The error's message (the core's message for model errors). */
  error: string;
  /** The error's class name ("Error", "TypeError", …), so the page can rebuild it. */
  name: string;
}

export type WorkerResponse = OkResponse | ErrorResponse;

export interface ProgressMessage {
  id: number;
  type: "progress";
  progress: Progress;
}

export type WorkerMessage = WorkerResponse | ProgressMessage;
