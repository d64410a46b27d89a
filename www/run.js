// The run controller of the two training views (Fine-tune and Learn): start, the step loop,
// Stop, stale-run detection, the stop on a non-finite loss, and the persistence hooks; plus the
// loss curve and its test hooks, which both views draw the same way.
//
// Why the page has no queue of model calls (it once had three: app.js, and two in train.js):
// the package already runs the calls of one model, and of every trainer made from it, one at a
// time in the order they are made (the worker proxy posts each call at once, in order, and the
// worker puts it on that model's queue; only the shapes-world calls, pure functions of their
// arguments, skip it). A page queue would only keep single calls in order, never a sequence
// together; what the page needs kept together is kept by awaiting: a step is sent once the
// previous step, its measurements and its save have come back, and the two calls of a save
// (export, then saveState) are made back to back, so no step comes between them. Stale work (a
// reset, a newer run or request) is dropped by generation checks, not by ordering. So the page
// sends its calls directly, and models in different workers (the Classify view's, a resumed
// run's, Learn's) are no longer made to wait for each other. One visible difference: "Time per
// step" is measured from the call, so a step queued behind another call on the same model (a
// classification of the same model, Learn's map export) counts that wait.

import { drawLossCurve } from "./plots.js";
import { register, updateAppState } from "./state.js";
import { clearError, errorMessage, fmtLoss, formatMs, median, showError } from "./ui.js";

/** Throws unless the package build has the trainer API. */
export function needTrainer(model) {
  if (typeof model?.trainer !== "function") {
    throw new Error("this build of the webclip package has no training API; rebuild it (./build.sh)");
  }
}

/** Whether a trainer's error is a NaN/∞ loss (the trainer then keeps the weights of the step before). */
export function isNonFinite(message) {
  return /non-finite|\bnan\b|infinit/i.test(message);
}

export class RunController {
  /** "idle" | "loading" | "running" | "stopped" | "done" | "error" (+ the view's own, e.g. "pretrained"). */
  state = "idle";
  running = false;
  stopRequested = false;
  /** Bumps when the run is replaced or reset: async work of an older run checks it and drops its result. */
  gen = 0;
  step = 0;
  losses = [];
  times = []; // ms per step
  logitScale = NaN;
  startedAt = 0; // when the loop (re)started, and at which step
  startStep = 0;
  /** The save in flight (never rejects): at most one at a time. */
  lastSave = Promise.resolve();
  #loopDone = Promise.resolve();
  #o;

  /**
   * o: { view (section: data-state), stopButton, status (element), errorKey, label (for
   * messages), hasRun() (a trainer exists: a failure is then "error", else "idle"), controls()
   * (the view updates its buttons), onFail?(), persist? }. persist (optional): { due(step, last)
   * (save after this step?), unsaved() (the current step is not saved yet), save() (a promise
   * that never rejects) }.
   */
  constructor(o) {
    this.#o = o;
    register({ busy: () => this.running });
  }

  setStatus(text) {
    this.#o.status.textContent = text;
  }

  setState(s) {
    this.state = s;
    this.#o.view.dataset.state = s;
    this.#o.controls();
    updateAppState();
  }

  /** A new run (or none): earlier async work becomes stale; the progress starts over. */
  renew() {
    this.gen++;
    this.step = 0;
    this.losses = [];
    this.times = [];
    this.logitScale = NaN;
  }

  stale(gen) {
    return gen !== this.gen;
  }

