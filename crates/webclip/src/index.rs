//! A collection index's files and its search, as bytes: what `webclip index` / `webclip search`
//! (native) and the page's Library (wasm) share, so that both write the same files and rank the
//! same way.
//!
//! The layout is clip-retrieval's (autofaiss, faiss and clip-retrieval's back end read it
//! unchanged):
//!
//! ```text
//! INDEX/img_emb/img_emb_{k}.npy            [rows, dim] L2-normalised, f16 (default) or f32
//! INDEX/metadata/metadata_{k}.parquet      image_path, width, height, file_size; row-aligned
//! INDEX/index.json                         model id and hash, dim, dtype, counts, partitions
//! INDEX/errors.jsonl                       one line per skipped file: path, reason, partition
//! ```
//!
//! - `.npy`: NPY v1.0, little-endian `<f2` / `<f4`, C order ([`npy_bytes`], [`NpyView`]).
//! - `.parquet`: written with the parquet crate's own writer (no arrow), one row group, the four
//!   columns required ([`metadata_parquet`], [`read_metadata`]).
//! - The model hash ([`ModelHash`]): FNV-1a 64 over `config.json`, `open_clip_config.json`,
//!   `preprocessor_config.json` (those present, each preceded by its name), then for the weights
//!   file its length and 16 windows of 64 KiB spread evenly over it. Reading 1 MiB keeps it
//!   instant natively; in the page the windows are picked out of the download as it streams
//!   ([`StreamSampler`]), so the page and the CLI compute the same hash for the same folder.
//! - Search ([`search_rows`]): exact cosine, one f32 dot product per row with eight partial sums
//!   (the same order everywhere, so the page and the CLI give the same scores bit for bit on the
//!   same rows), ties broken by position.

use std::ops::Range;
use std::sync::Arc;

use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::RowAccessor;
use parquet::schema::parser::parse_message_type;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// File extensions a collection's walk picks up (compared lowercased): the formats the core
/// decodes.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"];

/// Whether `name` (a file name or path) has one of [`IMAGE_EXTENSIONS`].
pub fn has_image_extension(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(_, e)| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Files larger than this are skipped as too large, before being read.
pub const MAX_FILE_BYTES: u64 = 512 << 20;

/// The reason a file of `len` bytes is skipped unread, if it is.
pub fn too_large(len: u64) -> Option<String> {
    (len > MAX_FILE_BYTES).then(|| format!("too large: {len} bytes (over {} MiB)", MAX_FILE_BYTES >> 20))
}

/// Embedding dtype on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    F16,
    F32,
}

impl Dtype {
    /// NumPy's `descr`.
    pub fn descr(self) -> &'static str {
        match self {
            Dtype::F16 => "<f2",
            Dtype::F32 => "<f4",
        }
    }

    /// Bytes per value.
    pub fn size(self) -> usize {
        match self {
            Dtype::F16 => 2,
            Dtype::F32 => 4,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Dtype::F16 => "f16",
            Dtype::F32 => "f32",
        }
    }
}

impl std::str::FromStr for Dtype {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f16" => Ok(Dtype::F16),
            "f32" => Ok(Dtype::F32),
            _ => Err(Error::InvalidInput(format!("embedding dtype must be f16 or f32, got {s:?}"))),
        }
    }
}

/// `img_emb/img_emb_{k}.npy`, relative to the index folder.
pub fn emb_name(k: usize) -> String {
    format!("img_emb/img_emb_{k}.npy")
}

/// `metadata/metadata_{k}.parquet`, relative to the index folder.
pub fn meta_name(k: usize) -> String {
    format!("metadata/metadata_{k}.parquet")
}

fn bad(what: &str, why: impl std::fmt::Display) -> Error {
    Error::Index(format!("{what}: {why}"))
}

// ---------------------------------------------------------------------------------------------
// Embeddings

/// Each row of `rows` (`dim` values each) scaled to unit length (an all-zero row stays zero).
pub fn normalise_rows(rows: &mut [f32], dim: usize) {
    for r in rows.chunks_exact_mut(dim.max(1)) {
        let norm = r.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        r.iter_mut().for_each(|x| *x /= norm);
    }
}

