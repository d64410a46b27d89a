// The web app (www/) in real headless Chromium: the bundled shapes model on WebGPU (SwiftShader)
// and on the CPU fallback, images added through the file input, a real drop event and a bad file;
// every probability shown must equal the native CLI's for the same inputs (±1e-3), and the text
// search must rank the images as `webclip rank` does.
//
// Needs the package built into www/vendor/webclip/ (./build.sh) and the native CLI
// ($CARGO_TARGET_DIR or ~/.cache/webclip/target, release). Run: node --test page.test.mjs
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { basename, join } from "node:path";
import { launch, open, ROOT } from "./harness.mjs";

const TARGET = process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache/webclip/target");
const CLI = join(TARGET, "release/webclip");
const MODEL = "www/models/shapes";
const SHAPES = "tests/fixtures/shapes_pil";
const PHOTOS = "tests/fixtures/images";
const LABELS = ["red circle", "purple star", "blue square", "green triangle"];
const IMAGES = [`${SHAPES}/purple_star_0.png`, `${SHAPES}/red_circle_0.png`, `${SHAPES}/blue_square_0.png`, `${PHOTOS}/chelsea.png`];
const DROPPED = `${SHAPES}/green_triangle_0.png`;
const TOL = 1e-3;
const MINUTE = 60_000;

