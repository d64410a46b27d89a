// The user's images, shared by the Classify view (which classifies them) and the Fine-tune view
// (which labels and trains on them). Each image:
//   { id, name, blob, url, status: "pending" | "ok" | "error", key, scores, error, ms }
// and, once edited in the Fine-tune view, ftEdited / ftLabel / ftHeld.

import { $ } from "./ui.js";

export const images = [];
let nextId = 1;
const listeners = [];

/**
 * `fn(change)` after the list or an image changed: `{ added: [images] }`, `{ removed: image }`
 * or `{ updated: image }` (classified, or failed).
 */
export function onImagesChange(fn) {
  listeners.push(fn);
}

function notify(change) {
  for (const fn of listeners) fn(change);
}

/** Adds the Blobs/Files among `files`; returns the new images. */
export function addImages(files) {
  const out = [];
  for (const f of files) {
    if (!(f instanceof Blob)) continue;
    const name = f.name || `pasted-${nextId}.${(f.type.split("/")[1] || "png").replace("jpeg", "jpg")}`;
    const im = {
      id: nextId++,
      name,
      blob: f,
      url: URL.createObjectURL(f),
      status: "pending",
      key: null,
      scores: null,
      error: null,
      ms: null,
    };
    images.push(im);
    out.push(im);
  }
  if (out.length) notify({ added: out });
  return out;
}

export function removeImage(im) {
  const i = images.indexOf(im);
  if (i < 0) return;
  images.splice(i, 1);
  URL.revokeObjectURL(im.url);
  notify({ removed: im });
}

export function clearImages() {
  for (const im of [...images]) removeImage(im);
}

/** An image's result changed (its status, scores or error). */
export function imageUpdated(im) {
  notify({ updated: im });
}

/** Opens the file picker of the Classify view's drop zone (the images' one way in by click). */
export function pickImages() {
  $("file-input").click();
}
