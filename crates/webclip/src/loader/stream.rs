//! Weights loaded as the bytes of `model.safetensors` arrive, so that a large checkpoint never
//! sits in memory twice (the file, then the weights made from it).
//!
//! [`StreamingSource::push`] takes the file in chunks of any size. Once the header is in, each
//! tensor is converted (f16/bf16 → f32, int8 × its per-row scales), laid out for Burn (the
//! transposes the model's [`ClipModel::plan`] asks for) and uploaded to the device as soon as its
//! last byte arrives; the chunk bytes are dropped. Float tensors kept as stored (embeddings,
//! norms, biases) are converted element by element as they arrive, so their raw bytes are never
//! held whole; what else stays on the host is at most one partial transposed or int8 tensor
//! (plus, for q8 files, an int8 tensor waiting for its scales). On a GPU the weights leave
//! host memory altogether; on the CPU backend they are the f32 weights themselves. The model is
//! then built from the uploaded tensors ([`WeightSource::take_device`]).
//!
//! A model that will run in f16 ([`StreamingSource::narrow_to_f16`]) gets its matrices (every
//! tensor of rank ≥ 2: the Linear weights, embeddings, the patch convolution — exactly what
//! [`crate::model::precision::cast_model`] narrows, never a LayerNorm) uploaded as f16 straight
//! away, whatever the file holds (f32, f16, bf16, int8 × scales): half the bytes to upload, and
//! the device never holds the f32 model that a load-then-cast would (what is left, 1-D biases and
//! the like, is cast afterwards by [`crate::Clip::with_precision`]).
//!
//! Only the HF key naming streams (OpenCLIP's packed `in_proj` tensors are cut into q/k/v,
//! which needs the whole tensor at build time anyway: those folders take the whole-file path).
//! Every check of the whole-file path holds: missing, unexpected and mis-shaped tensors are
//! named, and a file that ends early says so.

use std::collections::{BTreeMap, HashMap};

use burn::tensor::{DType, Device, Tensor, TensorData};
use safetensors::Dtype;

use super::{
    dequantize, dtype_name, header_len, ignorable, no_scale_error, to_f32, to_f32_transposed, weight_problems,
};
use crate::config::ClipConfig;
use crate::error::{Error, Result};
use crate::model::{ClipModel, Init, Layout, Towers, WeightSource, transpose};

/// One tensor of the header.
#[derive(Debug, Clone)]
struct Entry {
    key: String,
    dtype: Dtype,
    shape: Vec<usize>,
    /// Byte range within the data section.
    start: u64,
    end: u64,
}

enum State {
    /// Waiting for the 8-byte length and the header.
    Header,
    /// In the data section: `next` is the first entry not yet complete.
    Data { next: usize },
}

/// A [`WeightSource`] fed chunk by chunk (see the module docs).
pub struct StreamingSource {
    device: Device,
    /// What the model will ask for: key → (HF shape, layout).
    plan: BTreeMap<String, (Vec<usize>, Layout)>,
    state: State,
    /// Bytes received but not yet consumed; `buf[0]` is at `buf_at` in the data section (or at
    /// the start of the file while the header is read).
    buf: Vec<u8>,
    buf_at: u64,
    entries: Vec<Entry>,
    /// Uploaded tensors, flat, in Burn's layout.
    ready: HashMap<String, Tensor<1>>,
    /// q8: per-row scales that arrived before their int8 tensor, and int8 tensors waiting for
    /// their scales.
    scales: HashMap<String, Vec<f32>>,
    waiting_q8: HashMap<String, Entry>,
    waiting_bytes: HashMap<String, Vec<u8>>,
    mismatched: Vec<String>,
    unexpected: Vec<String>,
    received: u64,
    total: Option<u64>,
    /// The f32 values converted so far of the tensor being received, when it is converted as
    /// it arrives (see [`StreamingSource::converts_early`]).
    partial: Vec<f32>,
    /// Upload matrices as f16 (module docs).
    narrow_f16: bool,
    /// During [`StreamingSource::push_shared`]: the whole file, whose f32 tensors become the
    /// CPU backend's weights without a copy.
    shared: Option<bytes::Bytes>,
    /// The towers being built: the others' tensors are let go as they pass.
    towers: Towers,
    /// Where the data section starts in the file (`8 + header length`).
    data_start: u64,
}

