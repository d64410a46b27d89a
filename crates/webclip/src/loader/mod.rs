//! Weights: from safetensors bytes (HF or OpenCLIP naming, f32/f16/bf16) or random — the two
//! implementations of the model's [`WeightSource`] (the trait is the model's: it says what the
//! model needs; this module says where the values come from).
//!
//! # Key table
//!
//! The model's field paths are the HF `CLIPModel` keys, so HF checkpoints need no renaming.
//! OpenAI / OpenCLIP state dicts are mapped by [`OPEN_CLIP_RENAMES`] (prefixes), the block
//! renames after it, and three structural rules in [`open_clip_key`]: q/k/v are thirds of the
//! packed `in_proj_*`, and the two raw projection matrices are stored transposed. The whole table,
//! key by key, is in docs/checkpoints.md.
//!
//! Keys ignored in both: `*.position_ids` (a buffer some HF checkpoints carry) and `attn_mask`.
//! Every other unused key is an error that names it, as is every missing key and every shape that
//! differs from what the config implies.
//!
//! Sources hand out tensors in HF layout; the model's builder then makes the layout Burn wants
//! (and records it, see `crate::model::ParamLayouts`).

pub mod stream;

use std::collections::{BTreeMap, BTreeSet};

use safetensors::{Dtype, SafeTensorError, SafeTensors};

use crate::error::{Error, Result};
use crate::model::{Init, WeightSource, transpose, transposed_by};
use crate::rng::WeightInit;

/// Random values from a seeded generator ([`WeightInit`]): identical on every platform for a
/// seed (benchmarks, training from scratch).
pub struct RandomSource {
    rng: WeightInit,
}

impl RandomSource {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        RandomSource { rng: WeightInit::new(seed) }
    }
}

impl WeightSource for RandomSource {
    fn take(&mut self, _key: &str, shape: &[usize], init: Init) -> Result<Option<Vec<f32>>> {
        let n: usize = shape.iter().product();
        Ok(Some(match init {
            Init::Constant(c) => vec![c; n],
            Init::Normal(std) => self.rng.normal(n, std),
        }))
    }

    fn finish(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// The naming of a checkpoint's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// HF transformers `CLIPModel`.
    Hf,
    /// OpenAI / OpenCLIP state dict.
    OpenClip,
}

/// Prefix renames from HF to OpenAI/OpenCLIP names, tried in order (see the module docs).
pub const OPEN_CLIP_RENAMES: &[(&str, &str)] = &[
    ("text_model.embeddings.token_embedding.weight", "token_embedding.weight"),
    ("text_model.embeddings.position_embedding.weight", "positional_embedding"),
    ("text_model.encoder.layers.", "transformer.resblocks."),
    ("text_model.final_layer_norm.", "ln_final."),
    ("vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight"),
    ("vision_model.embeddings.class_embedding", "visual.class_embedding"),
    ("vision_model.embeddings.position_embedding.weight", "visual.positional_embedding"),
    ("vision_model.pre_layrnorm.", "visual.ln_pre."),
    ("vision_model.post_layernorm.", "visual.ln_post."),
    ("vision_model.encoder.layers.", "visual.transformer.resblocks."),
    ("visual_projection.weight", "visual.proj"),
    ("text_projection.weight", "text_projection"),
    ("logit_scale", "logit_scale"),
];

/// Renames inside a block (applied after the prefix rename).
const OPEN_CLIP_BLOCK_RENAMES: &[(&str, &str)] = &[
    (".layer_norm1.", ".ln_1."),
    (".layer_norm2.", ".ln_2."),
    (".mlp.fc1.", ".mlp.c_fc."),
    (".mlp.fc2.", ".mlp.c_proj."),
    (".self_attn.out_proj.", ".attn.out_proj."),
];

/// Where an HF key's values live in an OpenCLIP state dict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remap {
    pub key: String,
    /// `Some(i)`: rows `i*D..(i+1)*D` of a packed `in_proj` tensor (q = 0, k = 1, v = 2).
    pub packed_part: Option<usize>,
    /// The stored matrix is the transpose of the HF one (raw projection matrices).
    pub transposed: bool,
}