/// NPY v1.0 header for `[rows, dim]`: magic, dict padded so the data starts at a multiple of 64.
fn npy_header(dtype: Dtype, rows: usize, dim: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '{}', 'fortran_order': False, 'shape': ({rows}, {dim}), }}", dtype.descr());
    let unpadded = 10 + dict.len() + 1;
    let total = unpadded.div_ceil(64) * 64;
    let mut h = b"\x93NUMPY\x01\x00".to_vec();
    h.extend_from_slice(&((total - 10) as u16).to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h.resize(total - 1, b' ');
    h.push(b'\n');
    h
}

/// An `.npy` file of `values` (`[values.len() / dim, dim]`) stored as `dtype`.
pub fn npy_bytes(dtype: Dtype, dim: usize, values: &[f32]) -> Vec<u8> {
    let rows = values.len() / dim.max(1);
    let mut bytes = npy_header(dtype, rows, dim);
    bytes.reserve(values.len() * dtype.size());
    match dtype {
        Dtype::F32 => values.iter().for_each(|v| bytes.extend_from_slice(&v.to_le_bytes())),
        Dtype::F16 => values.iter().for_each(|v| bytes.extend_from_slice(&half::f16::from_f32(*v).to_le_bytes())),
    }
    bytes
}

/// An f16 `.npy` of rows already stored as f16 little-endian bytes (what the page keeps).
pub fn npy_from_f16(dim: usize, f16_bytes: &[u8]) -> Result<Vec<u8>> {
    let row = dim * 2;
    if dim == 0 || !f16_bytes.len().is_multiple_of(row) {
        return Err(bad("embeddings", format!("{} bytes are not whole rows of {dim} f16 values", f16_bytes.len())));
    }
    let mut bytes = npy_header(Dtype::F16, f16_bytes.len() / row, dim);
    bytes.extend_from_slice(f16_bytes);
    Ok(bytes)
}

/// `values` as f16 little-endian bytes (the rounding [`npy_bytes`] does).
pub fn f16_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect()
}

/// The header of an `.npy` of `[rows, dim]` f16 or f32 and where its data starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NpyView {
    pub dtype: Dtype,
    pub rows: usize,
    pub dim: usize,
    /// Byte offset of the first value.
    pub offset: usize,
}

impl NpyView {
    /// Reads the header of `bytes` (a whole file: it must hold every row its shape says).
    pub fn parse(bytes: &[u8]) -> Result<NpyView> {
        let bad = |why: &str| bad("not an embeddings .npy", why);
        if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
            return Err(bad("no NPY magic"));
        }
        let (hlen, start) = match bytes[6] {
            1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
            2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
            _ => return Err(bad("unknown NPY version")),
        };
        let header = bytes.get(start..start + hlen).ok_or_else(|| bad("header runs past the end"))?;
        let header = std::str::from_utf8(header).map_err(|_| bad("header is not text"))?;
        let dtype = if header.contains("'<f2'") {
            Dtype::F16
        } else if header.contains("'<f4'") {
            Dtype::F32
        } else {
            return Err(bad("dtype is neither <f2 nor <f4"));
        };
        if header.contains("'fortran_order': True") {
            return Err(bad("Fortran order"));
        }
        let shape = header
            .split_once("'shape': (")
            .and_then(|(_, r)| r.split_once(')'))
            .map(|(s, _)| s.split(',').filter_map(|x| x.trim().parse::<usize>().ok()).collect::<Vec<_>>())
            .ok_or_else(|| bad("no shape"))?;
        let [rows, dim] = shape[..] else { return Err(bad("not 2-D")) };
        let offset = start + hlen;
        let need = rows.checked_mul(dim).and_then(|n| n.checked_mul(dtype.size())).and_then(|n| n.checked_add(offset));
        if need.is_none_or(|n| bytes.len() < n) {
            return Err(bad("shorter than its shape"));
        }
        Ok(NpyView { dtype, rows, dim, offset })
    }

    /// Rows `range` of the file `bytes` as f32 into `out` (`range.len() · dim`); `halves` is
    /// scratch for f16 files, kept by the caller so that a scan allocates nothing per block.
    pub fn rows_f32(&self, bytes: &[u8], range: Range<usize>, out: &mut [f32], halves: &mut Vec<half::f16>) {
        let b = &bytes[self.offset + range.start * self.dim * self.dtype.size()..];
        match self.dtype {
            Dtype::F32 => {
                for (o, c) in out.iter_mut().zip(b.chunks_exact(4)) {
                    *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
            Dtype::F16 => f16_to_f32(b, out, halves),
        }
    }

    /// Every row as f16 little-endian bytes (an f32 file is rounded to f16).
    pub fn to_f16_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let data = &bytes[self.offset..self.offset + self.rows * self.dim * self.dtype.size()];
        match self.dtype {
            Dtype::F16 => data.to_vec(),
            Dtype::F32 => data
                .chunks_exact(4)
                .flat_map(|c| half::f16::from_f32(f32::from_le_bytes([c[0], c[1], c[2], c[3]])).to_le_bytes())
                .collect(),
        }
    }
}

