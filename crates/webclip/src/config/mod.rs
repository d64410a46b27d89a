//! The architecture of a CLIP checkpoint: what the model is built from, whatever file it came in.
//!
//! One file per checkpoint config format, all producing the same [`ClipConfig`]:
//! - [`hf`]: HF transformers' CLIP `config.json` (read, and written back by exports);
//! - [`open_clip`]: OpenCLIP's `open_clip_config.json` (read);
//! - [`siglip`]: HF transformers' SigLIP `config.json` (`model_type: "siglip"`: SigLIP and the
//!   fixed-resolution SigLIP 2 checkpoints; read and written).
//!
//! [`ClipConfig::from_config_json`] picks the family from `model_type`. The [`Family`] decides
//! the few structural differences (class token or attention-pooling head, causal or
//! bidirectional text tower, projections or heads, softmax or sigmoid scores); everything else
//! is shared: [`EncoderConfig`] (the transformer stack both towers have, candle's
//! `EncoderConfig` idea) and the field reader in `crate::json`. The preprocessing config lives
//! beside preprocessing (`crate::preprocess::config`).
//!
//! Real hub configs are often minimal (openai/clip-vit-base-patch32's `text_config` holds little
//! more than bos/eos ids), so every missing field takes transformers' class default — which is
//! ViT-B/32 (docs/checkpoints.md). Whether the defaults agree with the weights is checked when the
//! weights load (a shape mismatch names both sides).

pub mod hf;
pub mod open_clip;
pub mod siglip;

use crate::error::{Error, Result};
use crate::json::parse_object;
pub(crate) use crate::json::{MAX_IMAGE_SIDE, MAX_LAYERS, MAX_POSITIONS, MAX_VOCAB, MAX_WIDTH};

/// The checkpoint family: which architecture the towers have and how similarities become
/// scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// OpenAI / OpenCLIP CLIP: class token + pre-LayerNorm, causal text tower pooled at the end
    /// token, projections, softmax over the labels.
    #[default]
    Clip,
    /// SigLIP / SigLIP 2 (fixed resolution): no class token, attention-pooling head,
    /// bidirectional text tower pooled at the last padded position plus a Linear head,
    /// `logit_bias`, an independent sigmoid per label.
    Siglip,
}

impl Family {
    /// transformers' `model_type`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Clip => "clip",
            Family::Siglip => "siglip",
        }
    }
}

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
    /// The last position of the sequence padded to the full context (SigLIP: the processor pads
    /// to `max_position_embeddings` and the model takes `[:, -1]`, which is usually padding).
    LastPadded,
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
    /// Causal self-attention (CLIP) or bidirectional (SigLIP).
    pub causal: bool,
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
            causal: true,
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
    /// A class token is prepended (CLIP) or not (SigLIP).
    pub class_token: bool,
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
            class_token: true,
        }
    }
}

impl VisionConfig {
    /// Patches per side `[rows, cols]`.
    pub fn grid(&self) -> [usize; 2] {
        [self.image_size[0] / self.patch_size[0], self.image_size[1] / self.patch_size[1]]
    }

    /// Tokens per image: one per patch, plus the class token where there is one.
    pub fn num_positions(&self) -> usize {
        let [gh, gw] = self.grid();
        gh * gw + usize::from(self.class_token)
    }
}

/// Whole-model configuration (HF `CLIPConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClipConfig {
    pub family: Family,
    pub text: TextConfig,
    pub vision: VisionConfig,
    /// The embedding width: CLIP's `projection_dim`; for SigLIP the text head's
    /// `projection_size`, which must equal the vision width (the vision head keeps it).
    pub projection_dim: usize,
    /// Initial value of `logit_scale` for models made from scratch (CLIP: ln(1/0.07); SigLIP:
    /// ln 10, the paper's).
    pub logit_scale_init_value: f64,
    /// Initial value of `logit_bias` (SigLIP only: −10, the paper's).
    pub logit_bias_init_value: f64,
}

impl Default for ClipConfig {
    fn default() -> Self {
        ClipConfig {
            family: Family::Clip,
            text: TextConfig::default(),
            vision: VisionConfig::default(),
            projection_dim: 512,
            logit_scale_init_value: 2.6592,
            logit_bias_init_value: 0.0,
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

    /// Parses a `config.json`, of whichever family its `model_type` names (missing: CLIP, as
    /// transformers' oldest configs have none).
    pub fn from_config_json(bytes: &[u8]) -> Result<Self> {
        let root = parse_object("config.json", bytes)?;
        match root.get("model_type").and_then(serde_json::Value::as_str) {
            None | Some("clip") => Self::from_hf_json(bytes),
            Some("siglip") => Self::from_siglip_json(bytes),
            Some("siglip2") => Err(Error::config(
                "config.json",
                "model_type \"siglip2\" is SigLIP 2 NaFlex (variable resolution), which webclip does not run; \
                 the fixed-resolution SigLIP 2 checkpoints (model_type \"siglip\", e.g. siglip2-base-patch16-224) load",
            )),
            Some(other) => Err(Error::config(
                "config.json",
                format!("model_type {other:?} is not a family webclip runs (clip, siglip)"),
            )),
        }
    }

    /// The config written for an exported model, in its family's format.
    pub fn to_config_json(&self, dtype: &str) -> serde_json::Value {
        match self.family {
            Family::Clip => self.to_hf_json(dtype),
            Family::Siglip => self.to_siglip_json(dtype),
        }
    }

    /// Checks the architecture is internally consistent; `file` names the source in errors.
    pub fn validate(&self, file: &str) -> Result<()> {
        let (t, v) = (&self.text, &self.vision);
        if self.family == Family::Siglip && self.projection_dim != v.encoder.hidden_size {
            return Err(Error::config(
                file,
                format!(
                    "text projection_size {} differs from the vision hidden_size {}: SigLIP compares the two heads' outputs directly",
                    self.projection_dim, v.encoder.hidden_size
                ),
            ));
        }
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
        // SigLIP's configs keep CLIP's bos/eos defaults whatever their vocabulary (transformers
        // warns and ignores them: nothing reads them), so only CLIP's are checked.
        if self.family == Family::Clip && (t.bos_token_id as usize) >= t.vocab_size && t.bos_token_id != 0 {
            return Err(Error::config(
                file,
                format!("text bos_token_id {} is outside the vocabulary ({})", t.bos_token_id, t.vocab_size),
            ));
        }
        Ok(())
    }

    /// The text context length (77 for every CLIP, 64 for SigLIP).
    pub fn context_length(&self) -> usize {
        self.text.max_position_embeddings
    }
}
