// The benchmark page: one runtime on one model per page load (run.mjs starts a fresh browser for
// each, so memory figures and onnxruntime-web's global thread setting are per configuration).
//
//   await bench({ model: "shapes" | "b32", runtime: "webclip" | "ort",
//                 backend: "cpu" | "webgpu",   // webclip's backend, or onnxruntime-web's EP ("wasm" for cpu)
//                 threads: 1,                  // onnxruntime-web wasm threads (0: its default)
//                 weights: "f32" | "f16" | "q8", // webclip: which file (f16/q8: `webclip convert` copies)
//                 precision: "auto",           // webclip's compute precision
//                 loadOnly: false,             // stop after the load and the check vs PyTorch
//                 iters: 30, minIters: 3, budgetS: 10, data: "/bench-data" })
//
// Same weights and the same inputs for both runtimes: onnxruntime-web runs the ONNX export of the
// checkpoint webclip loads, on the pixel tensors / token ids that transformers' processor and
// tokenizer make of the images / texts webclip gets as encoded files / strings (so webclip's
// times include its decoding, resizing, normalising and tokenising; onnxruntime-web's do not).
// Before timing, both runtimes' embeddings of all inputs are compared with PyTorch's. webclip
// caches text embeddings by string, so each timed text batch is new strings of the same token
// length (see textsFor); ORT gets their ids padded to the batch's longest, as webclip pads.

// Every wasm memory the page creates (emscripten's imported shared memory, wasm-bindgen's
// exported one), recorded before either runtime is imported: linear memory only grows, so its
// size at the end is the peak.
const wasmMemories = new Set();
{
  const Memory = WebAssembly.Memory;
  WebAssembly.Memory = new Proxy(Memory, {
    construct(target, args, newTarget) {
      const m = Reflect.construct(target, args, newTarget);
      wasmMemories.add(m);
      return m;
    },
  });
  const note = (r) => {
    const inst = r instanceof WebAssembly.Instance ? r : r?.instance;
    for (const v of Object.values(inst?.exports ?? {})) if (v instanceof Memory) wasmMemories.add(v);
    return r;
  };
  for (const k of ["instantiate", "instantiateStreaming"]) {
    const f = WebAssembly[k];
    WebAssembly[k] = function (...a) {
      return f.apply(this, a).then(note);
    };
  }
}
const wasmBytes = () => [...wasmMemories].reduce((s, m) => s + m.buffer.byteLength, 0);

const now = () => performance.now();
const log = (...a) => {
  const line = `[bench] ${a.join(" ")}`;
  console.log(line);
  document.getElementById("log").textContent += line + "\n";
};

async function bytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

function rows(flat, n) {
  const d = flat.length / n;
  return Array.from({ length: n }, (_, i) => flat.subarray(i * d, (i + 1) * d));
}

const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
const cos = (a, b) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));

/** Min cosine to the reference row by row, and the same after removing each set's mean row
 * (random-init models map all inputs to nearly one direction; the centred figure still checks
 * the part that differs between inputs). */
function compare(got, ref) {
  const mean = (xs) => xs[0].map((_, j) => xs.reduce((s, x) => s + x[j], 0) / xs.length);
  const mg = mean(got), mr = mean(ref);
  let min = 1, minCentred = 1, maxAbs = 0;
  for (let i = 0; i < ref.length; i++) {
    min = Math.min(min, cos(got[i], ref[i]));
    minCentred = Math.min(minCentred, cos(got[i].map((x, j) => x - mg[j]), ref[i].map((x, j) => x - mr[j])));
    for (let j = 0; j < ref[i].length; j++) maxAbs = Math.max(maxAbs, Math.abs(got[i][j] - ref[i][j]));
  }
  return { min_cosine: min, min_centred_cosine: minCentred, max_abs_diff: maxAbs, ok: min >= 0.999 };
}

/** Median seconds of `fn` after `warm` unmeasured calls: up to `iters` runs, stopping early once
 * `minIters` are done and `budgetS` has passed. */
async function time(fn, { warm, iters, minIters, budgetS }) {
  let call = 0; // fn(call): every call (warm-up or not) gets its own index
  let first;
  for (let i = 0; i < warm; i++) {
    const out = await fn(call++);
    first ??= out;
  }
  const ts = [];
  const start = now();
  while (ts.length < iters && (ts.length < minIters || (now() - start) / 1000 < budgetS)) {
    const t = now();
    const out = await fn(call++);
    ts.push((now() - t) / 1000);
    first ??= out;
  }
  const s = [...ts].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { median_s: median, runs: ts.length, all_s: ts, first };
}

