// The training API of the npm package (pkg/, built) in headless Chromium, driven through
// tests/e2e/consumer/train.html: WebGPU (SwiftShader) against the CPU backend step by step,
// against the native CLI (`webclip finetune`, `webclip embed`) on the same pairs, the worker
// variant, saveState/restore, errors, random initialisation and the shapes world.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, launch, open } from "./harness.mjs";

const PAGE = "tests/e2e/consumer/train.html";
const TIMEOUT = 10 * 60 * 1000;

const PHOTOS = {
  photos: ["chelsea.png", "coffee.png", "astronaut.png", "horse.png"],
  texts: ["a photo of a cat.", "a cup of coffee.", "an astronaut in a white space suit.", "a brown horse in a field."],
};
// The CLI's finetune with --train all --lr 1e-3 --steps 3 --warmup 0 --weight-decay 0.2 (its
// --grad-clip default is 1): a cosine from 1e-3 to 0 at step 3.
const PARITY = { train: "all", lr: 1e-3, warmup: 0, weightDecay: 0.2, gradClip: 1, steps: 3 };

const CLI = join(process.env.CARGO_TARGET_DIR ?? join(homedir(), ".cache/webclip/target"), "release/webclip");

/** The F32 tensors of a safetensors file: name → Float32Array. */
function safetensors(bytes) {
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8"));
  const out = new Map();
  for (const [name, t] of Object.entries(header)) {
    if (name === "__metadata__" || t.dtype !== "F32") continue;
    const [a, b] = t.data_offsets;
    const data = bytes.subarray(8 + n + a, 8 + n + b);
    const copy = new Uint8Array(data); // aligned
    out.set(name, new Float32Array(copy.buffer, 0, copy.byteLength / 4));
  }
  return out;
}

