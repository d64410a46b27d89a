// Hand-written plots for the training views: a loss curve, a similarity heatmap with image
// thumbnails, and a 2-D embedding map (PCA by power iteration). Plain canvas, no libraries.
// Colours come from the page's CSS variables, so the plots follow the light/dark theme; every
// canvas is sized to its CSS box × devicePixelRatio on each draw. Their words go through t()
// (i18n.js): English, or Korean when the page is; the views redraw on a language change.

import { t as tr } from "./i18n.js"; // `tr`: plots use `t` for ticks and ramps

/** The theme colours the plots use (read at draw time). */
export function themeColors(node = document.documentElement) {
  const cs = getComputedStyle(node);
  const v = (name, fallback) => cs.getPropertyValue(name).trim() || fallback;
  return {
    text: v("--text", "#1b1f2a"),
    muted: v("--muted", "#535b6b"),
    border: v("--border", "#d9dde7"),
    accent: v("--accent", "#3b4fd8"),
    panel: v("--panel", "#ffffff"),
    bg: v("--bg", "#f6f7fb"),
    focus: v("--focus", "#f59e0b"),
    danger: v("--danger", "#a3162b"),
  };
}

/** Sizes `canvas` to its CSS width (and `height` CSS pixels) and returns a context in CSS px. */
export function setupCanvas(canvas, height) {
  const dpr = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
  const width = Math.max(120, Math.round(canvas.clientWidth || canvas.parentElement?.clientWidth || 320));
  canvas.style.height = `${height}px`;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, width, height);
  return { g, width, height };
}

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

/** "Nice" tick values covering [lo, hi] (about `count` of them); `integer`: whole numbers only. */
function ticks(lo, hi, count = 5, integer = false) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = integer ? Math.max(1, 10 ** Math.floor(Math.log10(raw))) : 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

function fmtTick(t) {
  if (t === 0) return "0";
  const a = Math.abs(t);
  if (a >= 1000) return `${Math.round(t / 100) / 10}k`;
  if (a >= 10) return String(Math.round(t));
  return String(Number(t.toPrecision(3)));
}

/**
 * Loss against step: the raw losses (thin) and, with more than a few dozen steps, a centred
 * moving average (bold; centred, so it does not lag behind a falling curve). `total` fixes the x range (the run's length); `reference`
 * draws a dashed level (e.g. chance: ln of the batch size).
 */
