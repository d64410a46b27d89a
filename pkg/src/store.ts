// Where a Library persists: the Origin Private File System where the browser can write it from
// this thread (`createWritable`), else IndexedDB, else nowhere ("memory").
//
// Every save is all-or-nothing:
// - OPFS: the rows go to a new file `rows-<generation>.f16`, then `state.json` (the entries,
//   the errors and the generation it belongs to) replaces the old one — `createWritable` writes
//   to a swap file that only takes the name on `close()` — and only then is the previous rows
//   file deleted. A crash or a full disk at any point leaves a state.json whose rows file exists.
// - IndexedDB: state and rows in one `put`, one transaction.
// Before writing, `navigator.storage.estimate()` is checked: an index that cannot fit is refused
// with a "storage full" message before anything is touched; a QuotaExceededError during the
// write gets the same message (and the old copy stays).

import type { LibraryEntry, LibraryStorage, StoredLibrary } from "./types.js";

export interface SavedLibrary {
  name: string;
  modelHash: string;
  modelId: string;
  dim: number;
  entries: LibraryEntry[];
  errors: { path: string; reason: string; size: number; lastModified: number }[];
  /** f16 rows, row-aligned with `entries`. */
  rows: Uint8Array;
}

export interface Store {
  readonly kind: LibraryStorage;
  load(name: string, modelHash: string): Promise<SavedLibrary | null>;
  save(lib: SavedLibrary): Promise<void>;
  remove(name: string, modelHash: string): Promise<void>;
  list(): Promise<StoredLibrary[]>;
}

const ROOT = "webclip-libraries";
const VERSION = 1;

/** The state file: everything but the rows. */
interface StateJson extends Omit<SavedLibrary, "rows"> {
  version: number;
  generation: number;
  rowsBytes: number;
}

function key(name: string, modelHash: string): string {
  return `${encodeURIComponent(name)}--${modelHash}`;
}

function fullMessage(need: number, free: number | undefined): string {
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  return `storage full: saving the library needs ${mb(need)}${free !== undefined ? ` and this site may use only ${mb(Math.max(0, free))} more` : ""}; the previous copy of the index is kept. Free space (or clear other libraries) and run the update again.`;
}

async function checkQuota(need: number): Promise<void> {
  const est = await navigator.storage?.estimate?.().catch(() => undefined);
  if (est?.quota !== undefined && est.usage !== undefined && est.usage + need > est.quota) {
    throw new Error(fullMessage(need, est.quota - est.usage));
  }
}

function isQuotaError(e: unknown): boolean {
  return e instanceof DOMException && (e.name === "QuotaExceededError" || e.code === 22);
}

/** The store for `choice` ("auto": OPFS if writable here, else IndexedDB, else memory). */
export async function openStore(choice: "auto" | LibraryStorage): Promise<Store> {
  if (choice === "memory") return new MemoryStore();
  if (choice === "opfs" || choice === "auto") {
    const root = await opfsRoot();
    if (root) return new OpfsStore(root);
    if (choice === "opfs") throw new Error("this browser cannot write the Origin Private File System from this thread (no createWritable): use storage \"indexeddb\"");
  }
  if (typeof indexedDB !== "undefined") return new IdbStore();
  if (choice === "indexeddb") throw new Error("IndexedDB is not available here");
  return new MemoryStore();
}

async function opfsRoot(): Promise<FileSystemDirectoryHandle | null> {
  try {
    if (typeof navigator === "undefined" || !navigator.storage?.getDirectory) return null;
    const root = await (await navigator.storage.getDirectory()).getDirectoryHandle(ROOT, { create: true });
    const probe = await root.getFileHandle(".probe", { create: true });
    if (typeof (probe as FileSystemFileHandle & { createWritable?: unknown }).createWritable !== "function") return null;
    return root;
  } catch {
    return null;
  }
}

class MemoryStore implements Store {
  readonly kind = "memory" as const;
  async load(): Promise<SavedLibrary | null> {
    return null;
  }
  async save(): Promise<void> {}
  async remove(): Promise<void> {}
  async list(): Promise<StoredLibrary[]> {
    return [];
  }
}

class OpfsStore implements Store {
  readonly kind = "opfs" as const;
  #root: FileSystemDirectoryHandle;

  constructor(root: FileSystemDirectoryHandle) {
    this.#root = root;
  }

