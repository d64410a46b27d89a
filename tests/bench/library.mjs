// Library benchmark in headless Chromium (CPU backend, the package's own `openLibrary`): images/s
// of `library.update()` with 1 and with 2 embedding workers, memory per worker, and search over
// ≥ 10,000 rows (by an indexed row: the search alone; by text: plus the text tower's forward).
//
//   node tests/bench/library.mjs [--model DIR] [--photos DIR] [--count 96] [--workers 1,2] [--rows 10000]
//
// --model: an HF folder (default: the bundled shapes model); --photos: a folder of images
// (default: the fixture photos that decode, cycled to --count). Each configuration runs in a
// fresh browser: one warm-up batch per worker, then the timed update of --count files.
// Results: a table on stdout and JSON on the last line.
import { chromium } from "playwright-core";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { serve } from "../../www/serve.mjs";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const { values: args } = parseArgs({
  options: {
    model: { type: "string", default: join(ROOT, "www/models/shapes") },
    photos: { type: "string", default: join(ROOT, "tests/fixtures/images") },
    count: { type: "string", default: "96" },
    workers: { type: "string", default: "1,2" },
    rows: { type: "string", default: "10000" },
  },
});
const BAD = /^(bomb_|empty|not_an_image|truncated)/;

// One origin: the repository at /, the model at /m/, the photos at /p/.
async function server() {
  const root = await serve(ROOT);
  const mounts = [
    ["/m/", await serve(resolve(args.model))],
    ["/p/", await serve(resolve(args.photos))],
  ];
  const [hRoot] = root.server.listeners("request");
  const handlers = mounts.map(([prefix, s]) => {
    const [h] = s.server.listeners("request");
    s.server.close();
    return [prefix, h];
  });
  root.server.removeAllListeners("request");
  root.server.on("request", (req, res) => {
    for (const [prefix, h] of handlers) {
      if (req.url.startsWith(prefix)) {
        req.url = req.url.slice(prefix.length - 1);
        return h(req, res);
      }
    }
    return hRoot(req, res);
  });
  return root;
}

const photos = readdirSync(args.photos)
  .filter((f) => /\.(png|jpe?g|webp|gif)$/i.test(f) && !BAD.test(f) && statSync(join(args.photos, f)).isFile())
  .sort();
const count = Number(args.count);
const files = Array.from({ length: count }, (_, i) => photos[i % photos.length]);

async function run(url, workers) {
  const dir = mkdtempSync(join(tmpdir(), "webclip-libbench-"));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless=new", "--no-sandbox", "--no-first-run", "--disable-webgpu"],
    ignoreDefaultArgs: ["--headless"],
  });
  try {
    const page = await context.newPage();
    page.on("pageerror", (e) => console.error(`[page error] ${e.message}`));
    await page.goto(new URL("tests/bench/library.html", url).href);
    await page.waitForFunction(() => typeof window.benchLibrary === "function");
    return await page.evaluate((p) => window.benchLibrary(p), { model: new URL("m/", url).href, files: files.map((f) => new URL(`p/${f}`, url).href), workers, rows: Number(args.rows) });
  } finally {
    await context.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

const srv = await server();
const results = [];
try {
  for (const w of args.workers.split(",").map(Number)) {
    const r = await run(srv.url, w);
    results.push(r);
    console.log(
      `workers ${w}: ${r.imagesPerSecond.toFixed(2)} images/s (${r.images} in ${r.seconds.toFixed(1)} s), wasm memory per worker ${r.memoryMB.map((m) => m.toFixed(0)).join(" / ")} MB; ` +
        `search ${r.searchRows} rows: by row median ${r.searchRowMs.toFixed(1)} ms, by text median ${r.searchTextMs.toFixed(1)} ms`,
    );
  }
} finally {
  srv.server.close();
}
const one = results.find((r) => r.workers === 1);
const two = results.find((r) => r.workers === 2);
if (one && two) console.log(`2 workers / 1 worker: ${(two.imagesPerSecond / one.imagesPerSecond).toFixed(2)}×`);
console.log(JSON.stringify({ cpu: cpus()[0]?.model, cores: cpus().length, model: args.model, results }));