/// Resolves an HF key to its OpenAI/OpenCLIP location. `None` for keys with no counterpart.
pub fn open_clip_key(hf: &str) -> Option<Remap> {
    let (from, to) = OPEN_CLIP_RENAMES.iter().find(|(from, _)| hf.starts_with(from))?;
    let mut key = format!("{to}{}", &hf[from.len()..]);
    let transposed = matches!(*from, "visual_projection.weight" | "text_projection.weight");
    let mut packed_part = None;
    if from.ends_with("layers.") {
        for (a, b) in OPEN_CLIP_BLOCK_RENAMES {
            key = key.replace(a, b);
        }
        for (i, proj) in ["q_proj", "k_proj", "v_proj"].iter().enumerate() {
            let pat = format!(".self_attn.{proj}.");
            if let Some(pos) = key.find(&pat) {
                let suffix = &key[pos + pat.len()..]; // "weight" | "bias"
                key = format!("{}.attn.in_proj_{suffix}", &key[..pos]);
                packed_part = Some(i);
            }
        }
    }
    Some(Remap { key, packed_part, transposed })
}

/// Whether a checkpoint key is a known buffer that carries no parameter.
pub(crate) fn ignorable(key: &str) -> bool {
    key.ends_with("position_ids") || key == "attn_mask" || key.ends_with(".attn_mask")
}

/// Largest header webclip parses (the same bound the safetensors crate applies).
pub const MAX_HEADER_BYTES: usize = 100_000_000;

/// Parameters read out of a safetensors buffer (zero-copy over the caller's bytes).
pub struct SafetensorsSource<'a> {
    tensors: SafeTensors<'a>,
    naming: Naming,
    used: BTreeSet<String>,
    missing: Vec<String>,
    mismatched: Vec<String>,
    towers: crate::model::Towers,
}

impl<'a> SafetensorsSource<'a> {
    /// Parses the header; the naming (HF or OpenCLIP) is detected from the keys.
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        check_header(bytes)?;
        let tensors = SafeTensors::deserialize(bytes).map_err(describe_safetensors_error)?;
        let names = tensors.names();
        let naming = if names.iter().any(|n| n.starts_with("visual.") || *n == "token_embedding.weight") {
            Naming::OpenClip
        } else {
            Naming::Hf
        };
        Ok(SafetensorsSource {
            tensors,
            naming,
            used: BTreeSet::new(),
            missing: vec![],
            mismatched: vec![],
            towers: Default::default(),
        })
    }

    /// The detected key naming.
    pub fn naming(&self) -> Naming {
        self.naming
    }

    /// Dtype of the first parameter tensor (what the checkpoint was saved in).
    pub fn dtype(&self) -> Option<Dtype> {
        self.tensors.iter().find(|(k, _)| !ignorable(k)).map(|(_, v)| v.dtype())
    }
}

/// Validates the 8-byte length prefix before the parser sees it, to give the bad-input cases
/// their own messages.
fn check_header(bytes: &[u8]) -> Result<()> {
    if bytes.is_empty() {
        return Err(Error::Safetensors("the file is empty".into()));
    }
    if bytes.len() < 8 {
        return Err(Error::Safetensors(format!(
            "the file is {} bytes, too short for a safetensors header",
            bytes.len()
        )));
    }
    let n = header_len(bytes)?;
    if 8 + n > bytes.len() as u64 {
        return Err(Error::Safetensors(format!(
            "the header claims {n} bytes but the file has only {} after the length prefix (truncated file?)",
            bytes.len() - 8
        )));
    }
    Ok(())
}

/// The header length in a file's first 8 bytes (`prefix` has at least 8), refused over
/// [`MAX_HEADER_BYTES`]. Shared by the whole-file and the streamed reader.
pub(crate) fn header_len(prefix: &[u8]) -> Result<u64> {
    let mut len = [0u8; 8];
    len.copy_from_slice(&prefix[..8]);
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER_BYTES as u64 {
        return Err(Error::Safetensors(format!(
            "the header claims {n} bytes, over the {MAX_HEADER_BYTES}-byte limit (not a safetensors file, or a corrupt one)"
        )));
    }
    Ok(n)
}

/// An int8 tensor `key` of HF shape `shape` (q8: `crate::export::WeightDtype::Q8`) times its
/// per-row scales. Shared by the whole-file and the streamed reader.
pub(crate) fn dequantize(key: &str, shape: &[usize], data: &[u8], scales: &[f32]) -> Result<Vec<f32>> {
    let rows = shape.first().copied().unwrap_or(1);
    if scales.len() != rows || rows == 0 {
        return Err(Error::Weights(format!(
            "`{key}_scale` has {} values for the {rows} rows of `{key}`",
            scales.len()
        )));
    }
    let cols = data.len() / rows;
    // Row by row into one allocation: a loop the compiler vectorises (a `flat_map` over the
    // rows did not, and made q8 files load slower than f16 ones).
    let mut out = Vec::with_capacity(data.len());
    for (row, &s) in data.chunks(cols.max(1)).zip(scales) {
        out.extend(row.iter().map(|&b| (b as i8) as f32 * s));
    }
    Ok(out)
}

