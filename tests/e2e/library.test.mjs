// The Library view in real headless Chromium (CPU backend, two workers, the bundled shapes
// model): a generated folder of 500 shapes-world drawings, the fixture photos and their corrupt
// files is picked through the page's folder input and indexed; then
// - the corrupt files are listed (the same ones `webclip index` skips), the rest counted;
// - text search ranks as `webclip search` does on the same folder (scores within the f16
//   rounding of two builds' embeddings), and to 1e-4 once either side's index is handed to the
//   other: the page's export searched by the CLI, the CLI's index imported into the page — the
//   same rows, the same model hash, the same core search (only the query's embedding comes from
//   two builds);
// - a reload finds the index in OPFS and searches at once, embedding nothing;
// - a changed file is embedded again, a deleted one dropped, the others kept;
// - a page on another model asks before indexing over the saved library (declined: nothing is
//   opened or overwritten), and the IndexedDB store (the fallback) saves and restores as OPFS does;
// - after importing the CLI's index, picking the folder adopts the CLI's paths and re-embeds only
//   the changed file.
//
// Needs the package in www/vendor/webclip (./build.sh) and the native CLI (release).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join, relative } from "node:path";
import { launch, open, ROOT } from "./harness.mjs";

const TARGET = process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache/webclip/target");
const CLI = join(TARGET, "release/webclip");
const MODEL = join(ROOT, "www/models/shapes");
const PHOTOS = join(ROOT, "tests/fixtures/images");
const MINUTE = 60_000;
const QUERIES = ["red circle", "a purple star", "blue square on the left", "a photo of a cat"];
const TOP_K = 10;

if (!existsSync(CLI)) throw new Error(`the native CLI ${CLI} is missing: build it first (./build.sh)`);

let browser;
let work;
let col; // the collection: work/photos
const FOLDER = "photos";

function cli(args, { allowSkipped = false } = {}) {
  const r = spawnSync(CLI, ["--device", "cpu", "-q", ...args], { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0 && !(allowSkipped && r.status === 3)) throw new Error(`webclip ${args.join(" ")}: exit ${r.status}\n${r.stderr}`);
  return r.stdout;
}

/** `webclip search` → [{path, score}], paths as the index stores them. */
function cliSearchRaw(index, text, k = TOP_K) {
  const hits = JSON.parse(cli(["search", "--index", index, "--model", MODEL, "--text", text, "--top-k", String(k), "--json"]));
  return hits.map((h) => ({ path: h.image_path, score: h.score }));
}

/** `webclip search` of the CLI's own index (absolute paths) → paths relative to the work folder, as the page names them. */
function cliSearch(index, text, k = TOP_K) {
  return cliSearchRaw(index, text, k).map((h) => ({ path: relative(work, h.path), score: h.score }));
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "webclip-library-"));
  col = join(work, FOLDER);
  mkdirSync(col);
  cli(["shapes", "--out", join(col, "shapes"), "--count", "500", "--seed", "7"]);
  rmSync(join(col, "shapes", "captions.jsonl"), { force: true });
  mkdirSync(join(col, "fixtures"));
  for (const f of readdirSync(PHOTOS)) if (/\.(png|jpe?g|gif|webp)$/i.test(f)) copyFileSync(join(PHOTOS, f), join(col, "fixtures", f));
  writeFileSync(join(col, "fixtures", "notes.txt"), "not an image, and not an image extension: ignored by both");
  browser = await launch({ webgpu: false });
});