for (const f of ["www/vendor/webclip/dist/index.js", "www/vendor/webclip/wasm/webclip_wasm_bg.wasm"]) {
  if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: build the package first (./build.sh)`);
}
if (!existsSync(CLI)) throw new Error(`the native CLI ${CLI} is missing: build it first (./build.sh)`);

// ---- the native reference -----------------------------------------------------------------------

function cli(args) {
  const out = execFileSync(CLI, ["--device", "cpu", ...args, "--json", "--quiet"], { cwd: ROOT, encoding: "utf8" });
  return JSON.parse(out);
}

/** `webclip classify` → { basename: [{label, prob}] } */
function cliClassify(images, labels, templates = "default") {
  const res = cli(["classify", "--model", MODEL, "--templates", templates, ...labels.flatMap((l) => ["--label", l]), ...images]);
  return Object.fromEntries(res.map((r) => [basename(r.image), r.scores]));
}

/** `webclip rank` → [{name, score}] best first */
function cliRank(text, images) {
  return cli(["rank", "--model", MODEL, "--text", text, ...images]).map((r) => ({ name: basename(r.image), score: r.score }));
}

// ---- the page -----------------------------------------------------------------------------------

/** Waits until the model is loaded (or failed) and returns the app's state. */
async function waitModel(page, timeout) {
  await page.waitForFunction(() => ["ready", "error"].includes(document.getElementById("app").dataset.state), null, {
    timeout,
    polling: 200,
  });
  return page.evaluate(() => ({
    state: document.getElementById("app").dataset.state,
    backend: document.getElementById("backend-badge").dataset.backend,
    precision: document.getElementById("backend-badge").dataset.precision,
    badge: document.getElementById("backend-badge").textContent,
    note: document.getElementById("device-note").hidden ? null : document.getElementById("device-note").textContent,
    alerts: document.getElementById("alerts").textContent,
  }));
}

/** Waits until every image has a result or an error and the app is idle. */
async function settle(page, timeout) {
  await page.waitForFunction(
    () => {
      const app = document.getElementById("app");
      if (app.dataset.state === "error") return true;
      if (app.dataset.state !== "ready") return false;
      return [...document.querySelectorAll("#cards li.card")].every((c) => c.dataset.status !== "pending");
    },
    null,
    { timeout, polling: 250 },
  );
  assert.equal(await page.getAttribute("#app", "data-state"), "ready", await alerts(page));
}

/** What the page shows: { name: { status, rows: [{label, prob, top}], error } }. */
function shown(page) {
  return page.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll("#cards li.card")].map((c) => [
        c.dataset.name,
        {
          status: c.dataset.status,
          error: c.querySelector(".card-error")?.textContent ?? null,
          rows: [...c.querySelectorAll("[data-label]")].map((r) => ({
            label: r.dataset.label,
            prob: Number(r.dataset.prob),
            top: r.classList.contains("top"),
            pct: r.querySelector(".score-pct")?.textContent,
          })),
        },
      ]),
    ),
  );
}

const alerts = (page) => page.evaluate(() => document.getElementById("alerts").textContent);

/** Every text node and title / placeholder / aria-label under <body>, in document order, less
 * the timings (they change on every run). */
function pageWords(page) {
  return page.evaluate(() => {
    const out = [];
    const tw = document.createTreeWalker(document.body, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
    for (let n = tw.nextNode(); n; n = tw.nextNode()) {
      const el = n.nodeType === Node.TEXT_NODE ? n.parentElement : n;
      if (el.closest("#timings, .card-meta")) continue;
      if (n.nodeType === Node.TEXT_NODE) out.push(n.data);
      else for (const a of ["title", "placeholder", "aria-label"]) if (n.hasAttribute(a)) out.push(`${a}=${n.getAttribute(a)}`);
    }
    return out;
  });
}

/** A few of the page's words, as shown now. */
function someWords(page) {
  return page.evaluate(() => {
    const text = (id) => document.getElementById(id).textContent;
    return {
      lang: document.documentElement.lang,
      stored: localStorage.getItem("webclip-lang"),
      tabs: [...document.querySelectorAll("#tabs [role=tab]")].map((t) => t.textContent),
      headings: ["model-h", "classes-h", "ft-data-h", "learn-h"].map(text),
      loadBtn: text("load-btn"),
      labelsInfo: text("labels-info"),
      status: text("status"),
      placeholder: document.getElementById("search-input").placeholder,
      dropzone: document.getElementById("dropzone").getAttribute("aria-label"),
      remove: document.querySelector("#cards li.card button.remove")?.getAttribute("aria-label"),
      cardName: document.querySelector("#cards li.card .card-name")?.textContent,
      scoreLabels: [...document.querySelectorAll("#cards li.card .score-label")].map((s) => s.textContent).sort(),
    };
  });
}

async function setLabels(page, labels) {
  await page.fill("#labels", labels.join("\n"));
}

/** Largest |page − CLI| probability seen so far (logged). */
let maxDiff = 0;

/** Every image in `expected` is shown with the CLI's probabilities, in the CLI's order. */
function assertMatches(got, expected, names = Object.keys(expected)) {
  for (const name of names) {
    const card = got[name];
    assert.ok(card, `no card for ${name}; cards: ${Object.keys(got)}`);
    assert.equal(card.status, "ok", `${name}: ${card.error}`);
    const want = expected[name];
    assert.equal(card.rows.length, want.length, `${name}: ${card.rows.length} rows, CLI has ${want.length}`);
    const byLabel = new Map(card.rows.map((r) => [r.label, r.prob]));
    for (const w of want) {
      assert.ok(byLabel.has(w.label), `${name}: no row for ${w.label}`);
      const p = byLabel.get(w.label);
      assert.ok(Math.abs(p - w.prob) <= TOL, `${name} / ${w.label}: page ${p}, CLI ${w.prob}`);
      maxDiff = Math.max(maxDiff, Math.abs(p - w.prob));
    }
    // sorted, top-1 highlighted (and the same top-1 as the CLI unless it is a near tie)
    for (let i = 1; i < card.rows.length; i++) assert.ok(card.rows[i - 1].prob >= card.rows[i].prob, `${name}: rows not sorted`);
    assert.ok(card.rows[0].top && card.rows.slice(1).every((r) => !r.top), `${name}: top-1 not highlighted`);
    if (want.length > 1 && want[0].prob - want[1].prob > 2 * TOL) assert.equal(card.rows[0].label, want[0].label, name);
  }
}

/** Dispatches a real drag & drop of a fixture onto the drop zone (DataTransfer with a File). */
async function dropFile(page, path) {
  await page.evaluate(async (path) => {
    const bytes = await (await fetch(`/${path}`)).arrayBuffer();
    const file = new File([bytes], path.split("/").pop(), { type: "image/png" });
    const dt = new DataTransfer();
    dt.items.add(file);
    const zone = document.getElementById("dropzone");
    for (const type of ["dragenter", "dragover", "drop"]) {
      zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
    }
  }, path);
  await page.waitForFunction((name) => document.querySelector(`#cards li.card[data-name="${name}"]`), basename(path), {
    timeout: 10_000,
  });
}