  async #dir(name: string, modelHash: string, create: boolean): Promise<FileSystemDirectoryHandle | null> {
    try {
      return await this.#root.getDirectoryHandle(key(name, modelHash), { create });
    } catch (e) {
      if (!create && e instanceof DOMException && e.name === "NotFoundError") return null;
      throw e;
    }
  }

  async #state(dir: FileSystemDirectoryHandle): Promise<StateJson | null> {
    try {
      const text = await (await (await dir.getFileHandle("state.json")).getFile()).text();
      const s = JSON.parse(text) as StateJson;
      return s.version === VERSION ? s : null;
    } catch {
      return null;
    }
  }

  async load(name: string, modelHash: string): Promise<SavedLibrary | null> {
    const dir = await this.#dir(name, modelHash, false);
    if (!dir) return null;
    const s = await this.#state(dir);
    if (!s) return null;
    const file = await (await dir.getFileHandle(`rows-${s.generation}.f16`)).getFile();
    const rows = new Uint8Array(await file.arrayBuffer());
    if (rows.length !== s.rowsBytes) return null;
    const { version: _v, generation: _g, rowsBytes: _r, ...rest } = s;
    return { ...rest, rows };
  }

  async save(lib: SavedLibrary): Promise<void> {
    const { rows, ...rest } = lib;
    const dir = (await this.#dir(lib.name, lib.modelHash, true))!;
    const old = await this.#state(dir);
    const generation = (old?.generation ?? 0) + 1;
    const state: StateJson = { ...rest, version: VERSION, generation, rowsBytes: rows.length };
    const text = new TextEncoder().encode(JSON.stringify(state));
    await checkQuota(rows.length + text.length);
    const rowsName = `rows-${generation}.f16`;
    try {
      await writeFile(dir, rowsName, rows);
      await writeFile(dir, "state.json", text);
    } catch (e) {
      await dir.removeEntry(rowsName).catch(() => {});
      if (isQuotaError(e)) throw new Error(fullMessage(rows.length + text.length, undefined));
      throw e;
    }
    // The previous generation (and any left by a crash) is no longer referenced.
    for await (const [n] of (dir as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
      if (n.startsWith("rows-") && n !== rowsName) await dir.removeEntry(n).catch(() => {});
    }
  }

  async remove(name: string, modelHash: string): Promise<void> {
    await this.#root.removeEntry(key(name, modelHash), { recursive: true }).catch((e: unknown) => {
      if (!(e instanceof DOMException && e.name === "NotFoundError")) throw e;
    });
  }

  async list(): Promise<StoredLibrary[]> {
    const out: StoredLibrary[] = [];
    for await (const [, handle] of (this.#root as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
      if (handle.kind !== "directory") continue;
      const s = await this.#state(handle as FileSystemDirectoryHandle);
      if (s) out.push({ name: s.name, modelHash: s.modelHash, modelId: s.modelId, count: s.entries.length, storage: "opfs" });
    }
    return out;
  }
}

async function writeFile(dir: FileSystemDirectoryHandle, name: string, data: Uint8Array): Promise<void> {
  const handle = await dir.getFileHandle(name, { create: true });
  const w = await (handle as FileSystemFileHandle & { createWritable(): Promise<FileSystemWritableFileStream> }).createWritable();
  try {
    await w.write(data as Uint8Array<ArrayBuffer>);
    await w.close();
  } catch (e) {
    await w.abort().catch(() => {});
    throw e;
  }
}

const DB = "webclip-libraries";
const STORE = "libraries";

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error("IndexedDB request failed"));
  });
}

class IdbStore implements Store {
  readonly kind = "indexeddb" as const;
  #db: Promise<IDBDatabase> | null = null;

  #open(): Promise<IDBDatabase> {
    this.#db ??= new Promise((resolve, reject) => {
      const r = indexedDB.open(DB, 1);
      r.onupgradeneeded = () => r.result.createObjectStore(STORE);
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error ?? new Error("could not open IndexedDB"));
    });
    return this.#db;
  }

  async #tx(mode: IDBTransactionMode): Promise<IDBObjectStore> {
    return (await this.#open()).transaction(STORE, mode).objectStore(STORE);
  }

  async load(name: string, modelHash: string): Promise<SavedLibrary | null> {
    const v = (await request((await this.#tx("readonly")).get(key(name, modelHash)))) as (SavedLibrary & { version: number }) | undefined;
    return v && v.version === VERSION ? v : null;
  }

  async save(lib: SavedLibrary): Promise<void> {
    await checkQuota(lib.rows.length + lib.entries.length * 100);
    const store = await this.#tx("readwrite");
    try {
      await request(store.put({ ...lib, version: VERSION }, key(lib.name, lib.modelHash)));
      await new Promise<void>((resolve, reject) => {
        store.transaction.oncomplete = () => resolve();
        store.transaction.onabort = () => reject(store.transaction.error ?? new Error("IndexedDB transaction aborted"));
      });
    } catch (e) {
      if (isQuotaError(e)) throw new Error(fullMessage(lib.rows.length, undefined));
      throw e;
    }
  }

  async remove(name: string, modelHash: string): Promise<void> {
    await request((await this.#tx("readwrite")).delete(key(name, modelHash)));
  }

  async list(): Promise<StoredLibrary[]> {
    const all = (await request((await this.#tx("readonly")).getAll())) as (SavedLibrary & { version: number })[];
    return all.filter((v) => v.version === VERSION).map((v) => ({ name: v.name, modelHash: v.modelHash, modelId: v.modelId, count: v.entries.length, storage: "indexeddb" }));
  }
}