/// f16 little-endian bytes → f32 (as many as `out` holds).
fn f16_to_f32(bytes: &[u8], out: &mut [f32], halves: &mut Vec<half::f16>) {
    use half::slice::HalfFloatSliceExt;
    let n = out.len();
    halves.resize(n, half::f16::ZERO);
    for (h, c) in halves.iter_mut().zip(bytes.chunks_exact(2)) {
        *h = half::f16::from_le_bytes([c[0], c[1]]);
    }
    halves[..n].convert_to_f32_slice(out);
}

// ---------------------------------------------------------------------------------------------
// Search

/// One match: score (cosine similarity), then its position (partition, row).
pub type Found = (f32, usize, usize);

/// Keeps `top` the `k` best (highest score, then lowest partition/row) in order.
pub fn push_top(top: &mut Vec<Found>, item: Found, k: usize) {
    let better = |a: &Found, b: &Found| a.0 > b.0 || (a.0 == b.0 && (a.1, a.2) < (b.1, b.2));
    if top.len() == k && top.last().is_none_or(|l| !better(&item, l)) {
        return;
    }
    let at = top.iter().position(|x| better(&item, x)).unwrap_or(top.len());
    top.insert(at, item);
    top.truncate(k);
}

/// The dot product every search uses (eight partial sums: vectorised without reassociation, so
/// the result is the same on every target).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ac.zip(bc) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `query` scaled to unit length.
pub fn unit(query: &[f32]) -> Vec<f32> {
    let norm = query.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    query.iter().map(|x| x / norm).collect()
}

/// Rows per block of a scan: one block converted to f32 at a time.
pub const SEARCH_BLOCK: usize = 4096;

/// The `k` rows of `f32_rows` (`dim` each, already f32) best matching the unit vector `q`,
/// pushed into `top` as `(score, partition, first_row + i)`.
pub fn scan_block(top: &mut Vec<Found>, f32_rows: &[f32], q: &[f32], partition: usize, first_row: usize, k: usize) {
    for (i, row) in f32_rows.chunks_exact(q.len().max(1)).enumerate() {
        push_top(top, (dot(row, q), partition, first_row + i), k);
    }
}

/// f16 little-endian bytes as f32, exactly (what a search converts each block to).
pub fn f16_rows_to_f32(f16_rows: &[u8]) -> Vec<f32> {
    let mut out = vec![0f32; f16_rows.len() / 2];
    f16_to_f32(f16_rows, &mut out, &mut Vec::new());
    out
}

/// Exact top-`k` of f32 rows (`q.len()` values each) against the unit vector `q`, on one
/// thread: the page's search, which keeps its f16 rows converted (the CLI runs [`scan_block`]
/// over its cores on blocks it converts as it goes; the scores are the same).
pub fn search_f32_rows(rows: &[f32], q: &[f32], partition: usize, k: usize) -> Vec<Found> {
    let mut top = Vec::with_capacity(k + 1);
    scan_block(&mut top, rows, q, partition, 0, k);
    top
}

// ---------------------------------------------------------------------------------------------
// Parquet metadata

/// One row of `metadata_{k}.parquet`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub image_path: String,
    pub width: i32,
    pub height: i32,
    pub file_size: i64,
}

const META_SCHEMA: &str = "message schema {
    REQUIRED BYTE_ARRAY image_path (UTF8);
    REQUIRED INT32 width;
    REQUIRED INT32 height;
    REQUIRED INT64 file_size;
}";