  /** Start/Continue: `prepare()` makes (or extends) the run and returns the loop's hooks, or null. */
  async start(prepare) {
    if (this.running || this.state === "loading") return;
    clearError(this.#o.errorKey);
    try {
      const hooks = await prepare();
      if (hooks) await this.loop(hooks);
    } catch (e) {
      this.fail(e);
    }
  }

  fail(e) {
    const msg = errorMessage(e);
    showError(`${this.#o.label}: ${msg}`, this.#o.errorKey);
    this.setStatus(`Stopped: ${msg}`);
    this.running = false;
    this.setState(this.#o.hasRun() ? "error" : "idle");
    this.#o.onFail?.();
  }

  /** Stop: the loop checks between steps. */
  requestStop() {
    if (!this.running) return;
    this.stopRequested = true;
    this.#o.stopButton.disabled = true;
    this.setStatus("Stopping after this step…");
  }

  /** Stops a running loop and waits until it has ended. */
  async halt() {
    if (this.running) {
      this.stopRequested = true;
      await this.#loopDone;
    }
  }

  save() {
    this.lastSave = this.#o.persist.save();
    return this.lastSave;
  }

  /**
   * Steps until `total`, Stop, a reset or an error. hooks: { total, batch(step) (what step
   * `step`, 0-based, trains on), train(batch) (the trainer's step: a StepResult), after(result,
   * batch, last) (draw and measure; awaited before the next step), nonFinite(message, step) (the view's
   * message: the weights of `step` are kept), finish?() (awaited before "done"), ended(done)
   * (the view's status once "done" or "stopped") }.
   */
  async loop(hooks) {
    const gen = this.gen;
    const persist = this.#o.persist;
    this.running = true;
    this.stopRequested = false;
    this.startedAt = performance.now();
    this.startStep = this.step;
    this.setState("running");
    let resolve;
    this.#loopDone = new Promise((ok) => (resolve = ok));
    try {
      while (!this.stopRequested && this.step < hooks.total && gen === this.gen) {
        // At most one save in flight: a crash loses at most the step being computed.
        await this.lastSave;
        const s = this.step;
        const batch = await hooks.batch(s);
        let r;
        let ms;
        try {
          const t = performance.now();
          r = await hooks.train(batch);
          ms = performance.now() - t;
        } catch (e) {
          const msg = errorMessage(e);
          if (!isNonFinite(msg)) throw e;
          this.running = false;
          hooks.nonFinite(msg, s);
          if (persist && persist.unsaved() && s > 0) this.save();
          this.setState("error");
          return;
        }
        if (gen !== this.gen) return;
        this.step = r.step;
        this.losses.push(r.loss);
        this.times.push(ms);
        this.logitScale = r.logitScale;
        const last = this.step >= hooks.total;
        await hooks.after(r, batch, last);
        if (persist?.due(this.step, last)) this.save();
      }
      if (persist && gen === this.gen && this.step < hooks.total && persist.unsaved()) this.save();
      await this.lastSave; // "done"/"stopped" means saved
      this.running = false;
      if (gen !== this.gen) return;
      const done = this.step >= hooks.total;
      if (done) await hooks.finish?.();
      this.setState(done ? "done" : "stopped");
      hooks.ended(done);
    } finally {
      this.running = false;
      resolve();
      this.#o.controls();
      updateAppState();
    }
  }

  /**
   * The loss curve and its test hooks (data-step, data-loss, data-losses; the view's data-step),
   * and the loss and time-per-step readouts. o: { canvas, total, reference, empty, lossOut, msOut }.
   */
  drawLoss({ canvas, total, reference, empty, lossOut, msOut }) {
    const n = this.losses.length;
    const last = this.losses.at(-1);
    canvas.dataset.step = String(this.step);
    canvas.dataset.loss = n ? String(last) : "";
    canvas.dataset.losses = JSON.stringify(this.losses);
    this.#o.view.dataset.step = String(this.step);
    drawLossCurve(canvas, this.losses, { total, reference, empty });
    canvas.setAttribute(
      "aria-label",
      n ? `Loss curve over ${n} steps: first ${fmtLoss(this.losses[0])}, last ${fmtLoss(last)}` : "Loss curve: no steps yet",
    );
    lossOut.textContent = fmtLoss(last);
    const med = median(this.times.slice(-20));
    msOut.textContent = med == null ? "—" : formatMs(med);
  }
}