impl StreamingSource {
    /// A source for `config`'s model on `device`, before any byte arrived.
    pub fn new(config: &ClipConfig, device: &Device) -> Result<Self> {
        Self::with_towers(config, device, Towers::Both)
    }

    /// A source for only `towers` of `config`'s model (the other tower's tensors are skipped).
    pub fn with_towers(config: &ClipConfig, device: &Device, towers: Towers) -> Result<Self> {
        Ok(StreamingSource {
            towers,
            device: device.clone(),
            plan: ClipModel::plan(config, device, towers)?,
            state: State::Header,
            buf: Vec::new(),
            buf_at: 0,
            entries: Vec::new(),
            ready: HashMap::new(),
            scales: HashMap::new(),
            waiting_q8: HashMap::new(),
            waiting_bytes: HashMap::new(),
            mismatched: Vec::new(),
            unexpected: Vec::new(),
            received: 0,
            total: None,
            partial: Vec::new(),
            narrow_f16: false,
            shared: None,
            data_start: 0,
        })
    }

    /// Uploads every tensor of rank ≥ 2 as f16 from now on (module docs). The device must have
    /// f16 ([`crate::model::Precision::resolve`] checks that).
    pub fn narrow_to_f16(&mut self) {
        self.narrow_f16 = true;
    }

    /// Bytes of f32 weights the model will hold (known from the config alone): what a caller
    /// compares with the memory it has before downloading anything.
    pub fn f32_weight_bytes(config: &ClipConfig, device: &Device, towers: Towers) -> Result<u64> {
        Ok(ClipModel::plan(config, device, towers)?.values().map(|(s, _)| s.iter().product::<usize>() as u64 * 4).sum())
    }