/// The error for an int8 tensor whose `<key>_scale` the file lacks.
pub(crate) fn no_scale_error(key: &str) -> Error {
    Error::Weights(format!(
        "`{key}` is int8 but the file has no `{key}_scale` (its per-row scales): not a q8 file webclip wrote?"
    ))
}

/// Every problem a source recorded, as one error (eight names shown per kind), or `Ok`.
pub(crate) fn weight_problems(
    mismatched: &[String],
    missing: &[String],
    mut unexpected: Vec<String>,
    naming: &str,
) -> Result<()> {
    let list = |v: &[String]| {
        let shown: Vec<&str> = v.iter().take(8).map(String::as_str).collect();
        let more = if v.len() > 8 { format!(" … ({} in all)", v.len()) } else { String::new() };
        format!("{}{more}", shown.join(", "))
    };
    let mut problems = Vec::new();
    if !mismatched.is_empty() {
        problems.push(format!("wrong shapes: {}", list(mismatched)));
    }
    if !missing.is_empty() {
        problems.push(format!("missing keys: {}", list(missing)));
    }
    if !unexpected.is_empty() {
        unexpected.sort();
        problems.push(format!("unexpected keys: {}", list(&unexpected)));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Weights(format!("{} ({naming} key naming)", problems.join("; "))))
    }
}

fn describe_safetensors_error(e: SafeTensorError) -> Error {
    Error::Safetensors(match e {
        SafeTensorError::InvalidHeader(_) | SafeTensorError::InvalidHeaderDeserialization(_) => {
            format!("the header is not valid JSON metadata ({e})")
        }
        SafeTensorError::MetadataIncompleteBuffer => {
            "tensor data runs past the end of the file (truncated file?)".to_string()
        }
        SafeTensorError::InvalidOffset(k) => format!("tensor `{k}` has invalid data offsets"),
        other => other.to_string(),
    })
}

pub(crate) fn dtype_name(d: Dtype) -> String {
    format!("{d:?}")
}

/// Little-endian f32 bytes as f32 values: on little-endian machines a plain copy (split over
/// the cores natively for large tensors: the copy out of the page cache is most of a model
/// load), else a conversion per value.
fn f32_from_le(data: &[u8]) -> Vec<f32> {
    let n = data.len() / 4;
    if cfg!(target_endian = "big") {
        return data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    }
    let mut out: Vec<f32> = Vec::with_capacity(n);
    let copy = |dst: &mut [std::mem::MaybeUninit<f32>], src: &[u8]| {
        // SAFETY: `dst` has room for `src.len() / 4` values, every bit pattern is an f32, and a
        // byte copy has no alignment requirement.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast::<u8>(), src.len()) }
    };
    let spare = &mut out.spare_capacity_mut()[..n];
    let src = &data[..n * 4];
    #[cfg(not(target_arch = "wasm32"))]
    if n >= 1 << 20 {
        let half = n / 2;
        let (d0, d1) = spare.split_at_mut(half);
        let (s0, s1) = src.split_at(half * 4);
        rayon::join(|| copy(d0, s0), || copy(d1, s1));
    } else {
        copy(spare, src);
    }
    #[cfg(target_arch = "wasm32")]
    copy(spare, src);
    // SAFETY: the first `n` values were written above.
    unsafe { out.set_len(n) };
    out
}

/// Converts little-endian f32/f16/bf16 bytes to f32.
pub(crate) fn to_f32(key: &str, dtype: Dtype, data: &[u8]) -> Result<Vec<f32>> {
    Ok(match dtype {
        Dtype::F32 => f32_from_le(data),
        Dtype::F16 => {
            let table = f16_table();
            data.chunks_exact(2).map(|c| table[u16::from_le_bytes([c[0], c[1]]) as usize]).collect()
        }
        // bf16 is the top half of an f32: a shift, exact.
        Dtype::BF16 => {
            data.chunks_exact(2).map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16)).collect()
        }
        other => return Err(Error::UnsupportedDtype { key: key.to_string(), dtype: dtype_name(other) }),
    })
}

