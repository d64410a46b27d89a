// Training steps/s in headless Chromium (issue: browser training). One fresh browser per
// scenario; prints a table and writes ~/.cache/webclip/bench/browser-train.json.
//   node tests/bench/train.mjs [--webgpu]   (after ./build.sh web)
// WebGPU here is SwiftShader (a CPU emulation): only the shapes model is run on it, and its
// figure describes the emulator, not a GPU.
import { mkdirSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { launch, open } from "../e2e/harness.mjs";

const webgpu = process.argv.includes("--webgpu");
const scenarios = [
  { model: "shapes", backend: "cpu", train: "all", batch: 20, steps: 10 },
  { model: "b32", backend: "cpu", train: "projections", batch: 8, steps: 3 },
  { model: "b32", backend: "cpu", train: "last:2", batch: 8, steps: 3 },
  ...(webgpu ? [{ model: "shapes", backend: "webgpu", train: "all", batch: 20, steps: 5 }] : []),
];
const results = [];
for (const s of scenarios) {
  const { context, url, close } = await launch({ webgpu: s.backend === "webgpu" });
  try {
    const page = await open(context, url, "tests/bench/train.html");
    await page.waitForFunction(() => window.benchReady === true);
    page.setDefaultTimeout(0);
    const r = await page.evaluate((opts) => window.benchTrain(opts), s);
    results.push(r);
    console.log(
      `${r.model.padEnd(6)} ${r.backend.padEnd(6)} ${r.train.padEnd(11)} b${String(r.batch).padEnd(3)} ` +
        `load ${r.loadS.toFixed(2)} s  first step ${r.firstStepS.toFixed(2)} s  step ${r.medianStepS.toFixed(3)} s ` +
        `(${r.stepsPerS.toFixed(2)} steps/s)  wasm ${r.wasmMemoryMB.toFixed(0)} MiB`,
    );
  } finally {
    await close();
  }
}
const dir = process.env.WEBCLIP_BENCH_DIR ?? join(homedir(), ".cache/webclip/bench");
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, "browser-train.json"), JSON.stringify({ date: new Date().toISOString(), results }, null, 1));
