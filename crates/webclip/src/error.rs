//! The one error type of the core. Every message names the problem in terms the user can act on
//! (which file, which key, which value), because the CLI prints it as its one-line reason and
//! the browser shows it as is.

/// Errors from loading, preprocessing and running CLIP.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model file is missing from a folder (the caller decides what "folder" means).
    #[error("missing {file}: {hint}")]
    MissingFile { file: String, hint: String },

    /// config.json / open_clip_config.json / preprocessor_config.json is not valid.
    #[error("{file}: {message}")]
    Config { file: String, message: String },

    /// The safetensors container itself is broken (header, offsets, sizes).
    #[error("model.safetensors: {0}")]
    Safetensors(String),

    /// A tensor has a dtype webclip cannot read.
    #[error(
        "model.safetensors: tensor `{key}` has dtype {dtype}; supported are F32, F16, BF16 and I8 with per-row scales (q8)"
    )]
    UnsupportedDtype { key: String, dtype: String },

    /// Checkpoint keys that do not match the architecture the config describes.
    #[error("model.safetensors does not match the config: {0}")]
    Weights(String),

    /// tokenizer.json could not be loaded or used.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// The input image could not be decoded or is refused.
    #[error("image: {0}")]
    Image(String),

    /// A caller-side argument is not acceptable (empty label list, template without `{}`, ...).
    #[error("{0}")]
    InvalidInput(String),

    /// The model produced NaN or infinity (corrupt or overflowing weights).
    #[error("the model produced non-finite values (NaN or infinity) for {0}; the weights may be corrupt")]
    NonFinite(String),

    /// A collection index's file (`.npy`, `.parquet`, `index.json`) is not what the layout says.
    #[error("index: {0}")]
    Index(String),

    /// The compute device failed (adapter request, device lost, readback error).
    #[error("device: {0}")]
    Device(String),
}

/// Result alias of the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn config(file: &str, message: impl Into<String>) -> Self {
        Error::Config { file: file.to_string(), message: message.into() }
    }
}
