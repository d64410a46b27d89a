// Turning the caller's images into the core's `Images` (decoding happens in Rust).

import type { Images } from "../wasm/webclip_wasm.js";
import { describe } from "./source.js";
import type { ImageInput } from "./types.js";

const KINDS = "a Blob, ArrayBuffer, Uint8Array (an encoded image file), ImageData or ImageBitmap";

export function isImageData(v: unknown): v is ImageData {
  return typeof ImageData !== "undefined" && v instanceof ImageData;
}

export function isImageBitmap(v: unknown): v is ImageBitmap {
  return typeof ImageBitmap !== "undefined" && v instanceof ImageBitmap;
}

function isArrayBuffer(v: unknown): v is ArrayBuffer {
  return v instanceof ArrayBuffer || Object.prototype.toString.call(v) === "[object ArrayBuffer]";
}

/** Throws a TypeError naming the first input that is not an image. */
export function checkImages(images: unknown): asserts images is readonly ImageInput[] {
  if (!Array.isArray(images)) {
    throw new TypeError(`images must be an array of ${KINDS}; got ${describe(images)}`);
  }
  images.forEach((img, i) => {
    if (
      !(typeof Blob !== "undefined" && img instanceof Blob) &&
      !isArrayBuffer(img) &&
      !(img instanceof Uint8Array) &&
      !isImageData(img) &&
      !isImageBitmap(img)
    ) {
      throw new TypeError(`images[${i}] must be ${KINDS}; got ${describe(img)}`);
    }
  });
}

/** Fills a fresh `Images`; the caller frees it. A bad file rejects with the core's message. */
export async function toWasmImages(inputs: readonly ImageInput[], ImagesCtor: new () => Images): Promise<Images> {
  checkImages(inputs);
  // Read every Blob first (async), then push synchronously: nothing can interleave with `images`.
  const prepared: Array<{ bytes: Uint8Array } | { rgba: Uint8Array; width: number; height: number }> = [];
  for (const img of inputs) {
    if (typeof Blob !== "undefined" && img instanceof Blob) {
      prepared.push({ bytes: new Uint8Array(await img.arrayBuffer()) });
    } else if (isArrayBuffer(img)) {
      prepared.push({ bytes: new Uint8Array(img) });
    } else if (img instanceof Uint8Array) {
      prepared.push({ bytes: img });
    } else if (isImageData(img)) {
      prepared.push({ rgba: new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength), width: img.width, height: img.height });
    } else {
      prepared.push(bitmapPixels(img as ImageBitmap));
    }
  }
  const images = new ImagesCtor();
  try {
    for (const p of prepared) {
      if ("bytes" in p) images.pushEncoded(p.bytes);
      else images.pushRgba(p.rgba, p.width, p.height);
    }
  } catch (e) {
    images.free();
    throw e;
  }
  return images;
}

/** An ImageBitmap's unpremultiplied RGBA pixels, through a 2D canvas. */
function bitmapPixels(bitmap: ImageBitmap): { rgba: Uint8Array; width: number; height: number } {
  const { width, height } = bitmap;
  if (width === 0 || height === 0) throw new TypeError("an ImageBitmap is empty (0 pixels, or it was closed or transferred)");
  let ctx: OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D | null;
  if (typeof OffscreenCanvas !== "undefined") {
    ctx = new OffscreenCanvas(width, height).getContext("2d", { willReadFrequently: true });
  } else {
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    ctx = canvas.getContext("2d", { willReadFrequently: true });
  }
  if (!ctx) throw new Error("could not read an ImageBitmap: no 2D canvas context available");
  ctx.drawImage(bitmap, 0, 0);
  const data = ctx.getImageData(0, 0, width, height).data;
  return { rgba: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height };
}