export function drawLossCurve(canvas, losses, { total = 0, reference = null, height = 220, empty = "No steps yet." } = {}) {
  const { g, width, height: H } = setupCanvas(canvas, height);
  const c = themeColors(canvas);
  const pad = { l: 44, r: 12, t: 12, b: 30 };
  const w = width - pad.l - pad.r;
  const hh = H - pad.t - pad.b;
  const finite = losses.filter(Number.isFinite);
  const n = losses.length;
  const xMax = Math.max(total, n, 1);
  let yMax = Math.max(...finite, reference?.value ?? 0, 1e-6);
  yMax *= 1.08;
  const yMin = 0;
  const x = (step) => pad.l + (xMax <= 1 ? 0 : ((step - 1) / (xMax - 1)) * w);
  const y = (v) => pad.t + hh - ((v - yMin) / (yMax - yMin)) * hh;

  g.font = `11px ${FONT}`;
  g.lineWidth = 1;
  // grid and y ticks
  g.strokeStyle = c.border;
  g.fillStyle = c.muted;
  g.textAlign = "right";
  g.textBaseline = "middle";
  for (const t of ticks(yMin, yMax, 4)) {
    const yy = Math.round(y(t)) + 0.5;
    g.beginPath();
    g.moveTo(pad.l, yy);
    g.lineTo(pad.l + w, yy);
    g.stroke();
    g.fillText(fmtTick(t), pad.l - 6, yy);
  }
  // x ticks
  g.textAlign = "center";
  g.textBaseline = "top";
  for (const t of ticks(0, xMax, Math.max(2, Math.min(6, Math.floor(w / 70))), true)) {
    if (t < 1) continue;
    g.fillText(fmtTick(t), x(t), pad.t + hh + 6);
  }
  g.textAlign = "right";
  g.fillText(tr("step"), pad.l + w, pad.t + hh + 18);
  g.save();
  g.translate(11, pad.t + hh / 2);
  g.rotate(-Math.PI / 2);
  g.textAlign = "center";
  g.textBaseline = "middle";
  g.fillText(tr("loss"), 0, 0);
  g.restore();

  if (reference && Number.isFinite(reference.value)) {
    const yy = y(reference.value);
    g.save();
    g.setLineDash([5, 4]);
    g.strokeStyle = c.muted;
    g.beginPath();
    g.moveTo(pad.l, yy);
    g.lineTo(pad.l + w, yy);
    g.stroke();
    g.restore();
    g.fillStyle = c.muted;
    g.textAlign = "right";
    g.textBaseline = "bottom";
    g.fillText(tr(reference.label), pad.l + w, yy - 2);
  }

  if (!n) {
    g.fillStyle = c.muted;
    g.textAlign = "center";
    g.textBaseline = "middle";
    g.font = `13px ${FONT}`;
    g.fillText(tr(empty), pad.l + w / 2, pad.t + hh / 2);
    return;
  }

  const line = (vals, color, width) => {
    g.strokeStyle = color;
    g.lineWidth = width;
    g.lineJoin = "round";
    g.beginPath();
    let started = false;
    vals.forEach((v, i) => {
      if (!Number.isFinite(v)) {
        started = false;
        return;
      }
      const px = x(i + 1);
      const py = y(v);
      if (started) g.lineTo(px, py);
      else g.moveTo(px, py);
      started = true;
    });
    g.stroke();
    if (vals.length === 1 && Number.isFinite(vals[0])) {
      g.fillStyle = color;
      g.beginPath();
      g.arc(x(1), y(vals[0]), 3, 0, 2 * Math.PI);
      g.fill();
    }
  };
  if (n > 30) {
    line(losses, mix(c.accent, c.panel, 0.55), 1);
    const half = Math.max(1, Math.round(n / 60));
    const smooth = losses.map((_, i) => {
      const win = losses.slice(Math.max(0, i - half), i + half + 1).filter(Number.isFinite);
      return win.length ? win.reduce((a, b) => a + b, 0) / win.length : NaN;
    });
    line(smooth, c.accent, 2.25);
  } else {
    line(losses, c.accent, 2.25);
  }
  // the last point
  const last = losses.at(-1);
  if (Number.isFinite(last)) {
    g.fillStyle = c.accent;
    g.beginPath();
    g.arc(x(n), y(last), 3.5, 0, 2 * Math.PI);
    g.fill();
  }
}

// ---- colours -----------------------------------------------------------------------------------

function parseColor(s) {
  s = s.trim();
  if (s.startsWith("#")) {
    let hex = s.slice(1);
    if (hex.length === 3) hex = [...hex].map((ch) => ch + ch).join("");
    const v = parseInt(hex.slice(0, 6), 16);
    return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
  }
  const m = s.match(/rgba?\(([^)]+)\)/);
  if (m) return m[1].split(/[ ,/]+/).slice(0, 3).map(Number);
  return [128, 128, 128];
}

/** `a` blended towards `b` by t (0: a, 1: b), as a CSS colour. */
export function mix(a, b, t) {
  const [r1, g1, b1] = parseColor(a);
  const [r2, g2, b2] = parseColor(b);
  const f = (p, q) => Math.round(p + (q - p) * t);
  return `rgb(${f(r1, r2)} ${f(g1, g2)} ${f(b1, b2)})`;
}

// A perceptually ordered ramp (viridis' stops): dark = low similarity, yellow = high.
const RAMP = ["#440154", "#414487", "#2a788e", "#22a884", "#7ad151", "#fde725"].map(parseColor);