async function timings(page) {
  return page.evaluate(() => ({
    firstRunMs: Number(document.getElementById("app").dataset.firstRunMs),
    load: document.getElementById("t-load").textContent,
    first: document.getElementById("t-first").textContent,
    perImage: document.getElementById("t-image").textContent,
    perLabelSet: document.getElementById("t-labels").textContent,
  }));
}

async function search(page, query) {
  await page.fill("#search-input", query);
  await page.waitForFunction(
    (q) => document.getElementById("search-results").dataset.query === q && document.getElementById("app").dataset.state === "ready",
    query,
    { timeout: 10 * MINUTE, polling: 250 },
  );
  return page.evaluate(() =>
    [...document.querySelectorAll("#search-results [data-name]")].map((li) => ({ name: li.dataset.name, score: Number(li.dataset.score) })),
  );
}

function assertRanking(got, want) {
  assert.deepEqual(
    got.map((r) => r.name),
    want.map((r) => r.name),
    `page order ${JSON.stringify(got)}, CLI order ${JSON.stringify(want)}`,
  );
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i].score - want[i].score) <= TOL, `${want[i].name}: ${got[i].score} vs ${want[i].score}`);
}

const expected = cliClassify([...IMAGES, DROPPED], LABELS);

// ---- WebGPU (SwiftShader) -------------------------------------------------------------------------

describe("page on WebGPU (SwiftShader)", { timeout: 25 * MINUTE }, () => {
  let env;
  let page;
  before(async () => {
    env = await launch({ webgpu: true });
    page = await open(env.context, env.url, "www/index.html?backend=webgpu");
  });
  after(() => env?.close());

  test("loads the shapes model on webgpu and shows the CLI's probabilities for files and a drop", { timeout: 20 * MINUTE }, async () => {
    const t0 = Date.now();
    const m = await waitModel(page, 3 * MINUTE);
    assert.equal(m.state, "ready", m.alerts);
    assert.equal(m.backend, "webgpu", m.badge);
    assert.match(m.badge, /WebGPU/);
    // Precision auto: SwiftShader has no shader-f16, so f32 (the numbers below are f32 parity).
    assert.equal(m.precision, "f32", m.badge);
    assert.match(m.badge, /f32/);
    console.log(`webgpu: model ready after ${((Date.now() - t0) / 1000).toFixed(1)} s, badge "${m.badge}"`);
    // the shapes classes are prefilled
    const prefilled = (await page.inputValue("#labels")).split("\n");
    assert.equal(prefilled.length, 24);
    assert.ok(prefilled.includes("purple star"));

    await setLabels(page, LABELS);
    const t1 = Date.now();
    await page.setInputFiles("#file-input", IMAGES.map((p) => join(ROOT, p)));
    await settle(page, 15 * MINUTE);
    const t = await timings(page);
    console.log(`webgpu: ${IMAGES.length} images classified in ${((Date.now() - t1) / 1000).toFixed(1)} s; timings ${JSON.stringify(t)}`);
    assert.ok(t.firstRunMs > 0, "data-first-run-ms is set");
    assertMatches(await shown(page), expected, IMAGES.map((p) => basename(p)));
    assert.equal(await alerts(page), "");

    // a real drag & drop (DataTransfer carrying a File)
    await dropFile(page, DROPPED);
    await settle(page, 10 * MINUTE);
    assertMatches(await shown(page), expected);

    // text → image search on the GPU too
    const query = "a purple star";
    const t2 = Date.now();
    assertRanking(await search(page, query), cliRank(query, [...IMAGES, DROPPED]));
    console.log(`webgpu: search ranked 5 images in ${((Date.now() - t2) / 1000).toFixed(1)} s`);
    console.log(`webgpu: largest |page − CLI| probability difference ${maxDiff.toExponential(2)}`);
    maxDiff = 0;
  });
});

// ---- CPU fallback (no WebGPU adapter) -------------------------------------------------------------

