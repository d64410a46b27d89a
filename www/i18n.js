// The page's own words in English (the source) and Korean, switched by #lang without a reload.
//
// No view module knows about languages: the page is written in English, and this module
// translates what is shown by its exact English text. It walks the text nodes and the title,
// placeholder and aria-label attributes under <body>, replaces exact matches from the
// dictionary (i18n-ko.js) and strings that match its patterns (dynamic text with numbers and
// names), and a MutationObserver does the same for whatever the JS writes later. Each
// translated node or attribute remembers its English (WeakMaps) and what was written in its
// place: switching back to English restores the English exactly, and a value that is still
// what we wrote is never looked up again (no feedback loop; a Korean string is never a key).
//
// Never touched: form values (only text nodes and those three attributes are read), <textarea>,
// <code>, and anything inside [data-no-i18n] (the user's labels, file names, search results).
// Until Korean is chosen the observer is not even connected, so the English page is as before.
//
// `t(text)` translates one string for the canvases (plots.js); their views redraw on the
// "webclip:lang" event that a switch dispatches on document.

import { KO, KO_PATTERNS, KO_TITLE } from "./i18n-ko.js";

const STORAGE_KEY = "webclip-lang";
const LANGS = ["en", "ko"];
const ATTRS = ["title", "placeholder", "aria-label"];
const SKIP = "[data-no-i18n], textarea, code, script, style";
// Only punctuation, digits and symbols: nothing to translate (and not worth a lookup).
const NOT_WORDS = /^[\s\d.,:;!?%×·/+\-−–—()[\]<>≈=…α$#*'"“”‘’]*$/;
const STARTS_HANGUL = /^[^A-Za-z\uac00-\ud7a3]*[\uac00-\ud7a3]/;
const KO_VALUES = new Set(Object.values(KO));

let lang = "en";
let observer = null;
let englishTitle = "";
/** text node → { en, shown }: its English and the Korean we put in its place. */
const texts = new WeakMap();
/** element → Map(attribute → { en, shown }). */
const attrs = new WeakMap();

// ---------------------------------------------------------------------------------------------
// Lookup

/** The Korean of one whitespace-collapsed English string, or null. */
function lookup(key) {
  // Our own output, the user's Korean, the templates' native names: never keys.
  if (!key || NOT_WORDS.test(key) || KO_VALUES.has(key) || STARTS_HANGUL.test(key)) return null;
  if (Object.hasOwn(KO, key)) return KO[key];
  for (const [re, fn] of KO_PATTERNS) {
    const m = re.exec(key);
    if (m) return fn(m, sub);
  }
  return null;
}

/** A fragment inside a pattern (a model name, an error's detail): translated if known, else as is. */
function sub(fragment) {
  return lookup(String(fragment).trim().replace(/\s+/g, " ")) ?? fragment;
}

/** `text` in Korean, its surrounding whitespace kept (null when there is nothing to translate). */
function translate(text) {
  const m = /^(\s*)([\s\S]*?)(\s*)$/.exec(text);
  const out = lookup(m[2].replace(/\s+/g, " "));
  return out == null ? null : m[1] + out + m[3];
}

/** One string in the current language (the canvases' text; English when there is no translation). */
export function t(text) {
  if (lang === "en" || typeof text !== "string") return text;
  return translate(text) ?? text;
}

// ---------------------------------------------------------------------------------------------
// The DOM

function skipped(element) {
  return !element || element.closest(SKIP) != null;
}

function doText(node) {
  const rec = texts.get(node);
  const now = node.data;
  if (rec && now === rec.shown) {
    // Still what we wrote: keep it in Korean, or give the English back.
    if (lang === "en") {
      node.data = rec.en;
      texts.delete(node);
    }
    return;
  }
  // New text (or the page rewrote it): its current value is English.
  texts.delete(node);
  if (lang === "en" || skipped(node.parentElement)) return;
  const out = translate(now);
  if (out == null || out === now) return;
  texts.set(node, { en: now, shown: out });
  node.data = out;
}

function doAttr(el, name) {
  let recs = attrs.get(el);
  const rec = recs?.get(name);
  const now = el.getAttribute(name);
  if (rec && now === rec.shown) {
    if (lang === "en") {
      el.setAttribute(name, rec.en);
      recs.delete(name);
    }
    return;
  }
  recs?.delete(name);
  if (now == null || lang === "en" || skipped(el)) return;
  const out = translate(now);
  if (out == null || out === now) return;
  if (!recs) attrs.set(el, (recs = new Map()));
  recs.set(name, { en: now, shown: out });
  el.setAttribute(name, out);
}

function doAttrs(el) {
  for (const name of ATTRS) if (el.hasAttribute(name)) doAttr(el, name);
}

/** Translates (Korean) or restores (English) `root` and everything under it. */
function walk(root) {
  if (root.nodeType === Node.TEXT_NODE) {
    doText(root);
    return;
  }
  if (root.nodeType !== Node.ELEMENT_NODE) return;
  // In English a skipped subtree can still hold Korean we wrote before it was marked: rare
  // enough (the markers are static) that only the translating direction checks ancestors.
  if (lang !== "en" && skipped(root)) return;
  doAttrs(root);
  const tw = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => (n.nodeType === Node.ELEMENT_NODE && n.matches(SKIP) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  for (let n = tw.nextNode(); n; n = tw.nextNode()) {
    if (n.nodeType === Node.TEXT_NODE) doText(n);
    else doAttrs(n);
  }
}

function onMutations(records) {
  for (const r of records) {
    if (r.type === "childList") for (const n of r.addedNodes) walk(n);
    else if (r.type === "characterData") doText(r.target);
    else if (r.type === "attributes") doAttr(r.target, r.attributeName);
  }
  // The records our own writes just queued: nothing to do for them.
  observer.takeRecords();
}

function observe() {
  if (observer) return;
  observer = new MutationObserver(onMutations);
  observer.observe(document.body, {
    subtree: true,
    childList: true,
    characterData: true,
    attributes: true,
    attributeFilter: ATTRS,
  });
}

// ---------------------------------------------------------------------------------------------
// Switching

function setLang(next, { store = true } = {}) {
  if (!LANGS.includes(next)) next = "en";
  const changed = next !== lang;
  lang = next;
  document.documentElement.lang = lang;
  document.title = lang === "ko" ? KO_TITLE : englishTitle;
  const select = document.getElementById("lang");
  if (select && select.value !== lang) select.value = lang;
  if (store) {
    try {
      localStorage.setItem(STORAGE_KEY, lang);
    } catch {
      // storage refused (private mode): the choice lasts for this page
    }
  }
  if (lang !== "en") observe();
  if (changed) {
    walk(document.body);
    observer?.takeRecords();
    document.dispatchEvent(new CustomEvent("webclip:lang", { detail: { lang } }));
  }
}

function initialLang() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (LANGS.includes(saved)) return saved;
  } catch {
    // no storage
  }
  return /^ko\b/i.test(navigator.language ?? "") ? "ko" : "en";
}

/** Called once at startup: the saved or the browser's language, and the #lang switch. */
export function initI18n() {
  englishTitle = document.title;
  const select = document.getElementById("lang");
  select?.addEventListener("change", () => setLang(select.value));
  setLang(initialLang(), { store: false });
}
