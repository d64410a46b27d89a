//! The architecture of a CLIP checkpoint: what the model is built from, whatever file it came in.
//!
//! One file per checkpoint family's config format, all producing the same [`ClipConfig`]:
//! - [`hf`]: HF transformers' `config.json` (read, and written back by exports);
//! - [`open_clip`]: OpenCLIP's `open_clip_config.json` (read).
//!
//! A new family (SigLIP) adds its file here and its towers in `crate::model`; the shared pieces
//! are [`EncoderConfig`] (the transformer stack both towers have, candle's `EncoderConfig` idea)
//! and the field reader in `crate::json`. The preprocessing config lives beside preprocessing
//! (`crate::preprocess::config`).
//!
//! Real hub configs are often minimal (openai/clip-vit-base-patch32's `text_config` holds little
//! more than bos/eos ids), so every missing field takes transformers' class default — which is
//! ViT-B/32 (docs/checkpoints.md). Whether the defaults agree with the weights is checked when the
//! weights load (a shape mismatch names both sides).

pub mod hf;
pub mod open_clip;

use crate::error::{Error, Result};
pub(crate) use crate::json::{MAX_IMAGE_SIDE, MAX_LAYERS, MAX_POSITIONS, MAX_VOCAB, MAX_WIDTH};

/// Feed-forward activation of the encoder MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x * sigmoid(1.702 x)`: every OpenAI checkpoint.
    QuickGelu,
    /// Exact (erf) GELU: most OpenCLIP checkpoints.
    Gelu,
    /// tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// ReLU (rare; supported because transformers accepts it).
    Relu,
}

impl Activation {
    /// From transformers' name (`hidden_act`); `field` names the field in the error.
    pub(crate) fn parse(file: &str, field: &str, name: &str) -> Result<Self> {
        Ok(match name {
            "quick_gelu" => Activation::QuickGelu,
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => {
                return Err(Error::config(
                    file,
                    format!(
                        "{field} = {other:?} is not supported (quick_gelu, gelu, gelu_new, gelu_pytorch_tanh, relu)"
                    ),
                ));
            }
        })
    }

    /// The transformers name of this activation.
    pub fn name(self) -> &'static str {
        match self {
            Activation::QuickGelu => "quick_gelu",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_pytorch_tanh",
            Activation::Relu => "relu",
        }
    }
}

/// How the text tower picks the token whose hidden state becomes the text embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextPooling {
    /// The position of the largest token id (OpenAI/OpenCLIP; HF when `eos_token_id == 2`).
    /// 49407 is the largest id in the CLIP vocab, so this finds the end token; the first maximum
    /// wins.
    Argmax,
    /// The first position holding this id (HF configs with the real `eos_token_id`).
    FirstEos(u32),
}

/// The pre-LN transformer stack of one tower (HF field names; both towers' configs carry the
/// same six fields).
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderConfig {
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
}

impl EncoderConfig {
    /// Checks that the heads split the width; `tower` names it in the error.
    fn validate(&self, file: &str, tower: &str) -> Result<()> {
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(Error::config(
                file,
                format!("{tower} layer_norm_eps must be a positive number, got {}", self.layer_norm_eps),
            ));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(Error::config(
                file,
                format!(
                    "{tower} hidden_size {} is not divisible by num_attention_heads {}",
                    self.hidden_size, self.num_attention_heads
                ),
            ));
        }
        Ok(())
    }
}

/// Text tower configuration (HF `CLIPTextConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct TextConfig {
    pub encoder: EncoderConfig,
    pub vocab_size: usize,
    /// The context length (77 for every CLIP).
    pub max_position_embeddings: usize,
    pub bos_token_id: u32,
    pub eos_token_id: u32,
    pub pad_token_id: u32,
    pub pooling: TextPooling,
}

impl Default for TextConfig {
    /// transformers' `CLIPTextConfig()` defaults (ViT-B/32's text tower).
    fn default() -> Self {
        TextConfig {
            encoder: EncoderConfig {
                hidden_size: 512,
                intermediate_size: 2048,
                num_hidden_layers: 12,
                num_attention_heads: 8,
                hidden_act: Activation::QuickGelu,
                layer_norm_eps: 1e-5,
            },
            vocab_size: 49_408,
            max_position_embeddings: 77,
            bos_token_id: 49_406,
            eos_token_id: 49_407,
            pad_token_id: 1,
            pooling: TextPooling::FirstEos(49_407),
        }
    }
}

