// Validation of the training and shapes-world arguments (shared by the main-thread model and the
// page side of the worker variant, so a TypeError is thrown before anything is sent).

import { describe } from "./source.js";
import type { ExportOptions, ShapesBatchOptions, ShapesTrainingBatchOptions, TrainerOptions } from "./types.js";

const TRAINER_KEYS = ["train", "lockImage", "lockText", "lr", "weightDecay", "warmup", "batchSize", "seed", "steps", "gradClip", "loss"] as const;

function show(v: unknown): string {
  return typeof v === "number" || typeof v === "boolean" ? String(v) : typeof v === "string" ? JSON.stringify(v) : describe(v);
}

function nonNegative(v: unknown, what: string): void {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new TypeError(`${what} must be a non-negative number, got ${show(v)}`);
}

function integer(v: unknown, what: string, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new TypeError(`${what} must be an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? " up" : ` to ${max}`}, got ${show(v)}`);
  }
}

/** Throws a TypeError for a malformed options object; returns a copy with only the given keys. */
export function checkTrainerOptions(options: unknown): TrainerOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== "object" || Array.isArray(options)) throw new TypeError(`trainer options must be an object, got ${describe(options)}`);
  const o = options as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(o)) {
    if (!(TRAINER_KEYS as readonly string[]).includes(key)) {
      throw new TypeError(`unknown trainer option ${JSON.stringify(key)}: the options are ${TRAINER_KEYS.join(", ")}`);
    }
    if (o[key] !== undefined) out[key] = o[key];
  }
  if (out.train !== undefined && (typeof out.train !== "string" || !/^(projections|all|last:[1-9][0-9]*)$/.test(out.train))) {
    throw new TypeError(`options.train must be "projections", "all" or "last:N" (N ≥ 1), got ${show(out.train)}`);
  }
  for (const key of ["lockImage", "lockText"] as const) {
    if (out[key] !== undefined && typeof out[key] !== "boolean") throw new TypeError(`options.${key} must be a boolean, got ${show(out[key])}`);
  }
  if (out.lockImage === true && out.lockText === true) throw new TypeError("options.lockImage and options.lockText cannot both be true: nothing would train");
  for (const key of ["lr", "weightDecay", "gradClip"] as const) if (out[key] !== undefined) nonNegative(out[key], `options.${key}`);
  if (out.warmup !== undefined) integer(out.warmup, "options.warmup", 0);
  if (out.steps !== undefined) integer(out.steps, "options.steps", 1);
  if (out.batchSize !== undefined) integer(out.batchSize, "options.batchSize", 1);
  if (out.seed !== undefined) integer(out.seed, "options.seed", 0, 0xffffffff);
  if (out.loss !== undefined && out.loss !== "softmax" && out.loss !== "sigmoid") {
    throw new TypeError(`options.loss must be "softmax" or "sigmoid", got ${show(out.loss)}`);
  }
  return out as TrainerOptions;
}

export function checkExportOptions(options: unknown): ExportOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== "object" || Array.isArray(options)) throw new TypeError(`export options must be an object {dtype?, wiseFt?}, got ${describe(options)}`);
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (key !== "dtype" && key !== "wiseFt") throw new TypeError(`unknown export option ${JSON.stringify(key)}: the options are dtype, wiseFt`);
  }
  const out: ExportOptions = {};
  if (o.dtype !== undefined) {
    if (o.dtype !== "f32" && o.dtype !== "f16") throw new TypeError(`options.dtype must be "f32" or "f16", got ${show(o.dtype)}`);
    out.dtype = o.dtype;
  }
  if (o.wiseFt !== undefined) {
    if (typeof o.wiseFt !== "number" || !(o.wiseFt >= 0 && o.wiseFt <= 1)) throw new TypeError(`options.wiseFt must be a number from 0 to 1, got ${show(o.wiseFt)}`);
    out.wiseFt = o.wiseFt;
  }
  return out;
}

/** The saved optimiser state as bytes (a TypeError for anything else). */
export function checkState(state: unknown): Uint8Array {
  if (state instanceof Uint8Array) return state;
  if (state instanceof ArrayBuffer || Object.prototype.toString.call(state) === "[object ArrayBuffer]") return new Uint8Array(state as ArrayBuffer);
  throw new TypeError(`the trainer state must be the Uint8Array (or ArrayBuffer) saveState() gave, got ${describe(state)}`);
}

export function checkShapesOptions(options: unknown): Required<ShapesBatchOptions> {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(`shapesBatch options must be an object {seed?, first, count, difficulty?, split?}, got ${describe(options)}`);
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!["seed", "first", "count", "difficulty", "split"].includes(key)) {
      throw new TypeError(`unknown shapesBatch option ${JSON.stringify(key)}: the options are seed, first, count, difficulty, split`);
    }
  }
  const seed = o.seed ?? 0;
  integer(seed, "options.seed", 0, 0xffffffff);
  integer(o.first, "options.first", 0, 0xffffffff);
  integer(o.count, "options.count", 1, 1024);
  const difficulty = o.difficulty ?? 1;
  if (typeof difficulty !== "number" || !(difficulty >= 0 && difficulty <= 1)) throw new TypeError(`options.difficulty must be a number from 0 to 1, got ${show(difficulty)}`);
  const split = o.split ?? "train";
  if (split !== "train" && split !== "heldout" && split !== "all") throw new TypeError(`options.split must be "train", "heldout" or "all", got ${show(split)}`);
  return { seed: seed as number, first: o.first as number, count: o.count as number, difficulty, split };
}

export function checkShapesTrainingOptions(options: unknown): Required<ShapesTrainingBatchOptions> {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(`shapesTrainingBatch options must be an object {seed?, step, batchSize?}, got ${describe(options)}`);
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!["seed", "step", "batchSize"].includes(key)) {
      throw new TypeError(`unknown shapesTrainingBatch option ${JSON.stringify(key)}: the options are seed, step, batchSize`);
    }
  }
  const seed = o.seed ?? 0;
  integer(seed, "options.seed", 0, 0xffffffff);
  integer(o.step, "options.step", 1, 0xffffffff);
  const batchSize = o.batchSize ?? 20;
  integer(batchSize, "options.batchSize", 2, 1024);
  return { seed: seed as number, step: o.step as number, batchSize: batchSize as number };
}