/// `data`, a `[rows, cols]` tensor of `dtype`, as f32 in `[cols, rows]` order (Burn's layout of a
/// Linear weight, `crate::model::Layout::Transpose`): the conversion and the transpose in one
/// cache-blocked pass, without the row-major f32 copy between them (the streamed load's largest
/// transient on the CPU backend).
pub(crate) fn to_f32_transposed(key: &str, dtype: Dtype, data: &[u8], rows: usize, cols: usize) -> Result<Vec<f32>> {
    let size = match dtype {
        Dtype::F32 => 4,
        Dtype::F16 | Dtype::BF16 => 2,
        other => return Err(Error::UnsupportedDtype { key: key.to_string(), dtype: dtype_name(other) }),
    };
    if data.len() != rows * cols * size {
        return Err(Error::Weights(format!("`{key}` has {} bytes, not {rows}×{cols} of {size}", data.len())));
    }
    let half = |i: usize| u16::from_le_bytes([data[2 * i], data[2 * i + 1]]);
    Ok(match dtype {
        Dtype::F32 => f32_transposed(data, rows, cols),
        Dtype::F16 => {
            let table = f16_table();
            transposed_by(rows, cols, |i| table[half(i) as usize])
        }
        _ => transposed_by(rows, cols, |i| f32::from_bits((half(i) as u32) << 16)),
    })
}

/// Little-endian f32 `[rows, cols]` bytes as f32 `[cols, rows]`: a blocked transpose that
/// writes each output row block once, the blocks split over the cores natively (with the copy
/// out of the page cache it replaces, this is most of a CPU model load).
fn f32_transposed(data: &[u8], rows: usize, cols: usize) -> Vec<f32> {
    const B: usize = 32;
    let value = |i: usize| f32::from_le_bytes([data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3]]);
    let mut out: Vec<f32> = Vec::with_capacity(rows * cols);
    // Output rows `c0..c0+B` (source columns), all source rows, in B × B tiles.
    let block = |(bi, dst): (usize, &mut [std::mem::MaybeUninit<f32>])| {
        let c0 = bi * B;
        let width = dst.len() / rows.max(1);
        for r0 in (0..rows).step_by(B) {
            for dc in 0..width {
                for r in r0..(r0 + B).min(rows) {
                    dst[dc * rows + r].write(value(r * cols + c0 + dc));
                }
            }
        }
    };
    let spare = &mut out.spare_capacity_mut()[..rows * cols];
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        spare.par_chunks_mut(B * rows.max(1)).enumerate().for_each(block);
    }
    #[cfg(target_arch = "wasm32")]
    spare.chunks_mut(B * rows.max(1)).enumerate().for_each(block);
    // SAFETY: every element was written: block `bi` covers output rows `bi·B ..` for all `rows`.
    unsafe { out.set_len(rows * cols) };
    out
}

/// Every f16 bit pattern's f32 value (exact: f16 ⊂ f32), built once (256 KiB). A table lookup
/// per value instead of `half`'s conversion, which without F16C at compile time tests for it on
/// every value and converts in software on wasm: f16 files loaded ~1.5× slower than f32 ones.
fn f16_table() -> &'static [f32] {
    static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| (0..=u16::MAX).map(|b| half::f16::from_bits(b).to_f32()).collect())
}

fn fmt_shape(s: &[usize]) -> String {
    format!("{s:?}")
}

impl WeightSource for SafetensorsSource<'_> {
    fn take(&mut self, hf_key: &str, shape: &[usize], _init: Init) -> Result<Option<Vec<f32>>> {
        let remap = match self.naming {
            Naming::Hf => Remap { key: hf_key.to_string(), packed_part: None, transposed: false },
            Naming::OpenClip => match open_clip_key(hf_key) {
                Some(r) => r,
                None => {
                    self.missing.push(hf_key.to_string());
                    return Ok(None);
                }
            },
        };
        let view = match self.tensors.tensor(&remap.key) {
            Ok(v) => v,
            Err(_) => {
                self.missing.push(if remap.key == hf_key {
                    remap.key
                } else {
                    format!("{} (for {hf_key})", remap.key)
                });
                return Ok(None);
            }
        };
        self.used.insert(remap.key.clone());
        let stored: Vec<usize> = view.shape().to_vec();
        let dtype = view.dtype();
        if !matches!(dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::I8) {
            return Err(Error::UnsupportedDtype { key: remap.key, dtype: dtype_name(dtype) });
        }

        // The HF-layout shape the stored tensor must have, given the remap.
        let mut expected_stored = shape.to_vec();
        if remap.transposed && expected_stored.len() == 2 {
            expected_stored.swap(0, 1);
        }
        if let (Some(_), Some(rows)) = (remap.packed_part, expected_stored.first_mut()) {
            *rows *= 3;
        }
        // 0-d and [1] are the same scalar (logit_scale).
        let same = stored == expected_stored
            || (expected_stored == [1] && stored.is_empty())
            || (expected_stored.is_empty() && stored == [1]);
        if !same {
            self.mismatched.push(format!(
                "`{}`: expected shape {} from the config, found {}",
                remap.key,
                fmt_shape(&expected_stored),
                fmt_shape(&stored)
            ));
            return Ok(None);
        }
        let mut values = if dtype == Dtype::I8 {
            self.dequantize(&remap.key, &stored, view.data())?
        } else {
            to_f32(&remap.key, dtype, view.data())?
        };
        if let Some(part) = remap.packed_part {
            let per = values.len() / 3;
            values = values[part * per..(part + 1) * per].to_vec();
        }
        if let (true, &[rows, cols]) = (remap.transposed, stored.as_slice()) {
            values = transpose(&values, rows, cols);
        }
        Ok(Some(values))
    }

    fn skip(&mut self, towers: crate::model::Towers) {
        self.towers = towers;
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let unused: Vec<String> = self
            .tensors
            .names()
            .into_iter()
            .filter(|k| !self.used.contains(*k) && !ignorable(k) && !self.towers.skips(k))
            .map(str::to_string)
            .collect();
        let naming = match self.naming {
            Naming::Hf => "HF transformers",
            Naming::OpenClip => "OpenAI/OpenCLIP",
        };
        weight_problems(&self.mismatched, &self.missing, unused, naming)
    }
}