async function ortRunner(m, p) {
  const dist = "/tests/bench/node_modules/onnxruntime-web/dist/";
  const ep = p.backend === "webgpu" ? "webgpu" : "wasm";
  const ort = await import(dist + (ep === "webgpu" ? "ort.webgpu.min.mjs" : "ort.wasm.min.mjs"));
  ort.env.wasm.wasmPaths = dist;
  ort.env.logLevel = "error"; // not the webgpu EP's "some nodes run on the CPU" (shape ops) warnings
  if (p.threads) ort.env.wasm.numThreads = p.threads;
  const i64 = (f) => bytes(`${p.data}/${f}`).then((b) => new BigInt64Array(b.buffer));
  const [pixels, ids, runs, long] = await Promise.all([
    bytes(`${p.data}/${m.pixels}`).then((b) => new Float32Array(b.buffer)),
    i64(m.input_ids), i64(m.runs_ids), i64(m.long_ids),
  ]);
  const [, c, h, w] = m.pixels_shape;
  const per = c * h * w;
  const [nt, ctx] = m.input_ids_shape;
  // Batches of token ids padded to their longest text (what webclip runs, and transformers with
  // padding=True), from rows padded to the context length.
  const trim = (flat, len) => {
    const out = new BigInt64Array(nt * len);
    for (let i = 0; i < nt; i++) out.set(flat.subarray(i * ctx, i * ctx + len), i * len);
    return new ort.Tensor("int64", out, [nt, len]);
  };
  const textBatches = {
    base: () => trim(ids, m.input_len),
    caption: (k) => trim(runs.subarray(k * nt * ctx, (k + 1) * nt * ctx), m.runs_len),
    long: () => trim(long, ctx),
  };
  const t0 = now();
  const [vb, tb] = await Promise.all([bytes(`${p.data}/${m.vision_onnx}`), bytes(`${p.data}/${m.text_onnx}`)]);
  const opts = { executionProviders: [ep], graphOptimizationLevel: "all", logSeverityLevel: 3 };
  const vision = await ort.InferenceSession.create(vb, opts);
  const text = await ort.InferenceSession.create(tb, opts);
  const load = (now() - t0) / 1000;
  const run = async (sess, tensor, k) => {
    const out = await sess.run({ [sess.inputNames[0]]: tensor });
    const data = out[sess.outputNames[0]].data;
    return rows(data, k);
  };
  return {
    label: `onnxruntime-web ${ort.env.versions?.web ?? ""} ${ep}` +
      (ep === "wasm" ? ` (${ort.env.wasm.numThreads ?? "default"} threads)` : ""),
    load,
    threads: ort.env.wasm.numThreads,
    // images(start, k): k of the 8 prepared images from `start`; texts(kind, k): all 32 texts,
    // as they are ("base"), or variant k of the captions / of the 77-token texts (see textsFor).
    images: (start, k) => run(vision, new ort.Tensor("float32", pixels.subarray(start * per, (start + k) * per), [k, c, h, w]), k),
    // The 8 images 4 times over: batch 32.
    images32: () => {
      const x = new Float32Array(32 * per);
      for (let i = 0; i < 4; i++) x.set(pixels.subarray(0, 8 * per), i * 8 * per);
      return run(vision, new ort.Tensor("float32", x, [32, c, h, w]), 32);
    },
    texts: (kind, k) => run(text, textBatches[kind](k), nt),
    memory: async () => ({}),
  };
}

/** The strings of text batch `kind`: webclip caches text embeddings by string, so each timed run
 * embeds new ones, of the same token length every run (export_onnx.py checks that). */
function textsFor(m, kind, k) {
  if (kind === "base") return m.texts;
  if (k >= m.suffixes.length) throw new Error(`more timed text runs than variants (${m.suffixes.length})`);
  return m.texts.map((t) => (kind === "caption" ? `${t} ${m.suffixes[k]}` : `${t} ${m.filler} ${m.suffixes[k]}`));
}

async function webclipRunner(m, p) {
  const { loadModel } = await import("/pkg/dist/index.js");
  const files = await Promise.all(m.images.map(bytes));
  const url = m.hf_url.replace("{data}", p.data).replace(/\/hf\/$/, p.weights && p.weights !== "f32" ? `/hf-${p.weights}/` : "/hf/");
  const t0 = now();
  const model = await loadModel(url, { backend: p.backend, precision: p.precision ?? "auto" });
  const load = (now() - t0) / 1000;
  return {
    label: `webclip ${model.backend ?? p.backend}`,
    load,
    info: { backend: model.backend, adapter: model.adapter, deviceNote: model.deviceNote, precision: model.precision },
    images: (start, k) => model.embedImages(files.slice(start, start + k)),
    images32: () => model.embedImages([...files, ...files, ...files, ...files]),
    texts: (kind, k) => model.embedTexts(textsFor(m, kind, k)),
    memory: async () => ({ model_memory_bytes: await model.memoryBytes() }),
  };
}

