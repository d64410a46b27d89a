//! The page's Library (pkg/src/library.ts): the core's index layout and search for JS. Nothing
//! here decides anything: embeddings are normalised and rounded, files written and read, and
//! rows ranked by `webclip::index`, exactly as `webclip index` / `webclip search` do.
//!
//! - `normaliseToF16(rows, dim)` → `Uint8Array`: L2-normalised rows as f16 (what `.npy` holds).
//! - `new SearchIndex(dim)`, `.set(f16Rows)`, `.search(query, k)` → `{rows, scores}`.
//! - `npyFromF16(dim, f16Rows)`, `parseNpy(bytes)` → `{dtype, rows, dim, data}` (f16 bytes).
//! - `metadataParquet(paths, widths, heights, sizes)`, `readMetadata(bytes)` → the columns.
//! - `new ModelHasher(config?, openClipConfig?, preprocessor?)`, `.push(chunk)`, `.finish()`:
//!   the model hash `webclip index` writes, from a download as it streams.
//! - `imageExtensions()`, `tooLarge(bytes)`: what a collection's walk takes.

use js_sys::{Float32Array, Float64Array, Int32Array, Object, Uint8Array, Uint32Array};
use wasm_bindgen::prelude::*;
use webclip::index::{self, Meta, ModelHash, NpyView, StreamSampler};

use crate::{js_err, train::set};

/// L2-normalised rows (`dim` floats each) as f16 little-endian bytes.
#[wasm_bindgen(js_name = normaliseToF16)]
pub fn normalise_to_f16(rows: Vec<f32>, dim: usize) -> Result<Uint8Array, JsError> {
    if dim == 0 || !rows.len().is_multiple_of(dim) {
        return Err(JsError::new(&format!("{} floats are not whole rows of {dim}", rows.len())));
    }
    let mut rows = rows;
    index::normalise_rows(&mut rows, dim);
    Ok(Uint8Array::from(index::f16_bytes(&rows).as_slice()))
}

/// An index's rows held in wasm memory (set once, searched many times), converted from f16 to
/// f32 once at `set` (exactly): wasm has no f16 instructions, and converting on every query
/// took most of a 10,000-row search.
#[wasm_bindgen]
pub struct SearchIndex {
    dim: usize,
    rows: Vec<f32>,
}

#[wasm_bindgen]
impl SearchIndex {
    #[wasm_bindgen(constructor)]
    pub fn new(dim: usize) -> Result<SearchIndex, JsError> {
        if dim == 0 {
            return Err(JsError::new("an index needs a positive embedding dimension"));
        }
        Ok(SearchIndex { dim, rows: Vec::new() })
    }

    /// Replaces the rows: f16 little-endian, `dim` per row.
    pub fn set(&mut self, f16_rows: Vec<u8>) -> Result<(), JsError> {
        if !f16_rows.len().is_multiple_of(self.dim * 2) {
            return Err(JsError::new(&format!(
                "{} bytes are not whole rows of {} f16 values",
                f16_rows.len(),
                self.dim
            )));
        }
        self.rows = index::f16_rows_to_f32(&f16_rows);
        Ok(())
    }

    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.rows.len() / self.dim
    }

    /// The `k` best rows for row `row`'s own embedding ("more like this"; the row itself comes
    /// first).
    #[wasm_bindgen(js_name = searchRow)]
    pub fn search_row(&self, row: usize, k: usize) -> Result<JsValue, JsError> {
        let d = self.dim;
        let q = self.rows.get(row * d..(row + 1) * d).ok_or_else(|| JsError::new(&format!("no row {row}")))?;
        self.search(q.to_vec(), k)
    }

    /// The `k` best rows for `query` (any length-`dim` vector; normalised here): `{rows:
    /// Uint32Array, scores: Float32Array}`, best first, ties by row.
    pub fn search(&self, query: Vec<f32>, k: usize) -> Result<JsValue, JsError> {
        if query.len() != self.dim {
            return Err(JsError::new(&format!(
                "the query has {} values; the index holds {}-d rows",
                query.len(),
                self.dim
            )));
        }
        let found = index::search_f32_rows(&self.rows, &index::unit(&query), 0, k);
        let rows: Vec<u32> = found.iter().map(|f| f.2 as u32).collect();
        let scores: Vec<f32> = found.iter().map(|f| f.0).collect();
        let out = Object::new();
        set(&out, "rows", Uint32Array::from(rows.as_slice()))?;
        set(&out, "scores", Float32Array::from(scores.as_slice()))?;
        Ok(out.into())
    }
}

/// An f16 `.npy` of rows kept as f16 bytes.
#[wasm_bindgen(js_name = npyFromF16)]
pub fn npy_from_f16(dim: usize, f16_rows: &[u8]) -> Result<Uint8Array, JsError> {
    Ok(Uint8Array::from(index::npy_from_f16(dim, f16_rows).map_err(js_err)?.as_slice()))
}