describe("page on the CPU fallback", { timeout: 20 * MINUTE }, () => {
  let env;
  before(async () => {
    env = await launch({ webgpu: false });
  });
  after(() => env?.close());

  test("auto falls back to the CPU and shows the CLI's probabilities; search ranks as the CLI", { timeout: 10 * MINUTE }, async () => {
    const page = await open(env.context, env.url, "www/index.html?backend=auto");
    const t0 = Date.now();
    const m = await waitModel(page, 3 * MINUTE);
    assert.equal(m.state, "ready", m.alerts);
    assert.equal(m.backend, "cpu", m.badge);
    assert.match(m.badge, /CPU/);
    assert.equal(m.precision, "f32", m.badge);
    console.log(`cpu: model ready after ${((Date.now() - t0) / 1000).toFixed(1)} s, badge "${m.badge}", note ${JSON.stringify(m.note)}`);

    await setLabels(page, LABELS);
    await page.setInputFiles("#file-input", IMAGES.map((p) => join(ROOT, p)));
    await settle(page, 5 * MINUTE);
    const t = await timings(page);
    console.log(`cpu: timings ${JSON.stringify(t)}`);
    assertMatches(await shown(page), expected, IMAGES.map((p) => basename(p)));

    // text → image search
    const query = "a purple star";
    assertRanking(await search(page, query), cliRank(query, IMAGES));

    // a template ensemble reclassifies (and still matches the CLI)
    await page.selectOption("#templates", "stl10");
    await settle(page, 5 * MINUTE);
    assertMatches(await shown(page), cliClassify(IMAGES, LABELS, "stl10"));
    console.log(`cpu: largest |page − CLI| probability difference ${maxDiff.toExponential(2)}`);
    await page.close();
  });

  test("a model folder from disk loads; a failing model URL leaves the page working", { timeout: 10 * MINUTE }, async () => {
    const page = await open(env.context, env.url, "www/index.html?backend=cpu");
    assert.equal((await waitModel(page, 3 * MINUTE)).state, "ready");
    await setLabels(page, LABELS);
    await page.setInputFiles("#file-input", [join(ROOT, IMAGES[0])]);
    await settle(page, 5 * MINUTE);

    // a URL that does not hold a model: an error, and the shapes model stays in use
    await page.check('input[name="source"][value="hub"]');
    await page.fill("#hub-url", new URL("www/models/missing/", env.url).href);
    await page.click("#load-btn");
    await page.waitForFunction(() => /Could not load/.test(document.getElementById("alerts").textContent), null, { timeout: MINUTE });
    await settle(page, MINUTE);
    assert.match(await alerts(page), /config\.json|404|not found/i);
    assertMatches(await shown(page), expected, [basename(IMAGES[0])]);

    // the same model as files from disk (the "folder" source)
    const files = ["config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json"].map((f) => join(ROOT, MODEL, f));
    await page.setInputFiles("#model-files", files);
    await page.waitForFunction(() => document.getElementById("app").dataset.state === "loading", null, { timeout: 10_000 }).catch(() => {});
    assert.equal((await waitModel(page, 3 * MINUTE)).state, "ready");
    assert.ok(await page.isChecked('input[name="source"][value="folder"]'));
    assert.equal(await page.inputValue("#labels"), LABELS.join("\n"), "the user's labels are kept");
    await page.setInputFiles("#file-input", [join(ROOT, IMAGES[1])]);
    await settle(page, 5 * MINUTE);
    assertMatches(await shown(page), expected, IMAGES.slice(0, 2).map((p) => basename(p)));
    await page.close();
  });

  test("a bad file fails alone, names itself, and the page keeps working", { timeout: 10 * MINUTE }, async () => {
    const page = await open(env.context, env.url, "www/index.html?backend=cpu");
    const m = await waitModel(page, 3 * MINUTE);
    assert.equal(m.state, "ready", m.alerts);
    assert.equal(m.backend, "cpu");
    await setLabels(page, LABELS);

    const bad = `${PHOTOS}/not_an_image.jpg`;
    const good = `${SHAPES}/red_circle_0.png`;
    await page.setInputFiles("#file-input", [bad, good].map((p) => join(ROOT, p)));
    await settle(page, 5 * MINUTE);
    const got = await shown(page);
    assert.equal(got["not_an_image.jpg"].status, "error");
    assert.match(got["not_an_image.jpg"].error, /not_an_image\.jpg/);
    assert.match(got["not_an_image.jpg"].error, /not a recognised image/i);
    const alert = await alerts(page);
    assert.match(alert, /not_an_image\.jpg/);
    assert.equal(await page.getAttribute("#alerts", "role"), "alert");
    assertMatches(got, expected, ["red_circle_0.png"]);

    // still works: another image gets its probabilities, the bad one can be removed
    await page.setInputFiles("#file-input", [join(ROOT, `${SHAPES}/purple_star_0.png`)]);
    await settle(page, 5 * MINUTE);
    assertMatches(await shown(page), expected, ["red_circle_0.png", "purple_star_0.png"]);
    await page.click('#cards li.card[data-name="not_an_image.jpg"] button.remove');
    assert.equal(await page.locator('#cards li.card[data-name="not_an_image.jpg"]').count(), 0);
    assert.doesNotMatch(await alerts(page), /not_an_image\.jpg/);

    // keyboard: the drop zone is a button that opens the file picker
    const chooser = page.waitForEvent("filechooser", { timeout: 10_000 });
    await page.focus("#dropzone");
    await page.keyboard.press("Enter");
    const fc = await chooser;
    await fc.setFiles([join(ROOT, `${SHAPES}/blue_square_0.png`)]);
    await settle(page, 5 * MINUTE);
    assertMatches(await shown(page), expected, ["red_circle_0.png", "purple_star_0.png", "blue_square_0.png"]);
    await page.close();
  });

  // Last in this browser: it leaves the page (and the stored choice) in English.
  test("the page in Korean and back: #lang translates the page's words, never the user's", { timeout: 10 * MINUTE }, async () => {
    // templates=default: the words under test do not depend on the template set
    const page = await open(env.context, env.url, "www/index.html?backend=cpu&templates=default");
    assert.equal((await waitModel(page, 3 * MINUTE)).state, "ready");
    await setLabels(page, LABELS);
    await page.setInputFiles("#file-input", [join(ROOT, IMAGES[1])]);
    await settle(page, 5 * MINUTE);
    // the hub picker: a preset fills the folder URL and states its download sizes; a typed URL
    // is "Other" and has none (driven through the elements' events: choosing the hub source
    // itself would change the status line under test, and choosing shapes again reloads it)
    const hub = (repo) => `https://huggingface.co/${repo}/resolve/main/`;
    const picker = (preset, url) => page.evaluate(([preset, url]) => {
      const sel = document.getElementById("hub-preset");
      const input = document.getElementById("hub-url");
      if (preset !== null) {
        sel.value = preset;
        sel.dispatchEvent(new Event("change"));
      }
      if (url !== null) {
        input.value = url;
        input.dispatchEvent(new Event("input"));
      }
      return { preset: sel.value, url: input.value, size: document.getElementById("hub-size").textContent };
    }, [preset, url]);
    assert.equal((await picker(null, null)).preset, hub("openai/clip-vit-base-patch32"));
    assert.deepEqual(await picker(hub("google/siglip2-base-patch16-224"), null), {
      preset: hub("google/siglip2-base-patch16-224"),
      url: hub("google/siglip2-base-patch16-224"),
      size: "Download: 1.5 GB (f32). As f16 750 MB, as q8 ≈ 385 MB: " +
        "webclip convert --dtype q8 writes them, to load from disk or your own URL. Text: multilingual.",
    });
    assert.deepEqual(await picker(null, "https://example.org/my-clip/"), { preset: "", url: "https://example.org/my-clip/", size: "" });
    assert.equal((await picker(hub("openai/clip-vit-base-patch32"), null)).url, hub("openai/clip-vit-base-patch32"));
    const english = await pageWords(page);
    const en = await someWords(page);
    assert.equal(en.lang, "en");
    assert.deepEqual(en.tabs, ["Classify", "Fine-tune", "Learn", "Library"]);
    assert.equal(en.loadBtn, "Load model");
    assert.equal(en.labelsInfo, "4 classes.");
    assert.equal(en.status, "Classified 1 image with the shapes-world model.");

    await page.selectOption("#lang", "ko");
    const ko = await someWords(page);
    assert.equal(ko.lang, "ko");
    assert.equal(ko.stored, "ko");
    assert.equal(await page.title(), "webclip — 브라우저 속 CLIP");
    assert.deepEqual(ko.tabs, ["분류", "파인튜닝", "학습 과정", "라이브러리"]);
    assert.deepEqual(ko.headings, ["모델", "클래스", "학습 데이터", "작은 CLIP이 처음부터 배우는 과정 보기"]);
    assert.equal(ko.loadBtn, "모델 불러오기");
    assert.equal(ko.labelsInfo, "클래스 4개.");
    assert.equal(ko.status, "도형 세계 모델로 이미지 1개를 분류했습니다.");
    assert.equal(ko.placeholder, "예: a purple star");
    assert.match(await page.textContent("#hub-size"), /^다운로드: 605 MB \(f32\)\. f16로는 303 MB, q8로는 155 MB: .+ 텍스트: 영어\.$/);
    assert.match(ko.dropzone, /^이미지 추가: /);
    assert.equal(ko.remove, "red_circle_0.png 삭제");
    // the user's words stay as they are: file names, labels, the textarea
    assert.equal(ko.cardName, "red_circle_0.png");
    assert.deepEqual(ko.scoreLabels, [...LABELS].sort());
    assert.equal(await page.inputValue("#labels"), LABELS.join("\n"));

    // what the page writes later is translated as it appears
    await setLabels(page, LABELS.slice(0, 3));
    await page.waitForFunction(() => document.getElementById("labels-info").textContent === "클래스 3개.", null, { timeout: 10_000 });
    await settle(page, 5 * MINUTE);
    assert.equal(await page.textContent("#status"), "도형 세계 모델로 이미지 1개를 분류했습니다.");
    assert.deepEqual((await someWords(page)).scoreLabels, LABELS.slice(0, 3).sort());
    await setLabels(page, LABELS);
    await page.waitForFunction(() => document.getElementById("labels-info").textContent === "클래스 4개.", null, { timeout: 10_000 });
    await settle(page, 5 * MINUTE);

    // back to English: every word exactly as it was
    await page.selectOption("#lang", "en");
    const back = await someWords(page);
    assert.equal(back.lang, "en");
    assert.equal(back.stored, "en");
    assert.deepEqual(back.tabs, en.tabs);
    assert.equal(back.loadBtn, "Load model");
    assert.equal(back.labelsInfo, "4 classes.");
    assert.equal(await page.title(), "webclip — CLIP in your browser");
    assert.deepEqual(await pageWords(page), english);

    // the choice is remembered across a reload; English again before leaving
    await page.selectOption("#lang", "ko");
    await page.reload();
    assert.equal((await waitModel(page, 3 * MINUTE)).state, "ready");
    const reloaded = await someWords(page);
    assert.equal(reloaded.lang, "ko");
    assert.equal(await page.inputValue("#lang"), "ko");
    assert.deepEqual(reloaded.tabs, ["분류", "파인튜닝", "학습 과정", "라이브러리"]);
    assert.match(reloaded.status, /^준비됨: 도형 세계 모델 · CPU \(f32\)\.$/);
    await page.selectOption("#lang", "en");
    assert.deepEqual((await someWords(page)).tabs, en.tabs);
    assert.equal(await page.evaluate(() => localStorage.getItem("webclip-lang")), "en");

    // nothing stored: a Korean browser gets Korean (and nothing is stored until the user picks)
    await page.evaluate(() => localStorage.removeItem("webclip-lang"));
    const korean = await env.context.newPage();
    await korean.addInitScript(() => Object.defineProperty(Navigator.prototype, "language", { get: () => "ko-KR" }));
    await korean.goto(new URL("www/index.html?backend=cpu", env.url).href);
    await korean.waitForFunction(() => document.documentElement.lang === "ko", null, { timeout: 10_000 });
    assert.equal(await korean.textContent("#tab-classify"), "분류");
    assert.equal(await korean.evaluate(() => localStorage.getItem("webclip-lang")), null);
    await korean.close();
    await page.close();
  });
});