after(async () => {
  await browser?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Waits for the Library view's state to be one of `states`; returns the status hooks. */
async function libraryState(page, states, timeout = 10 * MINUTE) {
  await page.waitForFunction((s) => s.includes(document.getElementById("view-library")?.dataset.state), states, { timeout, polling: 250 });
  return page.evaluate(() => {
    const v = document.getElementById("view-library");
    const s = document.getElementById("lib-status");
    return { state: v.dataset.state, count: Number(s.dataset.count), embedded: Number(s.dataset.embedded), failed: Number(s.dataset.failed), storage: s.dataset.storage, workers: Number(s.dataset.workers), alerts: document.getElementById("alerts")?.textContent ?? "" };
  });
}

/** Types `text` into the search box; returns the hits shown for it. */
async function pageSearch(page, text) {
  await page.fill("#lib-search", text);
  await page.waitForFunction((q) => document.getElementById("lib-results").dataset.query === q, text, { timeout: MINUTE, polling: 100 });
  const hits = await page.evaluate(() => [...document.querySelectorAll("#lib-results .lib-hit")].map((h) => ({ path: h.dataset.path, score: Number(h.dataset.score) })));
  return hits.slice(0, TOP_K);
}

/** The page's hits agree with the CLI's top list: each within `tol` of the CLI's score for the same file, and no file the CLI ranks clearly higher missing. */
function assertAgrees(pageHits, cliHits, tol, what) {
  assert.equal(pageHits.length, TOP_K, what);
  const cliScore = new Map(cliHits.map((h) => [h.path, h.score]));
  for (const h of pageHits) {
    assert.ok(cliScore.has(h.path), `${what}: ${h.path} (page ${h.score}) is not in the CLI's top ${cliHits.length}`);
    assert.ok(Math.abs(cliScore.get(h.path) - h.score) <= tol, `${what}: ${h.path} page ${h.score} vs CLI ${cliScore.get(h.path)}`);
  }
  const last = pageHits.at(-1).score;
  for (const c of cliHits.slice(0, TOP_K)) {
    if (c.score > last + tol) assert.ok(pageHits.some((h) => h.path === c.path), `${what}: the CLI's ${c.path} (${c.score}) is missing from the page's results`);
  }
}

test("a folder indexed in the page: errors listed, search as `webclip search`, persisted, updated incrementally", { timeout: 30 * MINUTE }, async () => {
  // The native reference over the same folder.
  const cliIndex = join(work, "cli-index");
  cli(["index", "--model", MODEL, col, "--out", cliIndex, "--json"], { allowSkipped: true });
  const cliInfo = JSON.parse(readFileSync(join(cliIndex, "index.json"), "utf8"));
  const cliErrors = readFileSync(join(cliIndex, "errors.jsonl"), "utf8").trim().split("\n").map((l) => relative(work, JSON.parse(l).path)).sort();
  assert.ok(cliInfo.count >= 500, `the collection has ${cliInfo.count} images`);
  assert.ok(cliErrors.length >= 4, `corrupt fixtures: ${cliErrors}`);

  const page = await open(browser.context, browser.url, "www/index.html?view=library&backend=cpu&libworkers=2");
  await libraryState(page, ["ready", "error"], 5 * MINUTE);
  await page.setInputFiles("#lib-dir-input", col);
  await libraryState(page, ["indexing", "ready", "error"]);
  const done = await libraryState(page, ["ready", "error"], 20 * MINUTE);
  assert.equal(done.state, "ready", done.alerts);
  assert.equal(done.workers, 2);
  assert.equal(done.storage, "opfs");
  assert.equal(done.count, cliInfo.count, "every decodable image indexed");
  assert.equal(done.embedded, cliInfo.count);
  const listed = await page.evaluate(() => [...document.querySelectorAll("#lib-errors li[data-path]")].map((li) => li.dataset.path));
  assert.deepEqual(listed.sort(), cliErrors, "the same files skipped, each listed");

  // Search as you type, against the CLI on its own index (two builds' embeddings: f16 rounding apart).
  const pageResults = {};
  for (const q of QUERIES) {
    pageResults[q] = await pageSearch(page, q);
    assertAgrees(pageResults[q], cliSearch(cliIndex, q, 3 * TOP_K), 4e-3, `"${q}"`);
  }

  // Bit-exact both ways: the page's export searched by the CLI…
  const exported = await page.evaluate(async () => {
    const files = await window.webclipLibrary().exportIndex();
    return files.map((f) => ({ path: f.path, data: Array.from(f.data) }));
  });
  const pageIndex = join(work, "page-index");
  for (const f of exported) {
    mkdirSync(join(pageIndex, f.path, ".."), { recursive: true });
    writeFileSync(join(pageIndex, f.path), Buffer.from(f.data));
  }
  const pageInfo = JSON.parse(readFileSync(join(pageIndex, "index.json"), "utf8"));
  assert.equal(pageInfo.model_hash, cliInfo.model_hash, "the page computes the CLI's model hash");
  assert.equal(pageInfo.count, cliInfo.count);
  for (const q of QUERIES) assertAgrees(pageResults[q], cliSearchRaw(pageIndex, q, 3 * TOP_K), 1e-4, `"${q}": the CLI on the page's index`);

  // Reload: the index is in OPFS; searchable at once, nothing embedded.
  await page.reload();
  const back = await libraryState(page, ["ready", "error"], 5 * MINUTE);
  assert.equal(back.state, "ready", back.alerts);
  assert.equal(back.count, cliInfo.count, "restored from OPFS");
  const again = await pageSearch(page, QUERIES[0]);
  assert.deepEqual(again, pageResults[QUERIES[0]], "the same results after a reload");

  // A changed file is embedded again, a deleted one dropped.
  const shapes = readdirSync(join(col, "shapes")).filter((f) => f.endsWith(".png")).sort();
  const changed = join(col, "shapes", shapes[0]);
  const deleted = join(col, "shapes", shapes[1]);
  copyFileSync(join(PHOTOS, "chelsea.png"), changed);
  utimesSync(changed, new Date(), new Date(Date.now() + 5000));
  rmSync(deleted);
  await page.setInputFiles("#lib-dir-input", col);
  await libraryState(page, ["indexing", "ready"]);
  const upd = await libraryState(page, ["ready", "error"], 10 * MINUTE);
  assert.equal(upd.state, "ready", upd.alerts);
  assert.equal(upd.embedded, 1, "only the changed file is embedded");
  assert.equal(upd.count, cliInfo.count - 1, "the deleted file is dropped");
  const entries = await page.evaluate(() => window.webclipLibrary().entries().map((e) => e.path));
  assert.ok(!entries.includes(`${FOLDER}/shapes/${shapes[1]}`));
  // The changed file now holds chelsea.png's bytes: "more like this" on the fixture finds it, equal.
  const like = await page.evaluate((p) => window.webclipLibrary().search({ path: p }, { topK: 2 }), `${FOLDER}/fixtures/chelsea.png`);
  const twin = like.find((h) => h.path === `${FOLDER}/shapes/${shapes[0]}`);
  assert.ok(twin && twin.score > 0.9999, `the changed file is embedded from its new content: ${JSON.stringify(like)}`);

  // …and the CLI's index imported into the page ranks exactly as the CLI.
  const cliFiles = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else cliFiles.push({ path: relative(cliIndex, p), data: Array.from(readFileSync(p)) });
    }
  };
  walk(cliIndex);
  for (const q of QUERIES.slice(0, 2)) {
    const imported = await page.evaluate(
      async ({ files, q, k }) => {
        const lib = window.webclipLibrary();
        await lib.importIndex(files.map((f) => ({ path: f.path, data: new Uint8Array(f.data) })));
        return (await lib.search(q, { topK: k })).map((h) => ({ path: h.path, score: h.score }));
      },
      { files: cliFiles, q, k: TOP_K },
    );
    assertAgrees(imported, cliSearchRaw(cliIndex, q, 3 * TOP_K), 1e-4, `"${q}": the CLI's index imported into the page`);
  }
  // Importing another model's index is refused with a clear message.
  const refused = await page.evaluate(async () => {
    const lib = window.webclipLibrary();
    const info = new TextEncoder().encode(JSON.stringify({ model_id: "other", model_hash: "0000000000000000", embedding_dim: lib.embeddingDim, partitions: {} }));
    try {
      await lib.importIndex([{ path: "index.json", data: info }]);
      return null;
    } catch (e) {
      return e.message;
    }
  });
  assert.match(refused ?? "", /another model/);

  // The imported CLI index names files by the CLI's paths; picking the folder adopts them (by
  // path suffix and size), so only what changed since `webclip index` ran is embedded again.
  await page.setInputFiles("#lib-dir-input", col);
  await libraryState(page, ["indexing", "ready"]);
  const adopted = await libraryState(page, ["ready", "error"], 10 * MINUTE);
  assert.equal(adopted.state, "ready", adopted.alerts);
  assert.equal(adopted.embedded, 1, "only the file changed since the CLI indexed it");
  assert.equal(adopted.count, cliInfo.count - 1);
  const paths = await page.evaluate(() => window.webclipLibrary().entries().map((e) => e.path));
  assert.ok(paths.every((p) => p.startsWith(`${FOLDER}/`)), "every entry renamed to the folder's relative path");
});

