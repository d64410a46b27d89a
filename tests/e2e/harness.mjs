// Shared by the browser tests: a real Chromium (Debian's) driven by playwright-core, with WebGPU
// through SwiftShader (the flags that work headless here; see README "Tests"), and a static
// server for the repository root (so pages under www/ and tests/ and the fixtures are all served).
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { serve } from "../../www/serve.mjs";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

const BASE_FLAGS = [
  "--headless=new",
  "--no-sandbox",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const WEBGPU_FLAGS = ["--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-webgpu-adapter=swiftshader"];

/**
 * Launches Chromium. `webgpu: false` leaves WebGPU without an adapter (navigator.gpu yields
 * none), which is how the CPU fallback is tested.
 */
export async function launch({ webgpu = true } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "webclip-chromium-"));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...BASE_FLAGS, ...(webgpu ? WEBGPU_FLAGS : ["--disable-webgpu"])],
    ignoreDefaultArgs: ["--headless"],
  });
  const { server, url } = await serve(ROOT);
  const close = async () => {
    await context.close().catch(() => {});
    server.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { context, url, close };
}

/** Opens `path` (relative to the repository root) and forwards console errors to the test log. */
export async function open(context, url, path) {
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") console.error(`[page ${m.type()}] ${m.text()}`);
  });
  page.on("pageerror", (e) => console.error(`[page error] ${e.message}`));
  await page.goto(new URL(path, url).href);
  return page;
}