impl SafetensorsSource<'_> {
    /// An int8 tensor (a q8 file: `crate::export::WeightDtype::Q8`) times its per-row scales,
    /// `<key>_scale` `[rows, 1]` (f32, f16 or bf16).
    fn dequantize(&mut self, key: &str, shape: &[usize], data: &[u8]) -> Result<Vec<f32>> {
        let scale_key = format!("{key}_scale");
        let Ok(scale) = self.tensors.tensor(&scale_key) else {
            return Err(no_scale_error(key));
        };
        let scales = to_f32(&scale_key, scale.dtype(), scale.data())?;
        let values = dequantize(key, shape, data, &scales)?;
        self.used.insert(scale_key);
        Ok(values)
    }
}

/// Summary of a safetensors file: tensor names with dtypes and shapes, without reading data.
pub fn inspect(bytes: &[u8]) -> Result<BTreeMap<String, (String, Vec<usize>)>> {
    check_header(bytes)?;
    let t = SafeTensors::deserialize(bytes).map_err(describe_safetensors_error)?;
    Ok(t.iter().map(|(k, v)| (k.to_string(), (dtype_name(v.dtype()), v.shape().to_vec()))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_clip_table() {
        let r = open_clip_key("vision_model.encoder.layers.3.self_attn.k_proj.bias").unwrap();
        assert_eq!(r.key, "visual.transformer.resblocks.3.attn.in_proj_bias");
        assert_eq!(r.packed_part, Some(1));
        let r = open_clip_key("text_model.encoder.layers.11.mlp.fc2.weight").unwrap();
        assert_eq!(r.key, "transformer.resblocks.11.mlp.c_proj.weight");
        let r = open_clip_key("text_model.encoder.layers.0.layer_norm2.bias").unwrap();
        assert_eq!(r.key, "transformer.resblocks.0.ln_2.bias");
        let r = open_clip_key("visual_projection.weight").unwrap();
        assert_eq!(r, Remap { key: "visual.proj".into(), packed_part: None, transposed: true });
        let r = open_clip_key("vision_model.pre_layrnorm.weight").unwrap();
        assert_eq!(r.key, "visual.ln_pre.weight");
        let r = open_clip_key("text_model.encoder.layers.2.self_attn.out_proj.weight").unwrap();
        assert_eq!(r.key, "transformer.resblocks.2.attn.out_proj.weight");
    }

    #[test]
    fn header_errors() {
        let e = |b: &[u8]| SafetensorsSource::new(b).err().unwrap().to_string();
        assert!(e(b"").contains("empty"));
        assert!(e(b"abc").contains("too short"));
        let mut huge = (200_000_000u64).to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(e(&huge).contains("over the 100000000-byte limit"), "{}", e(&huge));
        let mut beyond = (5000u64).to_le_bytes().to_vec();
        beyond.extend_from_slice(b"{}");
        assert!(e(&beyond).contains("truncated"), "{}", e(&beyond));
        let mut notjson = (4u64).to_le_bytes().to_vec();
        notjson.extend_from_slice(b"abcd");
        assert!(e(&notjson).contains("not valid JSON"), "{}", e(&notjson));
        let mut past = Vec::new();
        let header = br#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
        past.extend_from_slice(&(header.len() as u64).to_le_bytes());
        past.extend_from_slice(header);
        past.extend_from_slice(&[0u8; 8]);
        assert!(e(&past).contains("safetensors"), "{}", e(&past));
    }
}