/// An `.npy` of embeddings: `{dtype: "f16" | "f32", rows, dim, data}` with `data` the rows as
/// f16 bytes (an f32 file rounded).
#[wasm_bindgen(js_name = parseNpy)]
pub fn parse_npy(bytes: &[u8]) -> Result<JsValue, JsError> {
    let v = NpyView::parse(bytes).map_err(js_err)?;
    let out = Object::new();
    set(&out, "dtype", v.dtype.as_str())?;
    set(&out, "rows", v.rows as u32)?;
    set(&out, "dim", v.dim as u32)?;
    set(&out, "data", Uint8Array::from(v.to_f16_bytes(bytes).as_slice()))?;
    Ok(out.into())
}

/// `metadata_{k}.parquet` from its columns (`sizes` in bytes, as float64 since JS numbers are).
#[wasm_bindgen(js_name = metadataParquet)]
pub fn metadata_parquet(
    paths: Vec<String>,
    widths: &[i32],
    heights: &[i32],
    sizes: &[f64],
) -> Result<Uint8Array, JsError> {
    let n = paths.len();
    if widths.len() != n || heights.len() != n || sizes.len() != n {
        return Err(JsError::new("metadata columns of different lengths"));
    }
    let rows: Vec<Meta> = paths
        .into_iter()
        .enumerate()
        .map(|(i, image_path)| Meta { image_path, width: widths[i], height: heights[i], file_size: sizes[i] as i64 })
        .collect();
    Ok(Uint8Array::from(index::metadata_parquet(&rows).map_err(js_err)?.as_slice()))
}

/// A metadata parquet's columns: `{paths, widths, heights, sizes}`.
#[wasm_bindgen(js_name = readMetadata)]
pub fn read_metadata(bytes: Vec<u8>) -> Result<JsValue, JsError> {
    let rows = index::read_metadata(bytes.into()).map_err(js_err)?;
    let out = Object::new();
    let paths: js_sys::Array = rows.iter().map(|r| JsValue::from_str(&r.image_path)).collect();
    set(&out, "paths", paths)?;
    let widths: Vec<i32> = rows.iter().map(|r| r.width).collect();
    let heights: Vec<i32> = rows.iter().map(|r| r.height).collect();
    let sizes: Vec<f64> = rows.iter().map(|r| r.file_size as f64).collect();
    set(&out, "widths", Int32Array::from(widths.as_slice()))?;
    set(&out, "heights", Int32Array::from(heights.as_slice()))?;
    set(&out, "sizes", Float64Array::from(sizes.as_slice()))?;
    Ok(out.into())
}

/// The model hash of a folder whose weights stream by (see `webclip::index::ModelHash`).
#[wasm_bindgen]
pub struct ModelHasher {
    hash: ModelHash,
    sampler: StreamSampler,
}

#[wasm_bindgen]
impl ModelHasher {
    #[wasm_bindgen(constructor)]
    pub fn new(
        config: Option<Vec<u8>>,
        open_clip_config: Option<Vec<u8>>,
        preprocessor: Option<Vec<u8>>,
    ) -> ModelHasher {
        ModelHasher { hash: small_files_hash(&config, &open_clip_config, &preprocessor), sampler: StreamSampler::new() }
    }

    /// The next bytes of the weights file.
    pub fn push(&mut self, chunk: &[u8]) {
        self.sampler.push(chunk);
    }

    /// The hash, or `undefined` if the weights did not arrive whole.
    pub fn finish(&self) -> Option<String> {
        let mut h = self.hash.clone();
        self.sampler.finish(&mut h).then(|| h.finish())
    }
}

/// The hash started with the small files present, in the order the CLI reads them.
pub(crate) fn small_files_hash(
    config: &Option<Vec<u8>>,
    open_clip_config: &Option<Vec<u8>>,
    preprocessor: &Option<Vec<u8>>,
) -> ModelHash {
    let mut h = ModelHash::new();
    for (name, bytes) in index::HASHED_FILES.iter().zip([config, open_clip_config, preprocessor]) {
        if let Some(b) = bytes {
            h.small_file(name, b);
        }
    }
    h
}

/// The file extensions a collection's walk takes (lowercase, without the dot).
#[wasm_bindgen(js_name = imageExtensions)]
pub fn image_extensions() -> Vec<String> {
    index::IMAGE_EXTENSIONS.iter().map(|s| s.to_string()).collect()
}

/// Why a file of `bytes` bytes is skipped unread (too large), if it is.
#[wasm_bindgen(js_name = tooLarge)]
pub fn too_large(bytes: f64) -> Option<String> {
    index::too_large(bytes as u64)
}