/** Colour of t ∈ [0, 1] on the ramp; also whether dark text reads on it. */
export function rampColor(t) {
  const x = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const f = x - i;
  const rgb = RAMP[i].map((v, k) => Math.round(v + (RAMP[i + 1][k] - v) * f));
  const lum = (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255;
  return { css: `rgb(${rgb[0]} ${rgb[1]} ${rgb[2]})`, darkText: lum > 0.5 };
}

// ---- thumbnails ---------------------------------------------------------------------------------

const imageDataCanvases = new WeakMap();

/** A canvas holding an ImageData's pixels (cached), drawable with drawImage. */
export function imageDataCanvas(data) {
  let cv = imageDataCanvases.get(data);
  if (!cv) {
    cv = document.createElement("canvas");
    cv.width = data.width;
    cv.height = data.height;
    cv.getContext("2d").putImageData(data, 0, 0);
    imageDataCanvases.set(data, cv);
  }
  return cv;
}

const blobBitmaps = new WeakMap();

/** A small ImageBitmap of an image file (cached per Blob); null when the browser can't decode it. */
export function blobThumb(blob) {
  let p = blobBitmaps.get(blob);
  if (!p) {
    p = createImageBitmap(blob, { resizeWidth: 96, resizeHeight: 96, resizeQuality: "medium" }).catch(() => null);
    blobBitmaps.set(blob, p);
  }
  return p;
}

function drawThumb(g, src, x, y, size, border) {
  if (src) {
    g.imageSmoothingEnabled = true;
    g.drawImage(src, x, y, size, size);
  }
  if (border) {
    g.strokeStyle = border;
    g.lineWidth = 1;
    g.strokeRect(x + 0.5, y + 0.5, size - 1, size - 1);
  }
}

function truncate(g, text, maxWidth) {
  if (g.measureText(text).width <= maxWidth) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (g.measureText(`${text.slice(0, mid)}…`).width <= maxWidth) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo)}…`;
}

// ---- the similarity heatmap ----------------------------------------------------------------------

/**
 * The images × texts cosine-similarity matrix: a row per image (its thumbnail at the left), a
 * column per text (its words, slanted, on top). Each row's largest cell — the caption the image
 * "picks" — is outlined; the diagonal (the true pairs) is marked on the axis. `range`: "fixed"
 * (cosine −1…1, comparable across steps) or "auto" (this matrix's min…max).
 * Returns { diag, off, hits } for a text summary.
 */
export function drawHeatmap(canvas, sim, { thumbs = [], labels = [], range = "auto", maxCell = 40, title = "" } = {}) {
  const rows = sim.length;
  const cols = rows ? sim[0].length : 0;
  const c = themeColors(canvas);
  const avail = Math.max(160, Math.round(canvas.clientWidth || canvas.parentElement?.clientWidth || 320));
  const thumb = thumbs.length ? Math.min(40, Math.max(18, Math.floor((avail - 80) / (cols + 1.2)))) : 0;
  const left = thumb ? thumb + 8 : 24;
  const top = 92;
  const legendH = 46;
  const cell = Math.max(8, Math.min(maxCell, Math.floor((avail - left - 8) / Math.max(1, cols)), thumb ? Math.max(thumb, 14) : maxCell));
  const height = top + rows * cell + legendH + 8;
  const { g } = setupCanvas(canvas, height);
  let lo = -1;
  let hi = 1;
  if (range === "auto") {
    const all = sim.flat().filter(Number.isFinite);
    if (all.length) {
      lo = Math.min(...all);
      hi = Math.max(...all);
      if (hi - lo < 1e-6) {
        lo -= 0.05;
        hi += 0.05;
      }
    }
  }
  const norm = (v) => (v - lo) / (hi - lo);

  // column labels (the texts), slanted
  g.font = `11px ${FONT}`;
  g.fillStyle = c.text;
  g.textBaseline = "middle";
  g.textAlign = "left";
  for (let j = 0; j < cols; j++) {
    const text = labels[j] ?? `text ${j + 1}`;
    g.save();
    g.translate(left + j * cell + cell / 2, top - 6);
    g.rotate(-Math.PI / 4);
    g.fillText(truncate(g, text, 118), 0, 0);
    g.restore();
  }
  let diag = 0;
  let off = 0;
  let offN = 0;
  let hits = 0;
  for (let i = 0; i < rows; i++) {
    const yy = top + i * cell;
    if (thumb) {
      const th = thumbs[i];
      const ty = yy + (cell - thumb) / 2;
      drawThumb(g, th, 2, ty, thumb, c.border);
    } else {
      g.fillStyle = c.muted;
      g.textAlign = "right";
      g.fillText(String(i + 1), left - 6, yy + cell / 2);
    }
    let best = 0;
    for (let j = 0; j < cols; j++) {
      const v = sim[i][j];
      const col = rampColor(norm(v));
      g.fillStyle = col.css;
      g.fillRect(left + j * cell, yy, cell - 1, cell - 1);
      if (v > sim[i][best]) best = j;
      if (i === j) diag += v;
      else {
        off += v;
        offN++;
      }
      if (cell >= 30) {
        g.fillStyle = col.darkText ? "#111" : "#fff";
        g.textAlign = "center";
        g.font = `10px ${FONT}`;
        g.fillText(v.toFixed(2), left + j * cell + (cell - 1) / 2, yy + (cell - 1) / 2);
        g.font = `11px ${FONT}`;
      }
    }
    if (best === i) hits++;
    // the row's pick
    g.strokeStyle = c.focus;
    g.lineWidth = 2;
    g.strokeRect(left + best * cell + 1, yy + 1, cell - 3, cell - 3);
  }
  // legend
  const ly = top + rows * cell + 12;
  const lw = Math.min(200, Math.max(100, cols * cell));
  for (let k = 0; k < lw; k++) {
    g.fillStyle = rampColor(k / (lw - 1)).css;
    g.fillRect(left + k, ly, 1, 10);
  }
  g.fillStyle = c.muted;
  g.font = `11px ${FONT}`;
  g.textBaseline = "top";
  g.textAlign = "left";
  g.fillText(lo.toFixed(2), left, ly + 12);
  g.textAlign = "right";
  g.fillText(hi.toFixed(2), left + lw, ly + 12);
  g.textAlign = "left";
  g.fillText(truncate(g, tr(title || "cosine similarity; outlined: each image's best caption"), avail - left - 4), left, ly + 26);
  const n = Math.min(rows, cols);
  return { diag: n ? diag / n : 0, off: offN ? off / offN : 0, hits, rows };
}

// ---- PCA ----------------------------------------------------------------------------------------

/**
 * The first two principal components of `rows` (arrays of equal length) by power iteration with
 * deflation (Gram–Schmidt against the first). `previous` (the last call's components) fixes the
 * signs so that the picture does not flip between updates. Returns { coords: [[x, y]],
 * components, variance: [λ1, λ2], total }.
 */
export function pca2(rows, previous = null) {
  const n = rows.length;
  const d = rows[0].length;
  const mean = new Float64Array(d);
  for (const r of rows) for (let k = 0; k < d; k++) mean[k] += r[k] / n;
  const X = rows.map((r) => Float64Array.from(r, (v, k) => v - mean[k]));
  let total = 0;
  for (const r of X) for (const v of r) total += v * v;
  total /= Math.max(1, n - 1);
  const comps = [];
  const variance = [];
  for (let c = 0; c < 2; c++) {
    let v = new Float64Array(d);
    for (let k = 0; k < d; k++) v[k] = Math.sin(1.7 * (k + 1) + 3.1 * c) + 0.01; // deterministic start
    let lambda = 0;
    for (let it = 0; it < 200; it++) {
      // w = Xᵀ X v, minus what lies along the earlier components
      const xv = X.map((r) => r.reduce((s, val, k) => s + val * v[k], 0));
      const w = new Float64Array(d);
      for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) w[k] += X[i][k] * xv[i];
      for (const p of comps) {
        const dot = w.reduce((s, val, k) => s + val * p[k], 0);
        for (let k = 0; k < d; k++) w[k] -= dot * p[k];
      }
      const norm = Math.hypot(...w);
      if (!(norm > 1e-12)) break;
      for (let k = 0; k < d; k++) w[k] /= norm;
      const delta = w.reduce((s, val, k) => s + Math.abs(val - v[k]), 0);
      v = w;
      lambda = norm / Math.max(1, n - 1);
      if (delta < 1e-9) break;
    }
    const prev = previous?.[c];
    if (prev && prev.length === d && v.reduce((s, val, k) => s + val * prev[k], 0) < 0) for (let k = 0; k < d; k++) v[k] = -v[k];
    comps.push(v);
    variance.push(lambda);
  }
  const coords = X.map((r) => comps.map((p) => r.reduce((s, val, k) => s + val * p[k], 0)));
  return { coords, components: comps, variance, total };
}

/** Rows scaled to unit length (as CLIP compares them). */
export function normalizeRows(rows) {
  return rows.map((r) => {
    const nrm = Math.hypot(...r) || 1;
    return Float64Array.from(r, (v) => v / nrm);
  });
}

// ---- the embedding map ---------------------------------------------------------------------------

/**
 * Images and texts in one 2-D plane: images as thumbnails, texts as diamonds in their pair's
 * colour, a line from each image to its caption. `points`: { images: [[x, y]], texts: [[x, y]] }.
 */
export function drawEmbeddingMap(canvas, points, { thumbs = [], colors = [], labels = [], height = 340, note = "" } = {}) {
  const { g, width, height: H } = setupCanvas(canvas, height);
  const c = themeColors(canvas);
  const all = [...points.images, ...points.texts];
  const pad = 30;
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const [px, py] of all) {
    x0 = Math.min(x0, px);
    x1 = Math.max(x1, px);
    y0 = Math.min(y0, py);
    y1 = Math.max(y1, py);
  }
  // one scale for both axes: distances stay honest
  const span = Math.max(x1 - x0, y1 - y0, 1e-6);
  const scale = Math.min((width - 2 * pad) / span, (H - 2 * pad) / span);
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  const X = (px) => width / 2 + (px - cx) * scale;
  const Y = (py) => H / 2 - (py - cy) * scale;

  g.strokeStyle = c.border;
  g.lineWidth = 1;
  g.strokeRect(0.5, 0.5, width - 1, H - 1);
  // pair lines
  g.lineWidth = 1.5;
  points.images.forEach(([ix, iy], i) => {
    const t = points.texts[i];
    if (!t) return;
    g.strokeStyle = colors[i] ?? c.muted;
    g.globalAlpha = 0.8;
    g.beginPath();
    g.moveTo(X(ix), Y(iy));
    g.lineTo(X(t[0]), Y(t[1]));
    g.stroke();
    g.globalAlpha = 1;
  });
  // texts: diamonds
  points.texts.forEach(([tx, ty], i) => {
    const px = X(tx);
    const py = Y(ty);
    g.fillStyle = colors[i] ?? c.accent;
    g.strokeStyle = c.text;
    g.lineWidth = 1;
    g.beginPath();
    g.moveTo(px, py - 7);
    g.lineTo(px + 7, py);
    g.lineTo(px, py + 7);
    g.lineTo(px - 7, py);
    g.closePath();
    g.fill();
    g.stroke();
  });
  // images: thumbnails
  const size = 24;
  points.images.forEach(([ix, iy], i) => {
    drawThumb(g, thumbs[i], X(ix) - size / 2, Y(iy) - size / 2, size, colors[i] ?? c.border);
  });
  // legend
  g.font = `11px ${FONT}`;
  g.fillStyle = c.muted;
  g.textAlign = "left";
  g.textBaseline = "top";
  g.fillText(tr(note || "▢ image   ◆ caption   — its pair"), 8, 6);
  void labels;
}

/** Mean cosine of matching pairs and of the other combinations (normalised rows). */
export function pairStats(imgs, txts) {
  let pair = 0;
  let other = 0;
  let n = 0;
  for (let i = 0; i < imgs.length; i++) {
    for (let j = 0; j < txts.length; j++) {
      const cos = imgs[i].reduce((s, v, k) => s + v * txts[j][k], 0);
      if (i === j) pair += cos;
      else {
        other += cos;
        n++;
      }
    }
  }
  return { pair: pair / Math.max(1, imgs.length), other: other / Math.max(1, n) };
}
