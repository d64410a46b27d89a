// Browser benchmark driver: webclip vs onnxruntime-web on the same weights in the same headless
// Chromium (Debian's, the flags of tests/e2e/harness.mjs). Each configuration gets a fresh
// browser and page; results go to a table on stdout and to $WEBCLIP_BENCH_DIR/browser-results.json
// (default ~/.cache/webclip/bench). Needs the outputs of tests/reference/export_onnx.py there and,
// for the webclip rows, the built package (pkg/dist, pkg/wasm).
//
//   node tests/bench/run.mjs [--only ort|webclip] [--models shapes,b32] [--webgpu] [--iters 30] [--min-iters 3] [--budget 10]
//                        [--wait-idle 300] [--weights f32,f16,q8] [--precision auto|f32|f16] [--load-only]
//   node tests/bench/run.mjs --gpu     # the browser half of `./build.sh bench-gpu`: WebGPU on the
//                                      # machine's hardware adapter (no SwiftShader), every model,
//                                      # webclip from f32, f16 and q8 files, and ORT's webgpu EP
//   node tests/bench/run.mjs --serve     # just serve, to run the page by hand
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir, cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { serve } from "../../www/serve.mjs";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const DATA = process.env.WEBCLIP_BENCH_DIR ?? join(homedir(), ".cache", "webclip", "bench");

const { values: args } = parseArgs({
  options: {
    only: { type: "string" }, // "ort" | "webclip"
    models: { type: "string", default: "shapes,b32" },
    webgpu: { type: "boolean", default: false }, // also WebGPU (SwiftShader here: slow), shapes only
    gpu: { type: "boolean", default: false }, // WebGPU on the hardware adapter, all models, no wasm rows
    weights: { type: "string" }, // webclip's file dtypes: f32 (default; --gpu: f32,f16,q8)
    precision: { type: "string", default: "auto" }, // webclip's compute precision
    "load-only": { type: "boolean", default: false }, // load + check only (load time by file dtype)
    iters: { type: "string", default: "30" },
    budget: { type: "string", default: "10" }, // seconds per measurement after the first minIters runs
    "min-iters": { type: "string", default: "3" },
    out: { type: "string", default: join(DATA, "browser-results.json") },
    serve: { type: "boolean", default: false }, // only serve (for running the page by hand)
    "wait-idle": { type: "string", default: "300" }, // seconds to wait for idle CPUs before each configuration
  },
});

const BASE_FLAGS = ["--headless=new", "--no-sandbox", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync"];
const WEBGPU_FLAGS = ["--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-webgpu-adapter=swiftshader"];
// A hardware adapter through Vulkan (headless Linux has no other): Chromium's GPU blocklist off,
// since a headless machine's GPU is often on it.
const GPU_FLAGS = ["--enable-unsafe-webgpu", "--enable-features=Vulkan,VulkanFromANGLE", "--use-angle=vulkan",
  "--ignore-gpu-blocklist", "--enable-gpu"];
const WEIGHTS = (args.weights ?? (args.gpu ? "f32,f16,q8" : "f32")).split(",");

if (!existsSync(join(DATA, "manifest.json"))) {
  console.error(`no ${DATA}/manifest.json: run ~/.cache/refenv/bin/python tests/reference/export_onnx.py first`);
  process.exit(2);
}
const havePkg = existsSync(join(ROOT, "pkg/dist/index.js")) && existsSync(join(ROOT, "pkg/wasm/webclip_wasm_bg.wasm"));

// The repository root, and the export directory under /bench-data/, from one origin (the page
// is cross-origin isolated, so everything it fetches must be same-origin or CORP-marked).
async function server() {
  const root = await serve(ROOT);
  const data = await serve(DATA);
  const [hRoot] = root.server.listeners("request");
  const [hData] = data.server.listeners("request");
  data.server.close();
  root.server.removeAllListeners("request");
  root.server.on("request", (req, res) => {
    if (req.url.startsWith("/bench-data/")) {
      req.url = req.url.slice("/bench-data".length);
      return hData(req, res);
    }
    return hRoot(req, res);
  });
  return root;
}

let current = null; // { context, dir } of the running configuration, for a clean stop on a signal
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, async () => {
    if (current) {
      await current.context.close().catch(() => {});
      rmSync(current.dir, { recursive: true, force: true });
    }
    process.exit(130);
  });
}

