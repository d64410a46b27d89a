// The npm package as a new consumer gets it: `npm pack` of pkg/, the tarball installed into a
// Vite app (tests/vite: Vite and TypeScript pinned by its lockfile, no Vite config, so no
// optimizeDeps.exclude), its strict TypeScript type-checked against the published types (no
// skipLibCheck, lib ES2022), built with `vite build` and served by `vite preview`; then in one
// Chromium launch the built app and Vite's dev server (the package pre-bundled into
// node_modules/.vite/deps) each classify a shapes drawing on the main thread and in the worker
// (CPU backend), with the native CLI's probabilities.
//
// Needs pkg/ built (./build.sh web), the native CLI (./build.sh) and tests/vite installed
// (`npm ci` there; ./build.sh test does it). Run: node --test vite.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { extname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { launch, open, ROOT } from "./harness.mjs";

const APP = join(ROOT, "tests/vite");
const CLI = join(process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache/webclip/target"), "release/webclip");
const MODEL = "www/models/shapes";
const IMAGE = "tests/fixtures/shapes_pil/purple_star_0.png";
const LABELS = ["purple star", "red star", "purple circle", "yellow triangle", "blue square"];
const TOL = 1e-3;

for (const f of ["pkg/dist/index.js", "pkg/dist/worker.js", "pkg/wasm/webclip_wasm_bg.wasm"]) {
  if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: build the package first (./build.sh web)`);
}
if (!existsSync(join(APP, "node_modules/vite"))) throw new Error(`tests/vite has no node_modules: run npm ci there (./build.sh test does)`);
if (!existsSync(CLI)) throw new Error(`the native CLI ${CLI} is missing: build it first (./build.sh)`);

function run(cmd, args, cwd) {
  try {
    return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}

/** The model and the image, served by both Vite servers (the app only has code). */
const FIXTURES = { "/fixtures/model/": join(ROOT, MODEL), "/fixtures/image/": join(ROOT, "tests/fixtures/shapes_pil") };
const TYPES = { ".json": "application/json", ".png": "image/png" };
const fixtures = {
  name: "webclip-test-fixtures",
  configureServer: (server) => void server.middlewares.use(serveFixtures),
  configurePreviewServer: (server) => void server.middlewares.use(serveFixtures),
};
function serveFixtures(req, res, next) {
  const path = new URL(req.url, "http://x").pathname;
  const prefix = Object.keys(FIXTURES).find((p) => path.startsWith(p));
  if (!prefix) return next();
  const file = join(FIXTURES[prefix], path.slice(prefix.length));
  if (path.includes("..") || !existsSync(file) || !statSync(file).isFile()) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream", "Content-Length": statSync(file).size });
  createReadStream(file).pipe(res);
}

/** Both threads' scores against the CLI's, label by label. */
function check(got, want, what) {
  for (const [where, answer] of Object.entries({ "main thread": got.main, worker: got.worker })) {
    assert.equal(answer.backend, "cpu", `${what}, ${where}: backend`);
    assert.equal(answer.inWorker, where === "worker", `${what}, ${where}: inWorker`);
    assert.deepEqual(answer.stages.filter((s) => s !== "download"), ["load", "ready"], `${what}, ${where}: progress`);
    assert.deepEqual(answer.scores.map((s) => s.label), want.map((s) => s.label), `${what}, ${where}: the CLI's order`);
    answer.scores.forEach((s, i) => assert.ok(Math.abs(s.prob - want[i].prob) <= TOL, `${what}, ${where}, ${s.label}: ${s.prob} vs CLI ${want[i].prob}`));
  }
  assert.equal(got.cacheName, "webclip-models-v1");
}

