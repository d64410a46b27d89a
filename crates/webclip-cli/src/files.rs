//! Reading a model folder into [`webclip::ModelFiles`] (the core never touches the filesystem).

use std::path::{Path, PathBuf};

use webclip::ModelFiles;

use crate::{CliError, Result};

/// A short reason for an I/O error ("no such file", "permission denied", ...).
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "is a directory, not a file".into(),
        _ => e.to_string(),
    }
}

fn read(path: PathBuf) -> Result<Vec<u8>> {
    std::fs::read(&path).map_err(|e| CliError::File(path, io_reason(&e)))
}

fn optional(dir: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    let p = dir.join(name);
    if p.exists() { read(p).map(Some) } else { Ok(None) }
}

fn check_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Err(CliError::File(dir.to_path_buf(), "no such folder".into()));
    }
    if !dir.is_dir() {
        return Err(CliError::File(
            dir.to_path_buf(),
            "--model takes a folder (config.json, model.safetensors, tokenizer.json)".into(),
        ));
    }
    Ok(())
}

fn missing(dir: &Path, file: &str, hint: &str) -> CliError {
    CliError::File(dir.join(file), format!("missing: {hint}"))
}

/// `tokenizer.json` and the text context length from the folder's config.
pub fn read_model_dir_tokenizer(dir: &Path) -> Result<(Vec<u8>, usize)> {
    check_dir(dir)?;
    let tokenizer = tokenizer_bytes(dir)?;
    let context = if let Some(c) = optional(dir, "config.json")? {
        webclip::ClipConfig::from_config_json(&c)?.context_length()
    } else if let Some(c) = optional(dir, "open_clip_config.json")? {
        webclip::ClipConfig::from_open_clip_json(&c)?.0.context_length()
    } else {
        77
    };
    Ok((tokenizer, context))
}

fn tokenizer_bytes(dir: &Path) -> Result<Vec<u8>> {
    match optional(dir, "tokenizer.json")? {
        Some(b) => Ok(b),
        None if dir.join("spiece.model").exists() => Err(missing(
            dir,
            "tokenizer.json",
            "this folder has only a SentencePiece model (spiece.model); webclip reads tokenizer.json: \
             write one with transformers (AutoTokenizer.from_pretrained(folder).save_pretrained(folder))",
        )),
        None if dir.join("vocab.json").exists() => Err(missing(
            dir,
            "tokenizer.json",
            "this folder has only the slow tokenizer files (vocab.json, merges.txt); \
             save it once with transformers' CLIPTokenizerFast to get tokenizer.json",
        )),
        None => Err(missing(dir, "tokenizer.json", "the tokenizer file (every HF CLIP and SigLIP 2 repo has one)")),
    }
}

/// A folder's small files, plus where its weights are when they can be streamed (an HF
/// folder's `model.safetensors`: `webclip::Clip::begin_load`); otherwise `files.weights` holds
/// them (OpenCLIP folders).
pub fn read_model_dir_streaming(dir: &Path) -> Result<(ModelFiles, Option<PathBuf>)> {
    check_dir(dir)?;
    let weights = dir.join("model.safetensors");
    if dir.join("config.json").exists() && weights.is_file() {
        let files = ModelFiles {
            config: optional(dir, "config.json")?,
            open_clip_config: None,
            weights: Vec::new(),
            tokenizer: tokenizer_bytes(dir)?,
            preprocessor: optional(dir, "preprocessor_config.json")?,
            tokenizer_config: optional(dir, "tokenizer_config.json")?,
        };
        return Ok((files, Some(weights)));
    }
    Ok((read_model_dir(dir)?, None))
}

/// Reads an HF or OpenCLIP checkpoint folder.
pub fn read_model_dir(dir: &Path) -> Result<ModelFiles> {
    check_dir(dir)?;
    let config = optional(dir, "config.json")?;
    let open_clip_config = if config.is_none() { optional(dir, "open_clip_config.json")? } else { None };
    if config.is_none() && open_clip_config.is_none() {
        return Err(missing(
            dir,
            "config.json",
            "an HF CLIP or SigLIP folder has config.json (an OpenCLIP one, open_clip_config.json)",
        ));
    }
    let candidates = if config.is_some() {
        ["model.safetensors", "open_clip_model.safetensors"]
    } else {
        ["open_clip_model.safetensors", "model.safetensors"]
    };
    let weights = match candidates.iter().find(|n| dir.join(n).exists()) {
        Some(n) => read(dir.join(n))?,
        None => {
            let hint = if dir.join("model.safetensors.index.json").exists() {
                "the weights are sharded (model.safetensors.index.json); webclip reads one model.safetensors file"
            } else if ["pytorch_model.bin", "open_clip_pytorch_model.bin"].iter().any(|n| dir.join(n).exists()) {
                "only PyTorch pickle weights (*.bin) are here; webclip reads safetensors (download model.safetensors, \
                 or convert with safetensors.torch.save_file)"
            } else {
                "the weights file"
            };
            return Err(missing(dir, candidates[0], hint));
        }
    };
    let tokenizer = tokenizer_bytes(dir)?;
    let preprocessor = optional(dir, "preprocessor_config.json")?;
    let tokenizer_config = optional(dir, "tokenizer_config.json")?;
    Ok(ModelFiles { config, open_clip_config, weights, tokenizer, preprocessor, tokenizer_config })
}