/// `metadata_{k}.parquet` of `rows`.
pub fn metadata_parquet(rows: &[Meta]) -> Result<Vec<u8>> {
    let perr = |e: parquet::errors::ParquetError| bad("writing parquet", e);
    let schema = Arc::new(parse_message_type(META_SCHEMA).map_err(perr)?);
    let props = Arc::new(WriterProperties::builder().build());
    let mut w = SerializedFileWriter::new(Vec::new(), schema, props).map_err(perr)?;
    let mut rg = w.next_row_group().map_err(perr)?;
    let mut col = 0;
    while let Some(mut c) = rg.next_column().map_err(perr)? {
        match col {
            0 => {
                let v: Vec<ByteArray> = rows.iter().map(|r| ByteArray::from(r.image_path.as_str())).collect();
                c.typed::<ByteArrayType>().write_batch(&v, None, None).map_err(perr)?;
            }
            1 | 2 => {
                let v: Vec<i32> = rows.iter().map(|r| if col == 1 { r.width } else { r.height }).collect();
                c.typed::<Int32Type>().write_batch(&v, None, None).map_err(perr)?;
            }
            _ => {
                let v: Vec<i64> = rows.iter().map(|r| r.file_size).collect();
                c.typed::<Int64Type>().write_batch(&v, None, None).map_err(perr)?;
            }
        }
        c.close().map_err(perr)?;
        col += 1;
    }
    rg.close().map_err(perr)?;
    w.into_inner().map_err(perr)
}