    /// The file's size, once the header has arrived.
    pub fn file_size(&self) -> Option<u64> {
        self.total
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The next bytes of the file.
    pub fn push(&mut self, chunk: &[u8]) -> Result<()> {
        // A first chunk that holds the header and more: the header alone takes the buffered
        // path, the rest the zero-copy one.
        if matches!(self.state, State::Header) && self.buf.is_empty() && chunk.len() >= 8 {
            let end = header_len(chunk)?.saturating_add(8);
            if (chunk.len() as u64) > end {
                let (header, rest) = chunk.split_at(end as usize);
                self.push(header)?;
                return self.push(rest);
            }
        }
        self.received += chunk.len() as u64;
        if let Some(total) = self.total
            && self.received > total
        {
            return Err(Error::Safetensors(format!(
                "more bytes arrived ({}) than the header describes ({total})",
                self.received
            )));
        }
        if self.buf.is_empty() && matches!(self.state, State::Data { .. }) {
            // Nothing pending: tensors are converted straight from the caller's bytes (a whole
            // memory-mapped file natively), and only the tail of an unfinished one is kept.
            let used = self.drain_from(chunk)?;
            self.buf.extend_from_slice(&chunk[used..]);
            return Ok(());
        }
        self.buf.extend_from_slice(chunk);
        if matches!(self.state, State::Header) && !self.read_header()? {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        let used = self.drain_from(&buf);
        self.buf = buf;
        let used = used?;
        self.buf.drain(..used);
        Ok(())
    }

    /// The whole file at once, held by `file` (natively a memory map: `bytes::Bytes::from_owner`).
    /// On the CPU backend in f32 every f32 tensor the model keeps as stored becomes a weight
    /// that *is* those bytes — no copy, no fresh memory (which the kernel must zero page by page:
    /// most of a copying load's time), and the process's weights are the page cache's one copy of
    /// the file; `file` stays alive as long as those weights. Linear weights qualify because
    /// native CPU inference holds them as transposed views (`crate::model::build`). Everything
    /// else (other dtypes, a GPU, f16, misaligned data) is converted as by [`Self::push`].
    pub fn push_shared(&mut self, file: bytes::Bytes) -> Result<()> {
        if !matches!(self.state, State::Header) || self.received > 0 {
            return self.push(&file);
        }
        self.shared = Some(file.clone());
        let pushed = self.push(&file);
        self.shared = None;
        pushed
    }

    /// Whether [`Self::push_shared`] can keep tensors as the file's bytes on this device.
    pub fn shares_f32(&self) -> bool {
        !self.narrow_f16 && self.device == Device::flex() && !self.device.is_autodiff()
    }

    /// `e`'s bytes of the shared file as a weight tensor, when [`Self::push_shared`] applies to
    /// it: f32, planned with this shape, 4-byte aligned in memory.
    fn shared_tensor(&self, e: &Entry) -> Option<Tensor<1>> {
        let file = self.shared.as_ref()?;
        if e.dtype != Dtype::F32 || !self.shares_f32() || ignorable(&e.key) {
            return None;
        }
        if !matches!(self.plan.get(&e.key), Some((shape, Layout::AsIs)) if shape == &e.shape) {
            return None;
        }
        let range = (self.data_start + e.start) as usize..(self.data_start + e.end) as usize;
        let bytes = file.get(range.clone())?;
        if bytes.as_ptr().align_offset(4) != 0 || !cfg!(target_endian = "little") {
            return None;
        }
        let data = burn::tensor::Bytes::from_shared(file.slice(range), burn::tensor::AllocationProperty::File);
        let n = bytes.len() / 4;
        let data = TensorData::try_from_bytes(data, [n], DType::F32).ok()?;
        Some(Tensor::<1>::from_data(data, &self.device))
    }

    /// After the last chunk: every tensor must have arrived.
    pub fn end(&mut self) -> Result<()> {
        let complete = match self.state {
            State::Header => false,
            State::Data { next } => next == self.entries.len(),
        };
        if !complete {
            return Err(Error::Safetensors(format!(
                "the file ended after {} bytes{} (truncated download?)",
                self.received,
                self.total.map(|t| format!(" of the {t} its header describes")).unwrap_or_default()
            )));
        }
        match self.waiting_q8.keys().next() {
            Some(key) => Err(no_scale_error(key)),
            None => Ok(()),
        }
    }

    /// Parses the header once it is all in; `false` while it is not.
    fn read_header(&mut self) -> Result<bool> {
        if self.buf.len() < 8 {
            return Ok(false);
        }
        let n = header_len(&self.buf)? as usize;
        if self.buf.len() < 8 + n {
            return Ok(false);
        }
        let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&self.buf[8..8 + n])
            .map_err(|e| Error::Safetensors(format!("the header is not valid JSON metadata ({e})")))?;
        let mut entries = Vec::new();
        for (key, v) in header {
            if key == "__metadata__" {
                continue;
            }
            let bad = || Error::Safetensors(format!("the header entry of `{key}` is malformed"));
            let dtype: Dtype = serde_json::from_value(v.get("dtype").cloned().ok_or_else(bad)?).map_err(|_| bad())?;
            let shape: Vec<usize> =
                serde_json::from_value(v.get("shape").cloned().ok_or_else(bad)?).map_err(|_| bad())?;
            let offsets: [u64; 2] =
                serde_json::from_value(v.get("data_offsets").cloned().ok_or_else(bad)?).map_err(|_| bad())?;
            let numel = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64)).ok_or_else(bad)?;
            let bytes = numel.checked_mul(dtype.bitsize() as u64 / 8).ok_or_else(bad)?;
            if offsets[1] < offsets[0] || offsets[1] - offsets[0] != bytes {
                return Err(Error::Safetensors(format!("tensor `{key}` has invalid data offsets")));
            }
            entries.push(Entry { key, dtype, shape, start: offsets[0], end: offsets[1] });
        }
        entries.sort_by_key(|e| e.start);
        let mut at = 0;
        for e in &entries {
            if e.start != at {
                return Err(Error::Safetensors(format!("tensor `{}` has invalid data offsets", e.key)));
            }
            at = e.end;
        }
        self.total = Some(8 + n as u64 + at);
        if self.received > 8 + n as u64 + at {
            return Err(Error::Safetensors(format!(
                "more bytes arrived ({}) than the header describes ({})",
                self.received,
                8 + n as u64 + at
            )));
        }
        self.buf.drain(..8 + n);
        self.data_start = 8 + n as u64;
        // The buffer holds a chunk plus, for tensors not converted as they arrive (transposed
        // matrices, int8), one partial tensor. Sized once for the largest of those, it never
        // grows by doubling (which would briefly need room for 2.5 copies of it).
        let largest =
            entries.iter().filter(|e| !self.converts_early(e)).map(|e| (e.end - e.start) as usize).max().unwrap_or(0);
        self.buf.reserve(largest.saturating_sub(self.buf.len()) + (1 << 20));
        self.buf_at = 0;
        self.entries = entries;
        self.state = State::Data { next: 0 };
        Ok(true)
    }

    /// Whether `e` is converted to f32 as its bytes arrive, so that its raw bytes are never
    /// held whole: float tensors the model keeps as stored (the token and position embeddings,
    /// norms, biases — the largest tensors of a checkpoint), with the expected shape. Transposed
    /// matrices need all their rows first; int8 needs its scales.
    fn converts_early(&self, e: &Entry) -> bool {
        matches!(e.dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16)
            && !ignorable(&e.key)
            && matches!(self.plan.get(&e.key), Some((shape, Layout::AsIs)) if shape == &e.shape)
    }

    /// Converts and uploads every tensor whose bytes are all in `data` (the bytes from `buf_at`
    /// on), converts what has arrived of an early-converted one, and returns how many bytes of
    /// `data` are used up.
    fn drain_from(&mut self, data: &[u8]) -> Result<usize> {
        let State::Data { mut next } = self.state else {
            return Ok(0);
        };
        let start = self.buf_at;
        let have = start + data.len() as u64;
        let at = |pos: u64| (pos - start) as usize;
        while let Some(e) = self.entries.get(next).cloned() {
            if self.buf_at == e.start
                && e.end <= have
                && let Some(t) = self.shared_tensor(&e)
            {
                self.ready.insert(e.key.clone(), t);
                self.buf_at = e.end;
                next += 1;
                continue;
            }
            if self.converts_early(&e) {
                let size = e.dtype.bitsize() as u64 / 8;
                let to = e.end.min(have);
                let whole = (to - self.buf_at) / size * size;
                if whole > 0 {
                    if self.partial.is_empty() {
                        self.partial.reserve_exact(((e.end - e.start) / size) as usize);
                    }
                    let bytes = &data[at(self.buf_at)..at(self.buf_at + whole)];
                    let values = to_f32(&e.key, e.dtype, bytes)?;
                    self.partial.extend_from_slice(&values);
                    self.buf_at += whole;
                }
                if self.buf_at < e.end {
                    break;
                }
                let values = std::mem::take(&mut self.partial);
                self.upload(&e, values)?;
                next += 1;
                continue;
            }
            if e.end > have {
                break;
            }
            self.arrived(&e, &data[at(e.start)..at(e.end)])?;
            self.buf_at = e.end;
            next += 1;
        }
        self.state = State::Data { next };
        Ok(at(self.buf_at))
    }

    /// One complete tensor, `bytes`.
    fn arrived(&mut self, e: &Entry, bytes: &[u8]) -> Result<()> {
        if ignorable(&e.key) || self.towers.skips(&e.key) {
            return Ok(());
        }
        if let Some(base) = e.key.strip_suffix("_scale")
            && self.plan.contains_key(base)
        {
            let scales = to_f32(&e.key, e.dtype, bytes)?;
            if let Some(q) = self.waiting_q8.remove(base) {
                let waiting = self.waiting_bytes.remove(base).unwrap_or_default();
                let values = dequantize(&q.key, &q.shape, &waiting, &scales)?;
                self.upload(&q, values)?;
            } else {
                self.scales.insert(base.to_string(), scales);
            }
            return Ok(());
        }
        if !self.plan.contains_key(&e.key) {
            self.unexpected.push(e.key.clone());
            return Ok(());
        }
        let values = match e.dtype {
            Dtype::I8 => match self.scales.remove(&e.key) {
                Some(scales) => dequantize(&e.key, &e.shape, bytes, &scales)?,
                None => {
                    self.waiting_q8.insert(e.key.clone(), e.clone());
                    self.waiting_bytes.insert(e.key.clone(), bytes.to_vec());
                    return Ok(());
                }
            },
            Dtype::F32 | Dtype::F16 | Dtype::BF16 => match self.plan.get(&e.key) {
                Some((want, Layout::Transpose)) if want == &e.shape && want.len() == 2 => {
                    let values = to_f32_transposed(&e.key, e.dtype, bytes, want[0], want[1])?;
                    return self.upload_laid_out(e, values);
                }
                _ => to_f32(&e.key, e.dtype, bytes)?,
            },
            other => return Err(Error::UnsupportedDtype { key: e.key.clone(), dtype: dtype_name(other) }),
        };
        self.upload(e, values)
    }

    /// Checks the shape against the plan, lays the values out and puts them on the device.
    fn upload(&mut self, e: &Entry, values: Vec<f32>) -> Result<()> {
        let Some((want, layout)) = self.plan.get(&e.key) else {
            return Ok(());
        };
        // 0-d and [1] are the same scalar (CLIP's logit_scale).
        let same = &e.shape == want || (want.as_slice() == [1] && e.shape.is_empty());
        if !same {
            self.mismatched.push(format!("`{}`: expected shape {want:?} from the config, found {:?}", e.key, e.shape));
            return Ok(());
        }
        let values = match (layout, want.as_slice()) {
            (Layout::Transpose, &[rows, cols]) => transpose(&values, rows, cols),
            _ => values,
        };
        self.upload_laid_out(e, values)
    }

    /// Puts `values`, already in Burn's layout and of the planned shape, on the device.
    fn upload_laid_out(&mut self, e: &Entry, values: Vec<f32>) -> Result<()> {
        let want_rank = self.plan.get(&e.key).map_or(0, |(w, _)| w.len());
        let n = values.len();
        let t = if self.narrow_f16 && want_rank >= 2 {
            use half::vec::HalfFloatVecExt;
            let halves = Vec::<half::f16>::from_f32_slice(&values);
            drop(values);
            Tensor::<1>::from_data(TensorData::new(halves, [n]), (&self.device, DType::F16))
        } else {
            Tensor::<1>::from_data(TensorData::new(values, [n]), &self.device)
        };
        self.ready.insert(e.key.clone(), t);
        Ok(())
    }
}

impl WeightSource for StreamingSource {
    fn take(&mut self, _key: &str, _shape: &[usize], _init: Init) -> Result<Option<Vec<f32>>> {
        // Everything arrived through `take_device`; a key without a tensor is reported by
        // `finish` (the builder puts a placeholder in meanwhile).
        Ok(None)
    }

    fn take_device(&mut self, key: &str, _shape: &[usize], _layout: Layout) -> Result<Option<Tensor<1>>> {
        Ok(self.ready.remove(key))
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let in_file: std::collections::HashSet<&str> = self.entries.iter().map(|e| e.key.as_str()).collect();
        let missing: Vec<String> = self.plan.keys().filter(|k| !in_file.contains(k.as_str())).cloned().collect();
        weight_problems(&self.mismatched, &missing, self.unexpected, "HF transformers")
    }
}