test("the packed package in a Vite app: types, vite build + preview and dev, main thread and worker", { timeout: 5 * 60_000 }, async () => {
  const t0 = performance.now();
  const lap = (what) => console.log(`${what}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const tmp = mkdtempSync(join(tmpdir(), "webclip-vite-"));
  const servers = [];
  let browser;
  try {
    // The tarball holds what a consumer needs and nothing else (no build stamps).
    const [packed] = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", tmp], join(ROOT, "pkg")));
    const files = packed.files.map((f) => f.path).sort();
    const allowed = /^(package\.json|README\.md|dist\/[a-z]+\.(js|d\.ts)|wasm\/webclip_wasm(\.js|\.d\.ts|_bg\.wasm))$/;
    assert.deepEqual(files.filter((f) => !allowed.test(f)), [], "unexpected files in the tarball");
    for (const f of ["dist/index.js", "dist/index.d.ts", "dist/worker.js", "wasm/webclip_wasm.js", "wasm/webclip_wasm.d.ts", "wasm/webclip_wasm_bg.wasm"]) {
      assert.ok(files.includes(f), `${f} is in the tarball`);
    }
    // A local tarball without dependencies: no network.
    run("npm", ["install", "--no-save", "--offline", "--no-audit", "--no-fund", "--loglevel=error", join(tmp, packed.filename)], APP);
    lap("packed and installed");

    run(join(APP, "node_modules/.bin/tsc"), ["-p", APP]);
    lap("tsc --noEmit (strict, no skipLibCheck, lib ES2022)");

    const vite = await import(pathToFileURL(join(APP, "node_modules/vite/dist/node/index.js")).href);
    const outDir = join(tmp, "dist");
    await vite.build({ root: APP, logLevel: "warn", build: { outDir, emptyOutDir: true } });
    // One worker script, bundled (a raw copy of dist/worker.js would still import "./model.js").
    const built = readdirSync(join(outDir, "assets"));
    assert.equal(built.filter((f) => f.startsWith("worker")).length, 1, `one worker script: ${built}`);
    for (const f of built.filter((f) => f.endsWith(".js"))) {
      assert.doesNotMatch(readFileSync(join(outDir, "assets", f), "utf8"), /from\s*["']\.\/model\.js["']/, `${f} is bundled`);
    }
    lap("vite build");

    const preview = await vite.preview({ root: APP, logLevel: "warn", build: { outDir }, preview: { host: "127.0.0.1" }, plugins: [fixtures] });
    servers.push(preview);
    // force: pre-bundle this tarball's code, not a cached bundle of an earlier one.
    const dev = await vite.createServer({ root: APP, logLevel: "warn", server: { host: "127.0.0.1" }, optimizeDeps: { force: true }, plugins: [fixtures] });
    servers.push(dev);
    await dev.listen();

    const want = JSON.parse(
      run(CLI, ["--device", "cpu", "classify", "--model", MODEL, ...LABELS.flatMap((l) => ["--label", l]), IMAGE, "--json", "--quiet"], ROOT),
    )[0].scores;
    const request = { model: "/fixtures/model/", image: `/fixtures/image/${IMAGE.split("/").at(-1)}`, labels: LABELS };

    browser = await launch({ webgpu: false });
    for (const [what, server] of [
      ["vite build + preview", preview],
      ["vite dev", dev],
    ]) {
      const page = await open(browser.context, server.resolvedUrls.local[0], "/");
      await page.waitForFunction(() => typeof window.classifyBoth === "function", null, { timeout: 60_000 });
      const got = await page.evaluate((r) => window.classifyBoth(r), request);
      check(got, want, what);
      console.log(`${what}: ${JSON.stringify(got.main.scores.slice(0, 2))} (CLI ${JSON.stringify(want.slice(0, 2))})`);
      await page.close();
      lap(what);
    }
    // The dev server ran the package pre-bundled (node_modules/.vite/deps), not from its files.
    assert.ok(existsSync(join(APP, "node_modules/.vite/deps/webclip.js")), "vite dev pre-bundled webclip");
  } finally {
    await browser?.close();
    for (const s of servers) await s.close();
    rmSync(tmp, { recursive: true, force: true });
  }
});