/// Vision tower configuration (HF `CLIPVisionConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct VisionConfig {
    pub encoder: EncoderConfig,
    pub num_channels: usize,
    /// `[height, width]` of the model input.
    pub image_size: [usize; 2],
    /// `[height, width]` of one patch.
    pub patch_size: [usize; 2],
}

impl Default for VisionConfig {
    /// transformers' `CLIPVisionConfig()` defaults (ViT-B/32).
    fn default() -> Self {
        VisionConfig {
            encoder: EncoderConfig {
                hidden_size: 768,
                intermediate_size: 3072,
                num_hidden_layers: 12,
                num_attention_heads: 12,
                hidden_act: Activation::QuickGelu,
                layer_norm_eps: 1e-5,
            },
            num_channels: 3,
            image_size: [224, 224],
            patch_size: [32, 32],
        }
    }
}

impl VisionConfig {
    /// Patches per side `[rows, cols]`.
    pub fn grid(&self) -> [usize; 2] {
        [self.image_size[0] / self.patch_size[0], self.image_size[1] / self.patch_size[1]]
    }

    /// Tokens per image: one per patch plus the class token.
    pub fn num_positions(&self) -> usize {
        let [gh, gw] = self.grid();
        gh * gw + 1
    }
}

/// Whole-model configuration (HF `CLIPConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClipConfig {
    pub text: TextConfig,
    pub vision: VisionConfig,
    pub projection_dim: usize,
    /// Initial value of `logit_scale` for models made from scratch (ln(1/0.07)).
    pub logit_scale_init_value: f64,
}

impl Default for ClipConfig {
    fn default() -> Self {
        ClipConfig {
            text: TextConfig::default(),
            vision: VisionConfig::default(),
            projection_dim: 512,
            logit_scale_init_value: 2.6592,
        }
    }
}

impl ClipConfig {
    /// OpenAI ViT-B/32 exactly as `openai/clip-vit-base-patch32` (benchmarks use it with random
    /// weights; 151,277,313 parameters).
    pub fn vit_b32() -> Self {
        let mut c = ClipConfig::default();
        c.text.bos_token_id = 0;
        c.text.eos_token_id = 2;
        c.text.pad_token_id = 1;
        c.text.pooling = TextPooling::Argmax;
        c
    }

    /// Checks the architecture is internally consistent; `file` names the source in errors.
    pub fn validate(&self, file: &str) -> Result<()> {
        let (t, v) = (&self.text, &self.vision);
        t.encoder.validate(file, "text")?;
        v.encoder.validate(file, "vision")?;
        if v.num_channels != 3 {
            return Err(Error::config(
                file,
                format!("vision num_channels {} is not supported (only 3, RGB)", v.num_channels),
            ));
        }
        for i in 0..2 {
            if !v.image_size[i].is_multiple_of(v.patch_size[i]) {
                return Err(Error::config(
                    file,
                    format!("vision image_size {:?} is not a multiple of patch_size {:?}", v.image_size, v.patch_size),
                ));
            }
        }
        // Each size is bounded on its own (`crate::json`); the patch grid is their product.
        if v.num_positions() > MAX_POSITIONS {
            return Err(Error::config(
                file,
                format!(
                    "vision image_size {:?} with patch_size {:?} makes {} positions, over the {MAX_POSITIONS} webclip accepts",
                    v.image_size,
                    v.patch_size,
                    v.num_positions()
                ),
            ));
        }
        if (t.bos_token_id as usize) >= t.vocab_size && t.bos_token_id != 0 {
            return Err(Error::config(
                file,
                format!("text bos_token_id {} is outside the vocabulary ({})", t.bos_token_id, t.vocab_size),
            ));
        }
        Ok(())
    }

    /// The text context length (77 for every CLIP).
    pub fn context_length(&self) -> usize {
        self.text.max_position_embeddings
    }
}