async function runOne(url, params, webgpu) {
  const flags = args.gpu ? GPU_FLAGS : webgpu ? WEBGPU_FLAGS : [];
  const dir = mkdtempSync(join(tmpdir(), "webclip-bench-"));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...BASE_FLAGS, ...flags],
    ignoreDefaultArgs: ["--headless"],
  });
  current = { context, dir };
  try {
    const page = await context.newPage();
    page.on("console", (m) => {
      const t = m.text();
      if (t.startsWith("[bench]") && !t.endsWith("ready")) console.error(`  ${t.slice(8)}`);
      else if (m.type() === "error" || m.type() === "warning") console.error(`  [page ${m.type()}] ${t}`);
    });
    page.on("pageerror", (e) => console.error(`  [page error] ${e.message}`));
    await page.goto(new URL("tests/bench/bench.html", url).href);
    await page.waitForFunction(() => typeof window.bench === "function");
    const t = Date.now();
    const r = await page.evaluate((p) => window.bench(p), params);
    r.wall_s = (Date.now() - t) / 1000;
    return r;
  } catch (e) {
    return { ...params, error: String(e.message ?? e).split("\n")[0] };
  } finally {
    current = null;
    await context.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

if (args.serve) {
  const { url } = await server();
  console.log(`serving: ${url}tests/bench/bench.html (Ctrl-C stops)`);
  await new Promise(() => {});
}

/** Share of all CPUs busy during one second (between configurations: other processes' load). */
async function othersBusy() {
  const read = () => {
    try {
      const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
      return { idle: f[3] + f[4], total: f.reduce((a, b) => a + b, 0) };
    } catch {
      return null;
    }
  };
  const a = read();
  await new Promise((ok) => setTimeout(ok, 1000));
  const b = read();
  return a && b && b.total > a.total ? 1 - (b.idle - a.idle) / (b.total - a.total) : 0;
}

const common = { iters: Number(args.iters), minIters: Number(args["min-iters"]), budgetS: Number(args.budget),
  precision: args.precision, loadOnly: args["load-only"] };

/** webclip's f16 / q8 copies of the exported HF folders (`webclip convert`), made once. */
function ensureWeights(model) {
  const cli = process.env.WEBCLIP_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache/webclip/target"),
    "release/webclip");
  for (const w of WEIGHTS.filter((w) => w !== "f32")) {
    const out = join(DATA, model, `hf-${w}`);
    if (existsSync(join(out, "model.safetensors"))) continue;
    console.error(`${model}: writing the ${w} copy (${cli} convert --dtype ${w})`);
    execFileSync(cli, ["--quiet", "--device", "cpu", "convert", "--model", join(DATA, model, "hf"), "--out", out, "--dtype", w],
      { stdio: "inherit" });
  }
}

const configs = [];
for (const model of args.models.split(",")) {
  if (WEIGHTS.some((w) => w !== "f32") && args.only !== "ort") ensureWeights(model);
  if (args.gpu) {
    if (args.only !== "ort") for (const weights of WEIGHTS) configs.push({ model, runtime: "webclip", backend: "webgpu", weights });
    if (args.only !== "webclip") configs.push({ model, runtime: "ort", backend: "webgpu" });
    continue;
  }
  if (args.only !== "ort") for (const weights of WEIGHTS) configs.push({ model, runtime: "webclip", backend: "cpu", threads: 0, weights });
  if (args.only !== "webclip") {
    configs.push({ model, runtime: "ort", backend: "wasm", threads: 1 });
    // Its default is min(4, cores/2) threads: 1 on a 2-core machine; so ask for all cores.
    if (cpus().length > 1) configs.push({ model, runtime: "ort", backend: "wasm", threads: cpus().length });
  }
  // SwiftShader is too slow for B/32's timed runs; a load-only run of it is affordable.
  if (args.webgpu && (model === "shapes" || args["load-only"])) {
    if (args.only !== "ort") {
      for (const weights of model === "shapes" ? ["f32"] : WEIGHTS) {
        configs.push({ model, runtime: "webclip", backend: "webgpu", threads: 0, weights });
      }
    }
    if (args.only !== "webclip") configs.push({ model, runtime: "ort", backend: "webgpu" });
  }
}

const { server: srv, url } = await server();
const results = [];
const t0 = Date.now();
for (const c of configs) {
  // Wait (up to --wait-idle seconds) for other processes to leave the CPUs alone.
  let busy = await othersBusy();
  for (let waited = 0; busy > 0.2 && waited < Number(args["wait-idle"]); waited += 6) {
    if (waited === 0) console.error(`  (waiting for other processes to leave the CPUs: ${(busy * 100).toFixed(0)}% busy)`);
    await new Promise((ok) => setTimeout(ok, 5000));
    busy = await othersBusy();
  }
  if (busy > 0.25) {
    console.error(`  (other processes use ${(busy * 100).toFixed(0)}% of the ${cpus().length} CPUs: the numbers will be low)`);
  }
  if (c.runtime === "webclip" && !havePkg) {
    console.error(`skip ${c.model} webclip ${c.backend}: no built package (pkg/dist/index.js, pkg/wasm/webclip_wasm_bg.wasm)`);
    continue;
  }
  console.error(`${c.model} ${c.runtime} ${c.backend}${c.threads ? ` ${c.threads} thread(s)` : ""}` +
    `${c.weights ? ` (${c.weights} file)` : ""}`);
  const r = await runOne(url, { ...common, ...c }, c.backend === "webgpu");
  r.cpu_busy_before = busy;
  if (r.error) console.error(`  ERROR: ${r.error}`);
  results.push(r);
  if (args.gpu && /no adapter|not available/i.test(r.error ?? "")) {
    console.error("--gpu: Chromium offers no hardware WebGPU adapter on this machine; stopping (see tests/bench/README.md)");
    break;
  }
}
srv.close();