window.bench = async function bench(params) {
  const p = { iters: 30, minIters: 3, budgetS: 10, threads: 1, data: "/bench-data", backend: "cpu", ...params };
  const manifest = await (await fetch(`${p.data}/manifest.json`)).json();
  const m = manifest.models[p.model];
  if (!m) throw new Error(`no model ${p.model} in ${p.data}/manifest.json`);
  const [refImg, refTxt] = await Promise.all([m.ref_images, m.ref_texts].map(async (f) =>
    rows(new Float32Array((await bytes(`${p.data}/${f}`)).buffer), f === m.ref_images ? 8 : 32)));

  const r = await (p.runtime === "ort" ? ortRunner(m, p) : webclipRunner(m, p));
  log(`${p.model} ${r.label}: loaded in ${r.load.toFixed(2)} s`);

  // Correctness on all inputs (also the warm-up of batch 8 and batch 32).
  const t8 = now();
  const gotImg = await r.images(0, 8);
  const first8 = (now() - t8) / 1000;
  const t32 = now();
  const gotTxt = await r.texts("base");
  const first32 = (now() - t32) / 1000;
  const check = { images: compare(gotImg, refImg), texts: compare(gotTxt, refTxt) };
  log(`check vs PyTorch: images min cos ${check.images.min_cosine.toFixed(6)} (centred ${check.images.min_centred_cosine.toFixed(4)}),` +
    ` texts ${check.texts.min_cosine.toFixed(6)} (centred ${check.texts.min_centred_cosine.toFixed(4)})`);
  if (!check.images.ok || !check.texts.ok) {
    return { ...p, runtime_label: r.label, load_s: r.load, check, error: "embeddings differ from PyTorch's (cosine < 0.999)" };
  }

  if (p.loadOnly) {
    return { ...p, runtime_label: r.label, info: r.info, load_s: r.load, first_image_b8_s: first8,
      first_text_b32_s: first32, check, precision_used: r.info?.precision, wasm_memory_bytes: wasmBytes(),
      ...(await r.memory()) };
  }
  const o = { iters: p.iters, minIters: p.minIters, budgetS: p.budgetS };
  // The first timed text batches' embeddings go back to run.mjs, which compares the runtimes.
  const emb = (x) => { const { first, ...rest } = x; return [rest, first.map((r) => Array.from(r))]; };
  const [b1] = emb(await time((i) => r.images(i % 8, 1), { ...o, warm: 1 }));
  log(`image b1: ${(1 / b1.median_s).toFixed(2)}/s (${b1.runs} runs)`);
  const [b8] = emb(await time(() => r.images(0, 8), { ...o, warm: 0 }));
  log(`image b8: ${(8 / b8.median_s).toFixed(2)}/s (${b8.runs} runs)`);
  // Batch 32 only where a GPU runs it (on one CPU thread it is batch 8 four times over).
  const [b32] = p.backend === "webgpu" ? emb(await time(() => r.images32(), { ...o, warm: 1 })) : [null];
  if (b32) log(`image b32: ${(32 / b32.median_s).toFixed(2)}/s (${b32.runs} runs)`);
  const to = { ...o, warm: 1, iters: Math.min(o.iters, m.suffixes.length - 1) }; // a new variant per call
  const [t, captionEmb] = emb(await time((k) => r.texts("caption", k), to));
  log(`text b32 (captions, ${m.runs_len} tokens): ${(32 / t.median_s).toFixed(2)}/s (${t.runs} runs)`);
  const [t77, longEmb] = emb(await time((k) => r.texts("long", k), to));
  log(`text b32 (${m.context_length} tokens): ${(32 / t77.median_s).toFixed(2)}/s (${t77.runs} runs)`);

  return {
    ...p,
    runtime_label: r.label,
    info: r.info,
    load_s: r.load,
    first_image_b8_s: first8,
    first_text_b32_s: first32,
    check,
    image_b1: { ...b1, per_s: 1 / b1.median_s },
    image_b8: { ...b8, per_s: 8 / b8.median_s },
    image_b32: b32 ? { ...b32, per_s: 32 / b32.median_s } : null,
    precision_used: r.info?.precision,
    text_b32: { ...t, tokens: m.runs_len, per_s: 32 / t.median_s },
    text_b32_77: { ...t77, tokens: m.context_length, per_s: 32 / t77.median_s },
    wasm_memory_bytes: wasmBytes(),
    ...(await r.memory()),
    cross_origin_isolated: self.crossOriginIsolated,
    embeddings: { caption0: captionEmb, long0: longEmb },
    hardware_concurrency: navigator.hardwareConcurrency,
  };
};
log("ready");