function maxAbsDiff(a, b) {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const rel = (a, b) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

function cosineMatrix(as, bs) {
  const unit = (v) => {
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  };
  const ua = as.map(unit);
  const ub = bs.map(unit);
  return ua.map((a) => ub.map((b) => a.reduce((s, x, k) => s + x * b[k], 0)));
}

const diagonal = (m) => m.map((row, i) => row[i]);
const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;

function assertLossMoves(results, what) {
  for (let i = 1; i < results.length; i++) {
    const [a, b] = [results[i - 1].loss, results[i].loss];
    assert.ok(Math.abs(a - b) > 1e-6 * Math.abs(a), `${what}: the loss changes at step ${i + 1} (${a} → ${b})`);
  }
}

/** Writes an export (files with base64 weights) as an HF folder. */
function writeFolder(dir, f) {
  writeFileSync(join(dir, "config.json"), f.config);
  writeFileSync(join(dir, "model.safetensors"), Buffer.from(f.weights, "base64"));
  writeFileSync(join(dir, "tokenizer.json"), f.tokenizer);
  writeFileSync(join(dir, "preprocessor_config.json"), f.preprocessor);
}

describe("training API (npm package)", { timeout: 4 * TIMEOUT }, () => {
  let browser;
  let page;
  const tmp = mkdtempSync(join(tmpdir(), "webclip-train-"));

  /** Runs one page operation; rejects with its error. */
  async function call(method, args = {}) {
    const r = await page.evaluate(([m, a]) => window.T.call(m, a), [method, args]);
    if (r.error) throw new Error(`${method}: ${r.error.name}: ${r.error.message}`);
    return r.value;
  }

  /** Runs one page operation that must fail; answers its error {name, message, isError}. */
  async function fails(method, args = {}) {
    const r = await page.evaluate(([m, a]) => window.T.call(m, a), [method, args]);
    assert.ok(r.error, `${method} ${JSON.stringify(args)} should reject, got ${JSON.stringify(r.value)?.slice(0, 200)}`);
    assert.ok(r.error.isError, `${method}: rejects with an Error`);
    assert.doesNotMatch(r.error.message, /unreachable|internal error/i);
    return r.error;
  }

  before(async () => {
    browser = await launch({ webgpu: true });
    page = await open(browser.context, browser.url, PAGE);
    await page.waitForFunction(() => window.trainPageReady === true, null, { timeout: 60_000 });
  });
  after(async () => {
    await browser?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  test("WebGPU and CPU agree step by step (train all, 3 steps)", { timeout: TIMEOUT }, async () => {
    const runs = {};
    for (const backend of ["webgpu", "cpu"]) {
      const loaded = await call("load", { name: backend, source: "tiny", backend });
      assert.equal(loaded.backend, backend);
      await call("trainer", { name: `t-${backend}`, model: backend, options: PARITY });
      const results = await call("steps", { trainer: `t-${backend}`, batch: PHOTOS, n: 3 });
      const files = await call("export", { trainer: `t-${backend}`, name: `e-${backend}`, bytes: true });
      runs[backend] = { results, weights: safetensors(Buffer.from(files.weights, "base64")) };
      await call("disposeModel", { model: backend });
      console.log(`${backend}: losses ${results.map((r) => r.loss.toFixed(6)).join(", ")}; s/step ${results.map((r) => r.seconds.toFixed(2)).join(", ")}`);
    }
    const { webgpu: g, cpu: c } = runs;
    for (const run of [g, c]) {
      assert.deepEqual(run.results.map((r) => r.step), [1, 2, 3], "step counts from 1");
      assert.deepEqual(run.results.map((r) => r.steps), [1, 2, 3], "trainer.steps follows");
      run.results.forEach((r, i) => assert.ok(rel(r.lr, [1e-3, 7.5e-4, 2.5e-4][i]) < 1e-9, `cosine lr at step ${i + 1}: ${r.lr}`));
    }
    assertLossMoves(g.results, "webgpu");
    assertLossMoves(c.results, "cpu");
    g.results.forEach((r, i) => {
      assert.ok(rel(r.loss, c.results[i].loss) <= 1e-3, `step ${i + 1}: webgpu loss ${r.loss} vs cpu ${c.results[i].loss}`);
      assert.ok(Math.abs(r.logitScale - c.results[i].logitScale) <= 1e-4, `step ${i + 1}: logitScale`);
    });

    const start = safetensors(readFileSync(join(ROOT, "tests/fixtures/models/tiny-legacy/model.safetensors")));
    assert.deepEqual([...g.weights.keys()].sort(), [...c.weights.keys()].sort());
    let worst = 0;
    for (const [name, w] of c.weights) worst = Math.max(worst, maxAbsDiff(g.weights.get(name), w));
    assert.ok(worst <= 1e-3, `exported weights: max |webgpu − cpu| ${worst}`);
    for (const name of ["visual_projection.weight", "text_projection.weight", "vision_model.encoder.layers.0.mlp.fc1.weight", "logit_scale"]) {
      assert.ok(start.has(name), name);
      assert.ok(maxAbsDiff(c.weights.get(name), start.get(name)) > 1e-4, `${name} was trained`);
    }
    console.log(`exported weights: max |webgpu − cpu| ${worst.toExponential(2)}`);
  });

  test("worker, CPU: fine-tuning on photos; export = CLI embed; losses = CLI finetune", { timeout: TIMEOUT }, async () => {
    assert.ok(existsSync(CLI), `the native CLI is built at ${CLI}`);
    const loaded = await call("load", { name: "w", source: "tiny", backend: "cpu", worker: true });
    assert.equal(loaded.inWorker, true);

    // Fine-tuning: the loss falls, the matching pairs get closer.
    await call("trainer", { name: "wt", model: "w", options: { train: "all", lr: 1e-3, warmup: 0 } });
    const before = await call("evaluate", { trainer: "wt", batch: PHOTOS });
    const results = await call("steps", { trainer: "wt", batch: PHOTOS, n: 8 });
    const afterEval = await call("evaluate", { trainer: "wt", batch: PHOTOS });
    console.log(`worker cpu: losses ${results.map((r) => r.loss.toFixed(4)).join(", ")}; s/step ${results.map((r) => r.seconds.toFixed(2)).join(", ")}`);
    assert.deepEqual(results.map((r) => r.steps), [1, 2, 3, 4, 5, 6, 7, 8], "the worker trainer's steps mirror");
    assert.ok(results.at(-1).loss < results[0].loss, "the loss falls");
    assertLossMoves(results, "worker cpu");
    assert.equal(afterEval.similarity.length, 4);
    afterEval.similarity.forEach((row) => assert.equal(row.length, 4));
    assert.ok(afterEval.loss < results[0].loss, `evaluate's loss after training ${afterEval.loss} < the first ${results[0].loss}`);
    assert.ok(Math.abs(before.loss - results[0].loss) <= 1e-5 * before.loss, "evaluate before = the first step's loss");
    const [d0, d1] = [diagonal(before.similarity), diagonal(afterEval.similarity)];
    console.log(`diagonal similarity ${d0.map((x) => x.toFixed(3))} → ${d1.map((x) => x.toFixed(3))}`);
    assert.ok(mean(d1) > mean(d0), "the matching pairs' similarity rises");

    // The export, loaded in the page, is the trainer's model.
    const files = await call("export", { trainer: "wt", name: "wexp", bytes: true });
    assert.equal(files.isUint8Array, true);
    await call("load", { name: "reloaded", source: { exported: "wexp" }, backend: "cpu" });
    const emb = await call("embed", { model: "reloaded", batch: PHOTOS });
    const sim = cosineMatrix(emb.images, emb.texts);
    let worst = 0;
    sim.forEach((row, i) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - afterEval.similarity[i][j])))));
    assert.ok(worst <= 1e-4, `loaded export vs trainer similarity: max |Δ| ${worst}`);

    // … and the native CLI reads the same folder and embeds the same.
    const dir = join(tmp, "exported");
    mkdirSync(dir, { recursive: true });
    writeFolder(dir, files);
    const cli = JSON.parse(
      execFileSync(CLI, ["--device", "cpu", "embed", "--model", dir, "--image", join(ROOT, "tests/fixtures/images/chelsea.png"), "--json", "--quiet"], { encoding: "utf8" }),
    );
    const d = maxAbsDiff(emb.images[0], cli.image_embeds[0]);
    assert.ok(d <= 1e-4, `page vs CLI embedding of the exported model: max |Δ| ${d}`);
    console.log(`export: ${(files.size / 1e6).toFixed(1)} MB; trainer vs loaded similarity max |Δ| ${worst.toExponential(2)}; page vs CLI embed max |Δ| ${d.toExponential(2)}`);

    // … and HF transformers reads it the same: tests/fixtures/expected/page_export.json holds
    // CLIPModel.from_pretrained's embeddings of this (deterministic) export, written by
    // tests/reference/check_export.py from the folder WEBCLIP_KEEP_EXPORT keeps.
    if (process.env.WEBCLIP_KEEP_EXPORT) writeFolder(process.env.WEBCLIP_KEEP_EXPORT, files);
    const hf = JSON.parse(readFileSync(join(ROOT, "tests/fixtures/expected/page_export.json"), "utf8"));
    assert.deepEqual(hf.photos, PHOTOS.photos);
    assert.deepEqual(hf.texts, PHOTOS.texts);
    let hfWorst = 0;
    emb.images.forEach((row, i) => (hfWorst = Math.max(hfWorst, maxAbsDiff(row, hf.image_embeds[i]))));
    emb.texts.forEach((row, i) => (hfWorst = Math.max(hfWorst, maxAbsDiff(row, hf.text_embeds[i]))));
    console.log(`page embeddings of its export vs HF transformers on the same folder: max |Δ| ${hfWorst.toExponential(2)}`);
    assert.ok(hfWorst <= 1e-4, `page vs HF embeddings of the exported folder: max |Δ| ${hfWorst}`);

    // WiSE-FT exports: α = 0 is the start, α = 1 the current weights, α = ½ halfway; f16 halves the size.
    const start = safetensors(readFileSync(join(ROOT, "tests/fixtures/models/tiny-legacy/model.safetensors")));
    const current = safetensors(Buffer.from(files.weights, "base64"));
    const mixes = {};
    for (const alpha of [0, 0.5, 1]) {
      mixes[alpha] = safetensors(Buffer.from((await call("export", { trainer: "wt", name: `wise${alpha}`, options: { wiseFt: alpha }, bytes: true })).weights, "base64"));
    }
    let [w0, w1, wHalf] = [0, 0, 0];
    for (const [name, cur] of current) {
      const st = start.get(name);
      w0 = Math.max(w0, maxAbsDiff(mixes[0].get(name), st));
      w1 = Math.max(w1, maxAbsDiff(mixes[1].get(name), cur));
      wHalf = Math.max(wHalf, maxAbsDiff(mixes[0.5].get(name), cur.map((x, k) => 0.5 * st[k] + 0.5 * x)));
    }
    assert.ok(w0 <= 1e-7 && w1 <= 1e-7 && wHalf <= 1e-6, `WiSE-FT mixes: α=0 ${w0}, α=1 ${w1}, α=½ ${wHalf}`);
    const half = await call("export", { trainer: "wt", name: "wf16", options: { dtype: "f16" } });
    assert.ok(half.size < 0.55 * files.size, `f16 export ${half.size} bytes vs f32 ${files.size}`);
    await call("load", { name: "f16", source: { exported: "wf16" }, backend: "cpu" });
    const emb16 = await call("embed", { model: "f16", batch: PHOTOS });
    const d16 = maxAbsDiff(emb16.images[0], emb.images[0]);
    assert.ok(d16 <= 2e-2, `f16 export embeds like f32: max |Δ| ${d16}`);
    await call("disposeModel", { model: "f16" });

    // Native parity of training: the same pairs, settings and schedule through `webclip finetune`.
    await call("trainer", { name: "wp", model: "w", options: PARITY });
    const page3 = await call("steps", { trainer: "wp", batch: PHOTOS, n: 3 });
    const jsonl = join(tmp, "pairs.jsonl");
    writeFileSync(jsonl, PHOTOS.photos.map((p, i) => JSON.stringify({ image: join(ROOT, "tests/fixtures/images", p), text: PHOTOS.texts[i] })).join("\n") + "\n");
    const out = execFileSync(
      CLI,
      ["--device", "cpu", "--quiet", "finetune", "--model", join(ROOT, "tests/fixtures/models/tiny-legacy"), "--data", jsonl, "--out", join(tmp, "cli-out"),
        "--train", "all", "--lr", "1e-3", "--steps", "3", "--batch-size", "4", "--no-shuffle", "--warmup", "0", "--weight-decay", "0.2", "--grad-clip", "1", "--json"],
      { encoding: "utf8" },
    );
    const native = out.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(native.length, 3);
    native.forEach((n, i) => {
      assert.ok(rel(page3[i].loss, n.loss) <= 1e-4, `step ${i + 1}: page loss ${page3[i].loss} vs CLI ${n.loss}`);
      assert.ok(rel(page3[i].lr, n.lr) <= 1e-9, `step ${i + 1}: lr`);
      assert.ok(Math.abs(page3[i].logitScale - n.logit_scale) <= 1e-5, `step ${i + 1}: logitScale`);
    });
    console.log(`page (worker, cpu) vs CLI losses: ${page3.map((r, i) => `${r.loss.toFixed(6)}/${native[i].loss.toFixed(6)}`).join(", ")}`);
    await call("disposeModel", { model: "w" });
    await call("disposeModel", { model: "reloaded" });
  });

  test("saveState + export, then loadModel(export) + restore continues exactly", { timeout: TIMEOUT }, async () => {
    await call("load", { name: "m0", source: "tiny", backend: "cpu" });
    await call("trainer", { name: "full", model: "m0", options: PARITY });
    const full = await call("steps", { trainer: "full", batch: PHOTOS, n: 3 });

    // Interrupted after 2 steps, in a worker: export + optimiser state, then everything disposed.
    await call("load", { name: "m1", source: "tiny", backend: "cpu", worker: true });
    await call("trainer", { name: "part", model: "m1", options: PARITY });
    const part = await call("steps", { trainer: "part", batch: PHOTOS, n: 2 });
    part.forEach((r, i) => assert.equal(r.loss, full[i].loss, `step ${i + 1} is the same run`));
    await call("export", { trainer: "part", name: "pexp" });
    const saved = await call("saveState", { trainer: "part", name: "pstate" });
    assert.equal(saved.isUint8Array, true);
    assert.ok(saved.size > 0);
    await call("disposeTrainer", { trainer: "part" });
    assert.match((await fails("steps", { trainer: "part", batch: PHOTOS })).message, /trainer disposed/);
    await call("disposeModel", { model: "m1" });

    // Resumed on the main thread from the exported files.
    await call("load", { name: "m2", source: { exported: "pexp" }, backend: "cpu" });
    await call("trainer", { name: "resumed", model: "m2", options: PARITY });
    assert.deepEqual(await call("restore", { trainer: "resumed", name: "pstate" }), { steps: 2 });
    const [third] = await call("steps", { trainer: "resumed", batch: PHOTOS, n: 1 });
    assert.equal(third.step, 3);
    assert.ok(rel(third.loss, full[2].loss) <= 1e-5, `resumed step 3 loss ${third.loss} vs uninterrupted ${full[2].loss}`);
    assert.ok(rel(third.lr, full[2].lr) <= 1e-12, "the schedule continues");
    assert.ok(Math.abs(third.logitScale - full[2].logitScale) <= 1e-6, "logitScale after step 3");

    // Restoring into a worker trainer reports the step count too; reset goes back to 0.
    await call("load", { name: "m3", source: { exported: "pexp" }, backend: "cpu", worker: true });
    await call("trainer", { name: "resumed2", model: "m3", options: PARITY });
    assert.deepEqual(await call("restore", { trainer: "resumed2", name: "pstate" }), { steps: 2 });
    const [third2] = await call("steps", { trainer: "resumed2", batch: PHOTOS, n: 1 });
    assert.ok(rel(third2.loss, full[2].loss) <= 1e-5, `worker: resumed step 3 loss ${third2.loss} vs ${full[2].loss}`);
    // reset: back to the trainer's start (the export after 2 steps) with a fresh optimiser.
    assert.deepEqual(await call("reset", { trainer: "resumed2" }), { steps: 0 });
    const [afterReset] = await call("steps", { trainer: "resumed2", batch: PHOTOS, n: 1 });
    assert.equal(afterReset.step, 1);
    assert.ok(rel(afterReset.loss, full[2].loss) <= 1e-5, `after reset: loss of the starting weights ${afterReset.loss} vs ${full[2].loss}`);
    console.log(`resume: step 3 loss ${third.loss} (uninterrupted ${full[2].loss}); state ${(saved.size / 1e6).toFixed(1)} MB`);
    for (const m of ["m0", "m2", "m3"]) await call("disposeModel", { model: m });
  });

  for (const worker of [false, true]) {
    test(`errors leave the trainer working (${worker ? "worker" : "main thread"})`, { timeout: TIMEOUT }, async () => {
      const m = `err-${worker}`;
      const t = `${m}-t`;
      await call("load", { name: m, source: "tiny", backend: "cpu", worker });
      await call("trainer", { name: t, model: m, options: { train: "projections", lr: 1e-4 } });
      const ok = async (what) => {
        const [r] = await call("steps", { trainer: t, batch: PHOTOS, n: 1 });
        assert.ok(Number.isFinite(r.loss), `a step works after ${what}`);
        return r;
      };
      await ok("nothing");

      const one = await fails("badStep", { trainer: t, kind: "onePair" });
      assert.match(one.message, /at least 2/);
      await ok("one pair");
      const mismatch = await fails("badStep", { trainer: t, kind: "mismatch" });
      assert.match(mismatch.message, /2 images but 1 texts/);
      await ok("mismatched lengths");
      const bad = await fails("badStep", { trainer: t, kind: "notImage" });
      assert.match(bad.message, /image 2/);
      await ok("a bad image");
      const num = await fails("badStep", { trainer: t, kind: "number" });
      assert.equal(num.name, "TypeError");
      assert.match(num.message, /images\[1\]/);
      const text = await fails("badStep", { trainer: t, kind: "textNumber" });
      assert.equal(text.name, "TypeError");
      assert.match(text.message, /texts\[1\]/);
      const r = await ok("TypeErrors");
      assert.equal(r.steps, 5, "only the good steps count");

      for (const [options, pattern] of [
        [{ train: "everything" }, /options\.train/],
        [{ lr: -1 }, /options\.lr/],
        [{ warmup: 1.5 }, /options\.warmup/],
        [{ learningRate: 1 }, /unknown trainer option "learningRate"/],
        [{ lockImage: true, lockText: true }, /lockImage/],
      ]) {
        const e = await fails("trainer", { name: "nope", model: m, options });
        assert.equal(e.name, "TypeError", JSON.stringify(options));
        assert.match(e.message, pattern);
      }
      const dtype = await fails("export", { trainer: t, name: "x", options: { dtype: "f64" } });
      assert.equal(dtype.name, "TypeError");
      const wise = await fails("export", { trainer: t, name: "x", options: { wiseFt: 2 } });
      assert.equal(wise.name, "TypeError");
      const state = await fails("badStep", { trainer: t, kind: "garbageState" });
      assert.match(state.message, /optimiser state/);
      const stateType = await fails("badStep", { trainer: t, kind: "stateNumber" });
      assert.equal(stateType.name, "TypeError");

      // A diverging run: the loss that goes non-finite rejects, and nothing is updated.
      await call("trainer", { name: `${t}-nan`, model: m, options: { train: "all", lr: 1e38, gradClip: 0, weightDecay: 0 } });
      let nan = null;
      let steps = 0;
      for (let i = 0; i < 6 && !nan; i++) {
        const res = await page.evaluate(([tr, b]) => window.T.call("steps", { trainer: tr, batch: b, n: 1 }), [`${t}-nan`, PHOTOS]);
        if (res.error) nan = res.error;
        else steps = res.value[0].steps;
      }
      assert.ok(nan, "an exploding run rejects");
      assert.match(nan.message, /non-finite/);
      assert.ok(steps >= 1, "after at least one good step");
      const again = await fails("steps", { trainer: `${t}-nan`, batch: PHOTOS, n: 1 });
      assert.match(again.message, new RegExp(`step ${steps}\\b`), "the weights stay those after the last good step");
      await ok("a non-finite loss in another trainer");

      await call("disposeModel", { model: m });
      const gone = await fails("steps", { trainer: t, batch: PHOTOS, n: 1 });
      assert.match(gone.message, /disposed/, "disposing the model ends its trainers");
    });
  }

  test("random initialisation + shapes world: training from scratch in a worker", { timeout: TIMEOUT }, async () => {
    for (const [fields, pattern] of [
      [["config", "tokenizer"], /source\.weights is missing/],
      [["config", "tokenizer", "weights", "randomSeed"], /not both/],
      [["config", "tokenizer", "badSeed"], /randomSeed/],
      [["config", "tokenizer", "randomSeed", "preprocessor"], /preprocessor/],
    ]) {
      const e = await fails("badSource", { fields });
      assert.equal(e.name, "TypeError", fields.join("+"));
      assert.match(e.message, pattern);
    }

    const loaded = await call("load", { name: "s", source: "random-shapes", backend: "cpu", worker: true, randomSeed: 1 });
    assert.equal(loaded.embeddingDim, 64);
    const classes = await call("shapesClasses", { model: "s" });
    assert.equal(classes.length, 24);
    assert.equal(classes.filter((c) => c.heldOut).length, 4);
    assert.ok(classes.every((c) => typeof c.name === "string" && typeof c.heldOut === "boolean"));

    const batch = await call("shapesBatch", { model: "s", name: "shapes", options: { seed: 0, first: 0, count: 20, difficulty: 0, split: "train" } });
    assert.equal(batch.count, 20);
    assert.equal(batch.imageData, true, "ImageData from the worker");
    assert.ok(batch.sizes.every(([w, h]) => w === 64 && h === 64), JSON.stringify(batch.sizes[0]));
    assert.equal(batch.captions.length, 20);
    assert.equal(new Set(batch.classes).size, 20, "class-balanced: 20 different classes");
    const heldOut = new Set(classes.filter((c) => c.heldOut).map((c) => c.name));
    assert.ok(batch.classes.every((c) => !heldOut.has(c)), "train split: no held-out class");
    const again = await call("shapesBatch", { model: "s", name: "shapes-again", options: { first: 0, count: 20, difficulty: 0 } });
    assert.deepEqual(again.captions, batch.captions, "deterministic (seed 0, split train by default)");
    const held = await call("shapesBatch", { model: "s", name: "held", options: { first: 0, count: 4, split: "heldout" } });
    assert.ok(held.classes.every((c) => heldOut.has(c)));
    const badSplit = await fails("shapesBatch", { model: "s", name: "x", options: { first: 0, count: 4, split: "test" } });
    assert.equal(badSplit.name, "TypeError");

    await call("trainer", { name: "st", model: "s", options: { train: "all", lr: 5e-4 } });
    const results = await call("steps", { trainer: "st", batch: "shapes", n: 5 });
    console.log(`shapes from scratch: losses ${results.map((r) => r.loss.toFixed(4)).join(", ")}; s/step ${results.map((r) => r.seconds.toFixed(2)).join(", ")}`);
    assert.ok(results.at(-1).loss < results[0].loss, "the loss falls");
    assertLossMoves(results, "shapes");

    // Main thread too: the same random model (same seed) starts at the same loss.
    await call("load", { name: "s-main", source: "random-shapes", backend: "cpu", randomSeed: 1 });
    await call("shapesBatch", { model: "s-main", name: "shapes-main", options: { seed: 0, first: 0, count: 20, difficulty: 0 } });
    await call("trainer", { name: "st-main", model: "s-main", options: { train: "all", lr: 5e-4 } });
    const [first] = await call("steps", { trainer: "st-main", batch: "shapes-main", n: 1 });
    assert.ok(rel(first.loss, results[0].loss) <= 1e-6, `main thread ${first.loss} vs worker ${results[0].loss}`);
    await call("disposeModel", { model: "s" });
    await call("disposeModel", { model: "s-main" });
  });
});
