// The Fine-tune view's training set: the user's images (images.js, shared with the Classify
// view) each with a label (prefilled from the top class, or the file name) and a "held out"
// mark, as an editable list (#ft-items); fixed (validated, captioned) when a run starts; and the
// batch of each step.

import { images } from "./images.js";
import { $, h, thumbImg } from "./ui.js";

const el = {
  items: $("ft-items"),
  dataInfo: $("ft-data-info"),
  template: $("ft-template"),
};

/** The view's side: the run's fixed training set (or null), its predictions, whether edits are locked. */
let view = { data: () => null, preds: () => new Map(), locked: () => false };

export function initTrainSet(hooks) {
  view = hooks;
  el.template.addEventListener("input", updateDataInfo);
}

/** A label from a file name: "golden_retriever-03.jpg" → "golden retriever". */
function nameLabel(name) {
  return (
    name
      .replace(/\.[^.]+$/, "")
      .replace(/[_\-.]+/g, " ")
      .replace(/\s*\d+$/, "")
      .trim() || name
  );
}

function defaultLabel(im) {
  if (im.status === "ok" && im.scores?.length) return im.scores[0].label;
  return nameLabel(im.name);
}

/** The user's images as training items (live, before a run fixes them). */
function liveItems() {
  return images.map((im, i) => ({
    id: im.id,
    name: im.name,
    blob: im.blob,
    url: im.url,
    label: im.ftEdited ? im.ftLabel : defaultLabel(im),
    held: im.ftHeld ?? i % 4 === 3,
    usable: im.status !== "error",
    im,
  }));
}

function shownItems() {
  return view.data()?.items ?? liveItems();
}

const itemNodes = new Map(); // id → { li, input, check, pred, img }

function itemNode(it) {
  const inputId = `ft-label-${it.id}`;
  const input = h("input", { id: inputId, class: "ft-label", type: "text", spellcheck: "false", autocomplete: "off" });
  const check = h("input", { type: "checkbox", class: "ft-held" });
  const img = thumbImg(it.url);
  const pred = h("p", { class: "ft-pred" });
  const li = h(
    "li",
    { class: "ft-item" },
    h("div", { class: "thumb" }, img),
    h(
      "div",
      { class: "ft-item-body" },
      h("label", { class: "ft-name", for: inputId, "data-no-i18n": true, title: it.name, text: it.name }),
      input,
      h("label", { class: "check" }, check, " held out"),
      pred,
    ),
  );
  input.addEventListener("input", () => {
    const im = images.find((x) => x.id === it.id);
    if (!im || view.data()) return;
    im.ftEdited = true;
    im.ftLabel = input.value;
    updateDataInfo();
  });
  check.addEventListener("change", () => {
    const im = images.find((x) => x.id === it.id);
    if (!im || view.data()) return;
    im.ftHeld = check.checked;
    li.dataset.held = String(check.checked);
    updateDataInfo();
  });
  return { li, input, check, pred, img };
}

/** Enables or disables every field of the list (renderItems then refines per image). */
export function lockItems(locked) {
  for (const input of el.items.querySelectorAll("input")) input.disabled = locked;
}

/** Draws the list: the live images, or the run's fixed set with its held-out predictions. */
export function renderItems() {
  const items = shownItems();
  const keep = new Set(items.map((it) => it.id));
  for (const [id, node] of itemNodes) {
    if (!keep.has(id)) {
      node.li.remove();
      itemNodes.delete(id);
    }
  }
  const locked = view.locked();
  for (const it of items) {
    let node = itemNodes.get(it.id);
    if (!node) {
      node = itemNode(it);
      itemNodes.set(it.id, node);
    }
    el.items.append(node.li); // keeps the order
    node.li.dataset.id = String(it.id);
    node.li.dataset.name = it.name;
    node.li.dataset.held = String(!!it.held);
    node.li.classList.toggle("unusable", it.usable === false);
    if (node.img.getAttribute("src") !== it.url) node.img.src = it.url;
    if (document.activeElement !== node.input && node.input.value !== it.label) node.input.value = it.label;
    node.check.checked = !!it.held;
    node.input.disabled = locked || it.usable === false;
    node.check.disabled = locked || it.usable === false;
    node.input.setAttribute("aria-label", `Label for ${it.name}`);
    const p = view.preds().get(it.id);
    if (it.usable === false) {
      node.pred.textContent = "Can't be read: not used.";
      node.li.dataset.pred = "";
    } else if (it.held && p) {
      const ok = p === it.label;
      node.pred.textContent = `Held out — predicted: ${p} ${ok ? "✓" : "✗"}`;
      node.li.dataset.pred = p;
      node.li.dataset.correct = String(ok);
    } else {
      node.pred.textContent = it.held ? "Held out: measures accuracy." : "";
      node.li.dataset.pred = "";
      delete node.li.dataset.correct;
    }
  }
  if (!items.length && !el.items.querySelector(".ft-empty")) {
    el.items.append(h("li", { class: "ft-empty", text: "No images yet: add some here or in the Classify view." }));
  } else if (items.length) {
    el.items.querySelector(".ft-empty")?.remove();
  }
  updateDataInfo();
}

export function updateDataInfo() {
  const items = shownItems().filter((it) => it.usable !== false && it.label.trim());
  const train = items.filter((it) => !it.held).length;
  const held = items.length - train;
  const labels = new Set(items.map((it) => it.label.trim())).size;
  el.dataInfo.textContent = items.length
    ? `${train} image${train === 1 ? "" : "s"} to train on, ${held} held out, ${labels} different label${labels === 1 ? "" : "s"}.`
    : "";
}

function prompt(template, label) {
  return template.replaceAll("{}", label);
}

/** Fixes the training set for a run (validated). */
export function snapshotData() {
  const template = el.template.value.trim() || "{}";
  if (!template.includes("{}")) throw new Error("the caption template must contain {} (where the label goes)");
  const items = liveItems()
    .filter((it) => it.usable && it.label.trim())
    .map((it) => ({ id: it.id, name: it.name, blob: it.blob, url: it.url, label: it.label.trim(), held: it.held }));
  return finishData(items, template);
}

/** The training set of `items` ({ id, name, blob, url, label, held }) captioned by `template`. */
export function finishData(items, template) {
  for (const it of items) it.text = prompt(template, it.label);
  const train = items.filter((it) => !it.held);
  const held = items.filter((it) => it.held);
  if (train.length < 2) {
    throw new Error(
      `contrastive training needs at least 2 labelled images that are not held out (there ${train.length === 1 ? "is 1" : `are ${train.length}`})`,
    );
  }
  const labels = [...new Set(items.map((it) => it.label))];
  return { template, items, train, held, labels, prompts: labels.map((l) => prompt(template, l)) };
}

/** A seeded PRNG (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function permutation(n, seed) {
  const r = rng(seed);
  const p = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** The pairs of step `s` (0-based): a seeded permutation per epoch, batches within an epoch. */
export function batchAt(data, settings, s) {
  const { train } = data;
  const n = train.length;
  const bs = Math.max(2, Math.min(settings.batchSize, n));
  const perEpoch = Math.max(1, Math.floor(n / bs));
  const epoch = Math.floor(s / perEpoch);
  const j = s % perEpoch;
  const perm = bs >= n ? [...Array(n).keys()] : permutation(n, settings.seed * 100003 + epoch);
  const idx = perm.slice(j * bs, j === perEpoch - 1 ? n : j * bs + bs);
  const pairs = idx.map((i) => train[i]);
  return { images: pairs.map((p) => p.blob), texts: pairs.map((p) => p.text) };
}
