// Small page helpers every view uses: the DOM helper `h`, number formatting and parsing, the
// alert list (#alerts) and the page's status line (#status), probability rows, thumbnails,
// and redrawing canvases when their view changes size or the colour scheme changes.

export const $ = (id) => document.getElementById(id);

/** `h("li", { class, text, dataset, onclick, …attributes }, …children)`. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

// ---------------------------------------------------------------------------------------------
// Formatting and parsing

export function errorMessage(e) {
  if (e instanceof Error) return e.message || String(e);
  if (typeof e === "string") return e;
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}

export function formatBytes(n) {
  if (n == null || !Number.isFinite(n)) return "?";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

export function formatMs(ms) {
  if (ms == null) return "—";
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}

export function formatPct(p) {
  const v = p * 100;
  if (v >= 99.95 && v < 100) return ">99.9%";
  if (v > 0 && v < 0.1) return "<0.1%";
  return `${v.toFixed(1)}%`;
}

export function fmtLoss(v) {
  return Number.isFinite(v) ? v.toFixed(4) : "—";
}

export function fmtTemp(logitScale) {
  return Number.isFinite(logitScale) ? `×${Math.exp(logitScale).toFixed(1)}` : "—";
}

export function fmtDuration(ms) {
  if (!Number.isFinite(ms)) return "—";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

export function median(xs) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The index of the largest of the first `upto` values. */
export function argmax(xs, upto = xs.length) {
  let best = 0;
  for (let j = 1; j < upto; j++) if (xs[j] > xs[best]) best = j;
  return best;
}

/** A form field's number, or an error that names the field. */
export function parseNumber(text, what, { min = -Infinity, max = Infinity, integer = false } = {}) {
  const v = Number(String(text).trim());
  if (!Number.isFinite(v) || String(text).trim() === "") throw new Error(`${what}: “${text}” is not a number`);
  if (integer && !Number.isInteger(v)) throw new Error(`${what} must be a whole number, got ${v}`);
  if (v < min || v > max) throw new Error(`${what} must be between ${min} and ${max}, got ${v}`);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Alerts (#alerts: at most 6, each dismissable; a key replaces the previous message of that key)
// and the status line

const alertsByKey = new Map();

export function showError(message, key = `e${Math.random()}`) {
  const alerts = $("alerts");
  clearError(key);
  const item = h(
    "div",
    { class: "alert-item" },
    h("span", { class: "alert-text", text: message }),
    h("button", {
      type: "button",
      class: "alert-close",
      "aria-label": "Dismiss this message",
      text: "×",
      onclick: () => clearError(key),
    }),
  );
  item.dataset.key = key;
  alertsByKey.set(key, item);
  alerts.append(item);
  while (alerts.children.length > 6) {
    const first = alerts.firstElementChild;
    alertsByKey.delete(first.dataset.key);
    first.remove();
  }
}

export function clearError(key) {
  const item = alertsByKey.get(key);
  if (item) {
    item.remove();
    alertsByKey.delete(key);
  }
}

/** Whether the message of `key` is still shown. */
export function hasError(key) {
  return alertsByKey.has(key);
}

export function setStatus(text) {
  $("status").textContent = text;
}

// ---------------------------------------------------------------------------------------------
// Pieces of views

/** One probability row (li.score[data-label][data-prob]): the name, the percentage, a bar. */
export function scoreRow(label, prob, { top = false, target = false } = {}) {
  const fill = h("span", { class: "bar-fill" });
  fill.style.width = `${Math.max(0, Math.min(1, prob)) * 100}%`;
  return h(
    "li",
    { class: `score${top ? " top" : ""}${target ? " target" : ""}`, dataset: { label, prob: String(prob) } },
    h("span", { class: "score-label", "data-no-i18n": true, text: label }),
    h("span", { class: "score-pct", text: formatPct(prob) }),
    h("span", { class: "bar", "aria-hidden": "true" }, fill),
  );
}

/** A lazy thumbnail for a .thumb box; a file the browser cannot show marks the box broken. */
export function thumbImg(src) {
  const img = h("img", { src, alt: "", loading: "lazy", decoding: "async" });
  img.addEventListener("error", () => img.closest(".thumb")?.classList.add("broken"), { once: true });
  return img;
}

/** A backend badge of a training view: WebGPU / CPU for `model`, else `none`. */
export function showBackend(badge, model, none) {
  badge.dataset.backend = model?.backend ?? "";
  badge.className = model ? `badge badge-${model.backend}` : "badge";
  badge.textContent = model ? (model.backend === "webgpu" ? "WebGPU" : "CPU") : none;
}

/** Empties a chart canvas (data-rendered="false", no height). */
export function clearChart(canvas) {
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  canvas.dataset.rendered = "false";
  canvas.style.height = "0px";
}

/**
 * Calls `draw` (once a frame at most) when `view` changes width while shown, on a colour
 * scheme change and on a language change: canvases are sized to their boxes and drawn in the theme's colours.
 */
export function redrawOnResize(view, draw) {
  let queued = false;
  const redraw = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      if (!view.hidden) draw();
    });
  };
  if ("ResizeObserver" in window) {
    let lastW = 0;
    new ResizeObserver(() => {
      if (view.clientWidth !== lastW) {
        lastW = view.clientWidth;
        redraw();
      }
    }).observe(document.body);
  }
  window.matchMedia?.("(prefers-color-scheme: dark)").addEventListener?.("change", redraw);
  document.addEventListener("webclip:lang", redraw); // the canvases' words (i18n.js)
}