/// The rows of a metadata file (ours, clip-retrieval's, or any parquet with an `image_path`
/// column; missing width/height/file_size read as 0).
pub fn read_metadata(bytes: bytes::Bytes) -> Result<Vec<Meta>> {
    let perr = |e: parquet::errors::ParquetError| bad("reading parquet", e);
    let reader = SerializedFileReader::new(bytes).map_err(perr)?;
    let names: Vec<String> =
        reader.metadata().file_metadata().schema_descr().columns().iter().map(|c| c.name().to_string()).collect();
    let col = |n: &str| names.iter().position(|x| x == n);
    let path_col = col("image_path").ok_or_else(|| bad("reading parquet", "no image_path column"))?;
    let mut out = Vec::new();
    for row in reader.get_row_iter(None).map_err(perr)? {
        let row = row.map_err(perr)?;
        out.push(Meta {
            image_path: row.get_string(path_col).map_err(perr)?.clone(),
            width: col("width").and_then(|i| row.get_int(i).ok()).unwrap_or(0),
            height: col("height").and_then(|i| row.get_int(i).ok()).unwrap_or(0),
            file_size: col("file_size").and_then(|i| row.get_long(i).ok()).unwrap_or(0),
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Model identity

/// FNV-1a, 64 bits.
#[derive(Clone, Debug)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// Bytes per sample window of the weights.
pub const SAMPLE_BYTES: u64 = 64 << 10;
/// Sample windows per weights file.
pub const SAMPLES: u64 = 16;

/// The small files the hash covers, in order.
pub const HASHED_FILES: [&str; 3] = ["config.json", "open_clip_config.json", "preprocessor_config.json"];

/// What identifies a model's embeddings (see the module doc): an index is only extended or
/// searched with the model that made it.
#[derive(Clone, Debug, Default)]
pub struct ModelHash {
    fnv: Fnv,
}

impl ModelHash {
    pub fn new() -> Self {
        Self::default()
    }

    /// One of [`HASHED_FILES`] (call in that order, for those present).
    pub fn small_file(&mut self, name: &str, bytes: &[u8]) {
        self.fnv.write(name.as_bytes());
        self.fnv.write(bytes);
    }

    /// Where to sample a weights file of `len` bytes: 16 windows of 64 KiB (clipped to the file)
    /// from its start to its end, in order (they overlap on files under 1 MiB).
    pub fn sample_ranges(len: u64) -> Vec<Range<u64>> {
        (0..SAMPLES)
            .map(|s| {
                let at = len.saturating_sub(SAMPLE_BYTES) * s / (SAMPLES - 1);
                at..(at + SAMPLE_BYTES).min(len)
            })
            .collect()
    }

    /// A weights file: its length and the bytes of its [`sample_ranges`](Self::sample_ranges).
    pub fn weights(&mut self, len: u64, samples: &[&[u8]]) {
        self.fnv.write(&len.to_le_bytes());
        for s in samples {
            self.fnv.write(s);
        }
    }

    /// Lowercase hex, 16 digits.
    pub fn finish(&self) -> String {
        format!("{:016x}", self.fnv.0)
    }
}

/// Picks the sample windows out of a safetensors file that arrives in order, in chunks (a
/// download): the file's length comes from its own header (8-byte size, then JSON whose largest
/// `data_offsets` end is the data's length), so nothing needs to be known up front.
#[derive(Debug, Default)]
pub struct StreamSampler {
    /// Bytes from the start, kept until the header is complete.
    head: Vec<u8>,
    len: Option<u64>,
    pos: u64,
    windows: Vec<(Range<u64>, Vec<u8>)>,
    failed: bool,
}

impl StreamSampler {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next bytes of the file.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.failed {
            return;
        }
        if self.len.is_none() {
            self.head.extend_from_slice(chunk);
            match safetensors_len(&self.head) {
                Ok(Some(len)) => {
                    self.len = Some(len);
                    self.windows = ModelHash::sample_ranges(len).into_iter().map(|r| (r, Vec::new())).collect();
                    let head = std::mem::take(&mut self.head);
                    self.take(&head);
                }
                Ok(None) => {}
                Err(_) => {
                    self.failed = true;
                    self.head = Vec::new();
                }
            }
            return;
        }
        self.take(chunk);
    }

    fn take(&mut self, chunk: &[u8]) {
        let span = self.pos..self.pos + chunk.len() as u64;
        for (r, buf) in &mut self.windows {
            let (s, e) = (r.start.max(span.start), r.end.min(span.end));
            if s < e {
                buf.extend_from_slice(&chunk[(s - span.start) as usize..(e - span.start) as usize]);
            }
        }
        self.pos = span.end;
    }

    /// Adds the file to `hash` if every sampled byte arrived; else `false` (a broken or short
    /// file: the model load reports why).
    pub fn finish(&self, hash: &mut ModelHash) -> bool {
        let Some(len) = self.len else { return false };
        if self.windows.iter().any(|(r, b)| b.len() as u64 != r.end - r.start) {
            return false;
        }
        let samples: Vec<&[u8]> = self.windows.iter().map(|(_, b)| b.as_slice()).collect();
        hash.weights(len, &samples);
        true
    }
}

/// The total length a safetensors file's header declares, once `head` holds the header.
fn safetensors_len(head: &[u8]) -> Result<Option<u64>> {
    let Some(prefix) = head.get(..8) else { return Ok(None) };
    let n = crate::loader::header_len(prefix)?;
    let Some(json) = head.get(8..8 + n as usize) else { return Ok(None) };
    let v: serde_json::Value = serde_json::from_slice(json).map_err(|e| Error::Safetensors(e.to_string()))?;
    let end = v
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, t)| t.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    Ok(Some(8 + n + end))
}

/// The hash of a model given as whole files (`weights`: the safetensors file's bytes).
pub fn model_hash_of(small: &[(&str, Option<&[u8]>)], weights: &[u8]) -> String {
    let mut h = ModelHash::new();
    for name in HASHED_FILES {
        if let Some((_, Some(b))) = small.iter().find(|(n, _)| *n == name) {
            h.small_file(name, b);
        }
    }
    let len = weights.len() as u64;
    let samples: Vec<&[u8]> =
        ModelHash::sample_ranges(len).into_iter().map(|r| &weights[r.start as usize..r.end as usize]).collect();
    h.weights(len, &samples);
    h.finish()
}

// ---------------------------------------------------------------------------------------------
// index.json

/// `index.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IndexInfo {
    /// "clip-retrieval": the folder layout.
    pub layout: String,
    pub webclip_version: String,
    /// The model's name, for people.
    pub model_id: String,
    /// [`ModelHash`]: an index is only extended or searched with the model that made it.
    pub model_hash: String,
    /// The model folder as given when indexing: `search`'s default `--model` (empty when the
    /// page made the index).
    pub model_path: String,
    pub embedding_dim: usize,
    pub dtype: Dtype,
    pub partition_size: usize,
    /// `[I, N]` for a shard, `None` for a whole index (or a merged one).
    pub shard: Option<[usize; 2]>,
    /// Input files this index (or shard) covers.
    pub inputs: usize,
    /// Rows embedded (inputs minus skipped files) in the finished partitions.
    pub count: usize,
    /// Skipped files in the finished partitions (listed in errors.jsonl).
    pub skipped: usize,
    /// Finished partitions: number → rows.
    pub partitions: std::collections::BTreeMap<usize, usize>,
    /// All planned partitions are finished.
    pub complete: bool,
}

/// One line of `errors.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorLine {
    pub path: String,
    pub reason: String,
    pub partition: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip_and_f16_rows() {
        let v: Vec<f32> = (0..24).map(|i| i as f32 / 7.0).collect();
        for dtype in [Dtype::F16, Dtype::F32] {
            let b = npy_bytes(dtype, 8, &v);
            assert_eq!(b.len() % 2, 0);
            let h = NpyView::parse(&b).unwrap();
            assert_eq!((h.dtype, h.rows, h.dim, h.offset % 64), (dtype, 3, 8, 0));
            let mut out = vec![0f32; 16];
            h.rows_f32(&b, 1..3, &mut out, &mut Vec::new());
            let tol = if dtype == Dtype::F16 { 1e-3 } else { 0.0 };
            assert!(out.iter().zip(&v[8..]).all(|(a, b)| (a - b).abs() <= tol));
            assert_eq!(h.to_f16_bytes(&b), f16_bytes(&v));
        }
        assert_eq!(npy_from_f16(8, &f16_bytes(&v)).unwrap(), npy_bytes(Dtype::F16, 8, &v));
        assert!(npy_from_f16(8, &[0; 6]).is_err());
        let mut short = npy_bytes(Dtype::F16, 8, &v);
        short.pop();
        assert!(NpyView::parse(&short).unwrap_err().to_string().contains("shorter"));
    }

    #[test]
    fn parquet_round_trip() {
        let rows: Vec<Meta> = (0..5)
            .map(|i| Meta { image_path: format!("a/é{i}.jpg"), width: i, height: 2 * i, file_size: 1 << (30 + i) })
            .collect();
        let b = metadata_parquet(&rows).unwrap();
        assert_eq!(&b[..4], b"PAR1");
        assert_eq!(read_metadata(bytes::Bytes::from(b)).unwrap(), rows);
        assert!(read_metadata(bytes::Bytes::from_static(b"not parquet")).is_err());
    }

    #[test]
    fn search_orders_by_score_then_position() {
        // Four 4-d rows: two equal best ones (ties keep row order), then a worse one.
        let rows = [1.0, 0.0, 0.0, 0.0, 0.6, 0.8, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0];
        let q = unit(&[2.0, 0.0, 0.0, 0.0]);
        let found = search_f32_rows(&f16_rows_to_f32(&f16_bytes(&rows)), &q, 0, 3);
        let want: Vec<Found> =
            [(1.0, 0, 0), (1.0, 0, 2), (0.6, 0, 1)].iter().map(|&(s, p, r)| (f16r(s), p, r)).collect();
        assert_eq!(found, want);
    }

    fn f16r(x: f32) -> f32 {
        half::f16::from_f32(x).to_f32()
    }

    #[test]
    fn streamed_hash_equals_whole_file_hash() {
        // A safetensors file of 1.5 MiB (windows spread and not overlapping) and one of 40 bytes.
        for data_len in [3usize << 19, 40] {
            let header = format!(r#"{{"w":{{"dtype":"U8","shape":[{data_len}],"data_offsets":[0,{data_len}]}}}}"#);
            let mut file = (header.len() as u64).to_le_bytes().to_vec();
            file.extend_from_slice(header.as_bytes());
            file.extend((0..data_len).map(|i| (i * 31 % 251) as u8));
            let whole = model_hash_of(&[("config.json", Some(b"{}"))], &file);
            for chunk in [1usize, 7, 4096, 1 << 20] {
                let mut s = StreamSampler::new();
                file.chunks(chunk).for_each(|c| s.push(c));
                let mut h = ModelHash::new();
                h.small_file("config.json", b"{}");
                assert!(s.finish(&mut h));
                assert_eq!(h.finish(), whole, "chunks of {chunk}");
            }
            let mut s = StreamSampler::new();
            s.push(&file[..file.len() - 1]);
            assert!(!s.finish(&mut ModelHash::new()), "a short file has no hash");
        }
    }
}