// Table and ratios.
const cosine = (a, b) => {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
};
const name = (r) => r.runtime === "ort"
  ? `onnxruntime-web ${r.backend}${r.backend === "wasm" ? ` ${r.threads}t` : ""}`
  : `webclip ${r.backend} ${r.weights ?? "f32"} file${r.precision_used ? ` → ${r.precision_used}` : ""}`;
const f = (x, d = 2) => (x == null || Number.isNaN(x) ? "-" : x.toFixed(d));
const mib = (b) => (b ? `${(b / 2 ** 20).toFixed(0)} MiB` : "-");
const head = ["model", "runtime", "load s", "first b8 s", "img/s b1", "img/s b8", "img/s b32", "txt/s b32", "txt/s b32@77",
  "wasm mem", "check (min cos img/txt)"];
const lines = results.map((r) => [r.model, name(r), f(r.load_s), f(r.first_image_b8_s), f(r.image_b1?.per_s),
  f(r.image_b8?.per_s), f(r.image_b32?.per_s),
  f(r.text_b32?.per_s), f(r.text_b32_77?.per_s), mib(r.model_memory_bytes ?? r.wasm_memory_bytes),
  r.check ? `${f(r.check.images.min_cosine, 5)}/${f(r.check.texts.min_cosine, 5)}` : (r.error ?? "-")]);
const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => String(l[i]).length)));
const row = (l) => l.map((x, i) => String(x).padEnd(widths[i])).join("  ");
console.log(row(head));
for (const l of lines) console.log(row(l));

const ratios = [];
for (const model of new Set(results.map((r) => r.model))) {
  for (const backend of ["cpu", "webgpu"]) {
    const w = results.find((r) => r.model === model && r.runtime === "webclip" && r.backend === backend && !r.error &&
      (r.weights ?? "f32") === "f32");
    const o = results.find((r) => r.model === model && r.runtime === "ort" && !r.error &&
      (backend === "cpu" ? r.backend === "wasm" && r.threads === 1 : r.backend === "webgpu"));
    if (!w || !o) continue;
    const q = (k) => (w[k] && o[k] ? w[k].per_s / o[k].per_s : null);
    // The timed text batches were the same strings / ids in both: do the embeddings agree?
    const agree = (k) => Math.min(...w.embeddings[k].map((a, i) => cosine(a, o.embeddings[k][i])));
    ratios.push({ model, webclip: `webclip ${backend}`, vs: name(o), image_b1: q("image_b1"), image_b8: q("image_b8"),
      image_b32: q("image_b32"), text_b32: q("text_b32"), text_b32_77: q("text_b32_77"), load: w.load_s / o.load_s,
      timed_texts_min_cosine: { caption: agree("caption0"), long77: agree("long0") } });
  }
}
if (ratios.length) {
  console.log("\nwebclip / onnxruntime-web (throughput ratio; >1: webclip faster)");
  for (const r of ratios) {
    console.log(`  ${r.model}: ${r.webclip} vs ${r.vs}: img b1 ${f(r.image_b1)}x, img b8 ${f(r.image_b8)}x, img b32 ${f(r.image_b32)}x, ` +
      `txt b32 ${f(r.text_b32)}x, txt b32@77 ${f(r.text_b32_77)}x (load time ${f(r.load)}x); ` +
      `timed texts agree: min cos ${f(r.timed_texts_min_cosine.caption, 5)} / ${f(r.timed_texts_min_cosine.long77, 5)}`);
  }
}

const manifest = JSON.parse(readFileSync(join(DATA, "manifest.json"), "utf8"));
const chromiumVersion = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] })
  .then(async (b) => { const v = b.version(); await b.close(); return v; }).catch(() => null);
writeFileSync(args.out, JSON.stringify({
  date: new Date().toISOString(),
  chromium: chromiumVersion,
  onnxruntime_web: JSON.parse(readFileSync(new URL("node_modules/onnxruntime-web/package.json", import.meta.url))).version,
  cpus: cpus().length,
  cpu_model: cpus()[0]?.model,
  export_versions: manifest.versions,
  notes: "webclip times include decoding+preprocessing (images) and tokenising (texts); onnxruntime-web is fed "
    + "precomputed pixel tensors / token ids. Median of up to `iters` runs after warm-up. text_b32: 32 captions "
    + "padded to the longest (text_b32.tokens); text_b32_77: 32 texts truncated at 77 tokens.",
  wall_s: (Date.now() - t0) / 1000,
  results: results.map(({ embeddings, ...r }) => r),
  ratios,
}, null, 1) + "\n");
console.log(`\nwrote ${args.out} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