test("another model asks before re-indexing; the IndexedDB store persists too", { timeout: 10 * MINUTE }, async () => {
  // The same browser profile holds the shapes model's library (the test above). A page on
  // another model (a fixture checkpoint) must ask before indexing over it; declined, the view
  // says whose index it is and offers to re-index.
  const other = new URL("tests/fixtures/models/tiny-legacy/", browser.url).href;
  const page = await browser.context.newPage();
  const asked = [];
  page.on("dialog", (d) => {
    asked.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.on("pageerror", (e) => console.error(`[page error] ${e.message}`));
  await page.goto(new URL(`www/index.html?view=library&backend=cpu&model=${encodeURIComponent(other)}`, browser.url).href);
  await page.waitForFunction(() => !document.getElementById("lib-blocked").hidden, null, { timeout: 5 * MINUTE, polling: 250 });
  assert.equal(asked.length, 1, `asked once: ${await page.textContent("#lib-blocked")} / ${await page.textContent("#lib-view-status")}`);
  assert.match(asked[0], /indexed with shapes/);
  assert.match(await page.textContent("#lib-blocked"), /another model/);
  assert.equal(await page.evaluate(() => window.webclipLibrary()), null, "nothing opened (so nothing overwritten)");

  // IndexedDB (the fallback where OPFS cannot be written): saved, reopened, the same search.
  const r = await page.evaluate(async (model) => {
    const pkg = await import("./vendor/webclip/dist/index.js");
    const files = await Promise.all(
      ["purple_star_0.png", "red_circle_0.png", "blue_square_0.png"].map(async (n) => ({
        path: `idb/${n}`,
        file: await (await fetch(`../tests/fixtures/shapes_pil/${n}`)).blob(),
        lastModified: 1,
      })),
    );
    const open = () => pkg.openLibrary(model, { storage: "indexeddb", name: "idb-test", workers: 1 });
    const a = await open();
    await a.update(files);
    const first = await a.search("red circle", { topK: 1 });
    a.dispose();
    const b = await open();
    const again = await b.search("red circle", { topK: 1 });
    const stored = (await pkg.storedLibraries()).filter((s) => s.name === "idb-test");
    const out = { storage: b.storage, size: b.size, first, again, stored };
    await b.clear();
    b.dispose();
    return out;
  }, new URL("www/models/shapes/", browser.url).href);
  assert.equal(r.storage, "indexeddb");
  assert.equal(r.size, 3, "restored from IndexedDB");
  assert.deepEqual(r.again, r.first);
  assert.equal(r.first[0].path, "idb/red_circle_0.png");
  assert.equal(r.stored.length, 1);
  await page.close();
});
