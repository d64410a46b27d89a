// The fine-tuning run kept in the browser (IndexedDB "webclip-training", one object store
// "runs"): two records, "ft-meta" (what the run is: settings, images and labels, the model's
// config and tokenizer, written once) and "ft-ckpt" (where it is: step, history, weights and
// optimiser state, rewritten at every save). They belong together when their runId matches.
// Also the Library's last picked folder ("library-folder": a FileSystemDirectoryHandle, which
// IndexedDB stores as is), so that after a reload Rescan can read the folder again.

const DB_NAME = "webclip-training";
const STORE = "runs";
const META = "ft-meta";
const CKPT = "ft-ckpt";
let dbPromise = null;

function db() {
  if (!dbPromise) {
    dbPromise = new Promise((ok, fail) => {
      if (!("indexedDB" in window)) {
        fail(new Error("this browser has no IndexedDB"));
        return;
      }
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => ok(req.result);
      req.onerror = () => fail(req.error ?? new Error("IndexedDB could not be opened"));
      req.onblocked = () => fail(new Error("IndexedDB is blocked by another tab"));
    });
    dbPromise.catch(() => {
      dbPromise = null;
    });
  }
  return dbPromise;
}

async function get(key) {
  const d = await db();
  return new Promise((ok, fail) => {
    const req = d.transaction(STORE, "readonly").objectStore(STORE).get(key);
    req.onsuccess = () => ok(req.result);
    req.onerror = () => fail(req.error);
  });
}

/** Writes all entries in one transaction (all or nothing: a crash keeps the previous ones). */
async function put(entries) {
  const d = await db();
  return new Promise((ok, fail) => {
    const tx = d.transaction(STORE, "readwrite");
    const store = tx.objectStore(STORE);
    for (const [k, v] of entries) store.put(v, k);
    tx.oncomplete = () => ok();
    tx.onerror = () => fail(tx.error ?? new Error("IndexedDB write failed"));
    tx.onabort = () => fail(tx.error ?? new Error("IndexedDB write aborted (is the disk full?)"));
  });
}

/** The saved run as `{ meta, ckpt }`, or null when there is none (or only half of one). */
export async function readSavedRun() {
  const [meta, ckpt] = await Promise.all([get(META), get(CKPT)]);
  return meta && ckpt && meta.runId === ckpt.runId ? { meta, ckpt } : null;
}

/** Saves a checkpoint, with the run's description the first time (`meta`, else null). */
export function writeRun(ckpt, meta) {
  return put(meta ? [[CKPT, ckpt], [META, meta]] : [[CKPT, ckpt]]);
}

export async function deleteSavedRun() {
  const d = await db();
  return new Promise((ok, fail) => {
    const tx = d.transaction(STORE, "readwrite");
    for (const k of [META, CKPT]) tx.objectStore(STORE).delete(k);
    tx.oncomplete = () => ok();
    tx.onerror = () => fail(tx.error);
  });
}

const FOLDER = "library-folder";

/** Keeps the Library's picked folder (`showDirectoryPicker`'s handle) for the next visit; best effort. */
export async function saveFolderHandle(handle) {
  try {
    await put([[FOLDER, handle]]);
  } catch {
    // not kept: the next visit picks the folder again
  }
}

/** The Library's folder of an earlier visit, or null. */
export async function loadFolderHandle() {
  try {
    return (await get(FOLDER)) ?? null;
  } catch {
    return null;
  }
}
