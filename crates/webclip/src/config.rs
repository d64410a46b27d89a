//! Model and preprocessing configuration, parsed from the files a checkpoint folder carries.
//!
//! Real hub configs are often minimal (openai/clip-vit-base-patch32's `text_config` holds little
//! more than bos/eos ids), so every missing field takes transformers' class default — which is
//! ViT-B/32 (see ../shared/notes/clip-spec.md). A field that is *present* but of the wrong type is
//! an error naming the field, never silently replaced. Whether the defaults agree with the weights
//! is checked when the weights load (a shape mismatch names both sides).

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// OpenAI's CLIP normalisation constants (also transformers' OPENAI_CLIP_MEAN / _STD).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// See [`CLIP_MEAN`].
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

/// Upper bounds that keep a hostile config from asking for absurd allocations before any weight
/// is read. They are far above every published CLIP (ViT-bigG: width 1664, 48 layers).
const MAX_WIDTH: usize = 16_384;
const MAX_LAYERS: usize = 256;
const MAX_VOCAB: usize = 1_000_000;
const MAX_POSITIONS: usize = 16_384;
const MAX_IMAGE_SIDE: usize = 4_096;

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
    fn parse(file: &str, field: &str, name: &str) -> Result<Self> {
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

/// Text tower configuration (HF `CLIPTextConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub max_position_embeddings: usize,
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
    pub bos_token_id: u32,
    pub eos_token_id: u32,
    pub pad_token_id: u32,
    pub pooling: TextPooling,
}

impl Default for TextConfig {
    /// transformers' `CLIPTextConfig()` defaults (ViT-B/32's text tower).
    fn default() -> Self {
        TextConfig {
            vocab_size: 49_408,
            hidden_size: 512,
            intermediate_size: 2048,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            max_position_embeddings: 77,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
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
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_channels: usize,
    /// `[height, width]` of the model input.
    pub image_size: [usize; 2],
    /// `[height, width]` of one patch.
    pub patch_size: [usize; 2],
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
}

impl Default for VisionConfig {
    /// transformers' `CLIPVisionConfig()` defaults (ViT-B/32).
    fn default() -> Self {
        VisionConfig {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: [224, 224],
            patch_size: [32, 32],
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
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

    /// Parse an HF `config.json`.
    pub fn from_hf_json(bytes: &[u8]) -> Result<Self> {
        const FILE: &str = "config.json";
        let root = parse_object(FILE, bytes)?;
        let r = Reader::new(FILE, &root, "");
        let text_obj = merged_sub_config(&r, "text_config")?;
        let vision_obj = merged_sub_config(&r, "vision_config")?;
        let t = Reader::new(FILE, &text_obj, "text_config.");
        let v = Reader::new(FILE, &vision_obj, "vision_config.");
        let td = TextConfig::default();
        let vd = VisionConfig::default();

        let eos_token_id = match text_obj.get("eos_token_id") {
            None | Some(Value::Null) => td.eos_token_id,
            Some(Value::Array(a)) if !a.is_empty() => {
                as_u32(&a[0]).ok_or_else(|| t.type_error("eos_token_id", "an integer or a list of integers"))?
            }
            Some(x) => as_u32(x).ok_or_else(|| t.type_error("eos_token_id", "an integer or a list of integers"))?,
        };
        let text = TextConfig {
            vocab_size: t.usize("vocab_size", td.vocab_size, MAX_VOCAB)?,
            hidden_size: t.usize("hidden_size", td.hidden_size, MAX_WIDTH)?,
            intermediate_size: t.usize("intermediate_size", td.intermediate_size, MAX_WIDTH * 8)?,
            num_hidden_layers: t.usize("num_hidden_layers", td.num_hidden_layers, MAX_LAYERS)?,
            num_attention_heads: t.usize("num_attention_heads", td.num_attention_heads, MAX_WIDTH)?,
            max_position_embeddings: t.usize("max_position_embeddings", td.max_position_embeddings, MAX_POSITIONS)?,
            hidden_act: Activation::parse(
                FILE,
                "text_config.hidden_act",
                &t.string("hidden_act", td.hidden_act.name())?,
            )?,
            layer_norm_eps: t.f64("layer_norm_eps", td.layer_norm_eps)?,
            bos_token_id: t.u32("bos_token_id", td.bos_token_id)?,
            eos_token_id,
            pad_token_id: t.u32("pad_token_id", td.pad_token_id)?,
            // transformers' rule (modeling_clip.py): legacy configs say eos_token_id = 2 and pool
            // at argmax(input_ids); newer ones pool at the first real end token.
            pooling: if eos_token_id == 2 { TextPooling::Argmax } else { TextPooling::FirstEos(eos_token_id) },
        };
        let vision = VisionConfig {
            hidden_size: v.usize("hidden_size", vd.hidden_size, MAX_WIDTH)?,
            intermediate_size: v.usize("intermediate_size", vd.intermediate_size, MAX_WIDTH * 8)?,
            num_hidden_layers: v.usize("num_hidden_layers", vd.num_hidden_layers, MAX_LAYERS)?,
            num_attention_heads: v.usize("num_attention_heads", vd.num_attention_heads, MAX_WIDTH)?,
            num_channels: v.usize("num_channels", vd.num_channels, 3)?,
            image_size: v.pair("image_size", vd.image_size, MAX_IMAGE_SIDE)?,
            patch_size: v.pair("patch_size", vd.patch_size, MAX_IMAGE_SIDE)?,
            hidden_act: Activation::parse(
                FILE,
                "vision_config.hidden_act",
                &v.string("hidden_act", vd.hidden_act.name())?,
            )?,
            layer_norm_eps: v.f64("layer_norm_eps", vd.layer_norm_eps)?,
        };
        let config = ClipConfig {
            text,
            vision,
            // The top-level projection_dim is the one CLIPModel uses; the sub-configs' own
            // `projection_dim` fields are ignored, as transformers does.
            projection_dim: r.usize("projection_dim", 512, MAX_WIDTH)?,
            logit_scale_init_value: r.f64("logit_scale_init_value", 2.6592)?,
        };
        config.validate(FILE)?;
        Ok(config)
    }

    /// Parse an OpenCLIP `open_clip_config.json` (`{"model_cfg": {...}, "preprocess_cfg": {...}}`)
    /// or a bare open_clip model config (`{"embed_dim", "vision_cfg", "text_cfg"}`). Only the
    /// standard ViT + causal text transformer is supported; any option that changes the
    /// architecture (timm or HF towers, layer scale, attentional pooling, ...) is an error that
    /// names it.
    pub fn from_open_clip_json(bytes: &[u8]) -> Result<(Self, PreprocessConfig)> {
        const FILE: &str = "open_clip_config.json";
        let root = parse_object(FILE, bytes)?;
        let model_cfg = match root.get("model_cfg") {
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(Error::config(FILE, "model_cfg must be an object")),
            None => root.clone(),
        };
        let m = Reader::new(FILE, &model_cfg, "model_cfg.");
        let vision_obj = m.object("vision_cfg")?;
        let text_obj = m.object("text_cfg")?;
        let vr = Reader::new(FILE, &vision_obj, "model_cfg.vision_cfg.");
        let tr = Reader::new(FILE, &text_obj, "model_cfg.text_cfg.");

        for (obj, prefix, keys) in [
            (
                &vision_obj,
                "vision_cfg",
                &[
                    "timm_model_name",
                    "ls_init_value",
                    "attentional_pool",
                    "no_ln_pre",
                    "final_ln_after_pool",
                    "qk_norm",
                    "scaled_cosine_attn",
                    "scale_heads",
                    "scale_attn_inner",
                    "scale_attn",
                    "scale_fc",
                    "patch_dropout",
                ][..],
            ),
            (
                &text_obj,
                "text_cfg",
                &[
                    "hf_model_name",
                    "ls_init_value",
                    "embed_cls",
                    "no_causal_mask",
                    "final_ln_after_pool",
                    "proj_bias",
                    "qk_norm",
                    "scaled_cosine_attn",
                    "scale_heads",
                    "scale_attn_inner",
                    "scale_attn",
                    "scale_fc",
                ][..],
            ),
        ] {
            for key in keys {
                match obj.get(*key) {
                    None | Some(Value::Null) | Some(Value::Bool(false)) => {}
                    Some(Value::Number(n)) if n.as_f64() == Some(0.0) => {}
                    Some(v) => {
                        return Err(Error::config(
                            FILE,
                            format!(
                                "{prefix}.{key} = {v} is not supported: webclip runs the standard CLIP ViT and text transformer"
                            ),
                        ));
                    }
                }
            }
        }
        match vision_obj.get("pool_type").and_then(Value::as_str) {
            None | Some("tok") => {}
            Some(p) => {
                return Err(Error::config(
                    FILE,
                    format!("vision_cfg.pool_type = {p:?} is not supported (only \"tok\")"),
                ));
            }
        }
        let text_pool = tr.string("pool_type", "argmax")?;
        let eos_id = tr.u32("eos_id", 2)?;
        let pooling = match text_pool.as_str() {
            "argmax" => TextPooling::Argmax,
            "eos" => TextPooling::FirstEos(eos_id),
            p => return Err(Error::config(FILE, format!("text_cfg.pool_type = {p:?} is not supported (argmax, eos)"))),
        };
        match text_obj.get("proj_type").and_then(Value::as_str) {
            None | Some("linear") => {}
            Some(p) => {
                return Err(Error::config(
                    FILE,
                    format!("text_cfg.proj_type = {p:?} is not supported (only \"linear\")"),
                ));
            }
        }
        let act = if m.bool("quick_gelu", false)? { Activation::QuickGelu } else { Activation::Gelu };

        let vwidth = vr.usize("width", 768, MAX_WIDTH)?;
        let head_width = vr.usize("head_width", 64, MAX_WIDTH)?;
        let vratio = vr.f64("mlp_ratio", 4.0)?;
        let twidth = tr.usize("width", 512, MAX_WIDTH)?;
        let tratio = tr.f64("mlp_ratio", 4.0)?;
        // width × mlp_ratio is the MLP width: a zero, negative or huge ratio would make the
        // model ask for an empty or an absurd (up to usize::MAX-row) weight, so it is refused
        // with the same bound as HF's intermediate_size.
        let mlp_width = |tower: &str, width: usize, ratio: f64| -> Result<usize> {
            let n = (width as f64 * ratio).floor();
            if (1.0..=(MAX_WIDTH * 8) as f64).contains(&n) {
                Ok(n as usize)
            } else {
                Err(Error::config(
                    FILE,
                    format!(
                        "{tower}.mlp_ratio {ratio} gives an MLP width of {n} for width {width}, outside 1..={}",
                        MAX_WIDTH * 8
                    ),
                ))
            }
        };
        if !vwidth.is_multiple_of(head_width) {
            return Err(Error::config(
                FILE,
                format!("vision_cfg.width {vwidth} is not a multiple of head_width {head_width}"),
            ));
        }
        let vlayers = match vision_obj.get("layers") {
            Some(Value::Array(_)) => {
                return Err(Error::config(FILE, "vision_cfg.layers is a list: ResNet image towers are not supported"));
            }
            _ => vr.usize("layers", 12, MAX_LAYERS)?,
        };
        let context = tr.usize("context_length", 77, MAX_POSITIONS)?;
        let config = ClipConfig {
            text: TextConfig {
                vocab_size: tr.usize("vocab_size", 49_408, MAX_VOCAB)?,
                hidden_size: twidth,
                intermediate_size: mlp_width("text_cfg", twidth, tratio)?,
                num_hidden_layers: tr.usize("layers", 12, MAX_LAYERS)?,
                num_attention_heads: tr.usize("heads", 8, MAX_WIDTH)?,
                max_position_embeddings: context,
                hidden_act: act,
                layer_norm_eps: 1e-5,
                bos_token_id: 49_406,
                eos_token_id: if pooling == TextPooling::Argmax { 49_407 } else { eos_id },
                pad_token_id: tr.u32("pad_id", 0)?,
                pooling,
            },
            vision: VisionConfig {
                hidden_size: vwidth,
                intermediate_size: mlp_width("vision_cfg", vwidth, vratio)?,
                num_hidden_layers: vlayers,
                num_attention_heads: vwidth / head_width,
                num_channels: 3,
                image_size: vr.pair("image_size", [224, 224], MAX_IMAGE_SIDE)?,
                patch_size: vr.pair("patch_size", [16, 16], MAX_IMAGE_SIDE)?,
                hidden_act: act,
                layer_norm_eps: 1e-5,
            },
            projection_dim: m.usize("embed_dim", 512, MAX_WIDTH)?,
            logit_scale_init_value: 2.6592,
        };
        config.validate(FILE)?;

        // open_clip's transform conventions (torchvision crop rounding, alpha dropped) apply
        // with or without a preprocess_cfg; the cfg only changes mean/std/interpolation/mode.
        let pre = match root.get("preprocess_cfg") {
            Some(Value::Object(p)) => PreprocessConfig::from_open_clip(p, config.vision.image_size)?,
            Some(_) => return Err(Error::config(FILE, "preprocess_cfg must be an object")),
            None => PreprocessConfig::from_open_clip(&Map::new(), config.vision.image_size)?,
        };
        Ok((config, pre))
    }

    /// Checks the architecture is internally consistent.
    pub fn validate(&self, file: &str) -> Result<()> {
        let t = &self.text;
        let v = &self.vision;
        if !t.hidden_size.is_multiple_of(t.num_attention_heads) {
            return Err(Error::config(
                file,
                format!(
                    "text hidden_size {} is not divisible by num_attention_heads {}",
                    t.hidden_size, t.num_attention_heads
                ),
            ));
        }
        if !v.hidden_size.is_multiple_of(v.num_attention_heads) {
            return Err(Error::config(
                file,
                format!(
                    "vision hidden_size {} is not divisible by num_attention_heads {}",
                    v.hidden_size, v.num_attention_heads
                ),
            ));
        }
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

/// How the image is brought to the model's input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resize {
    /// Shortest edge to this size, the other edge `int(size * long / short)` (HF, torchvision).
    ShortestEdge(usize),
    /// Exactly `[height, width]`, aspect ratio not kept.
    Exact([usize; 2]),
}

/// Resampling filter (Pillow's numbering in `preprocessor_config.json`'s `resample`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    Bicubic,
    Bilinear,
    Lanczos,
    Box,
    Hamming,
}

/// How the top-left corner of the center crop is rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CropRounding {
    /// `(H - h) // 2` (transformers).
    Floor,
    /// `round((H - h) / 2)` (torchvision, so OpenCLIP).
    Round,
}

/// What happens to transparency when an image becomes RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlphaMode {
    /// Composite onto white with Pillow's `alpha_composite` (transformers 5's `convert_to_rgb`).
    CompositeWhite,
    /// Drop the alpha channel (Pillow's `convert("RGB")`, which open_clip's transform uses).
    Drop,
}

/// Image preprocessing (HF `CLIPImageProcessor` fields).
#[derive(Debug, Clone, PartialEq)]
pub struct PreprocessConfig {
    pub resize: Option<Resize>,
    pub filter: Filter,
    /// `[height, width]`.
    pub crop: Option<[usize; 2]>,
    pub crop_rounding: CropRounding,
    pub alpha: AlphaMode,
    pub rescale_factor: Option<f64>,
    pub mean: Option<[f32; 3]>,
    pub std: Option<[f32; 3]>,
}

impl PreprocessConfig {
    /// CLIP's processor for a model of this input size (what a folder without
    /// preprocessor_config.json gets: shortest edge = crop = the model's resolution).
    pub fn for_image_size(image_size: [usize; 2]) -> Self {
        PreprocessConfig {
            resize: Some(Resize::ShortestEdge(image_size[0].min(image_size[1]))),
            filter: Filter::Bicubic,
            crop: Some(image_size),
            crop_rounding: CropRounding::Floor,
            alpha: AlphaMode::CompositeWhite,
            rescale_factor: Some(1.0 / 255.0),
            mean: Some(CLIP_MEAN),
            std: Some(CLIP_STD),
        }
    }

    /// The size of the tensor this produces, when fixed (`None` when nothing fixes it).
    pub fn output_size(&self) -> Option<[usize; 2]> {
        match (self.crop, self.resize) {
            (Some(c), _) => Some(c),
            (None, Some(Resize::Exact(s))) => Some(s),
            _ => None,
        }
    }

    /// Parse an HF `preprocessor_config.json`; missing fields take CLIPImageProcessor's defaults
    /// for a model of `image_size`.
    pub fn from_hf_json(bytes: &[u8], image_size: [usize; 2]) -> Result<Self> {
        const FILE: &str = "preprocessor_config.json";
        let root = parse_object(FILE, bytes)?;
        let r = Reader::new(FILE, &root, "");
        let base = PreprocessConfig::for_image_size(image_size);
        let resize = if r.bool("do_resize", true)? {
            Some(match root.get("size") {
                None | Some(Value::Null) => base.resize.unwrap_or(Resize::ShortestEdge(224)),
                Some(Value::Number(_)) => Resize::ShortestEdge(r.usize("size", 224, MAX_IMAGE_SIDE)?),
                Some(Value::Object(s)) => {
                    let sr = Reader::new(FILE, s, "size.");
                    if s.contains_key("shortest_edge") {
                        Resize::ShortestEdge(sr.usize("shortest_edge", 224, MAX_IMAGE_SIDE)?)
                    } else if s.contains_key("height") && s.contains_key("width") {
                        Resize::Exact([
                            sr.usize("height", 224, MAX_IMAGE_SIDE)?,
                            sr.usize("width", 224, MAX_IMAGE_SIDE)?,
                        ])
                    } else {
                        return Err(Error::config(FILE, "size must hold shortest_edge or height and width"));
                    }
                }
                Some(_) => return Err(Error::config(FILE, "size must be an integer or an object")),
            })
        } else {
            None
        };
        let crop = if r.bool("do_center_crop", true)? {
            Some(match root.get("crop_size") {
                None | Some(Value::Null) => base.crop.unwrap_or(image_size),
                Some(Value::Number(_)) => {
                    let c = r.usize("crop_size", 224, MAX_IMAGE_SIDE)?;
                    [c, c]
                }
                Some(Value::Object(s)) => {
                    let sr = Reader::new(FILE, s, "crop_size.");
                    [sr.usize("height", 224, MAX_IMAGE_SIDE)?, sr.usize("width", 224, MAX_IMAGE_SIDE)?]
                }
                Some(_) => return Err(Error::config(FILE, "crop_size must be an integer or an object")),
            })
        } else {
            None
        };
        let filter = match r.u32("resample", 3)? {
            3 => Filter::Bicubic,
            2 => Filter::Bilinear,
            1 => Filter::Lanczos,
            4 => Filter::Box,
            5 => Filter::Hamming,
            n => {
                return Err(Error::config(FILE, format!("resample = {n} is not supported (1..5; 0 = nearest is not)")));
            }
        };
        let rescale_factor =
            if r.bool("do_rescale", true)? { Some(r.f64("rescale_factor", 1.0 / 255.0)?) } else { None };
        let (mean, std) = if r.bool("do_normalize", true)? {
            (Some(r.triple("image_mean", CLIP_MEAN)?), Some(r.triple("image_std", CLIP_STD)?))
        } else {
            (None, None)
        };
        if let Some(s) = std
            && s.contains(&0.0)
        {
            return Err(Error::config(FILE, "image_std contains 0"));
        }
        Ok(PreprocessConfig {
            resize,
            filter,
            crop,
            crop_rounding: CropRounding::Floor,
            alpha: AlphaMode::CompositeWhite,
            rescale_factor,
            mean,
            std,
        })
    }

    fn from_open_clip(p: &Map<String, Value>, image_size: [usize; 2]) -> Result<Self> {
        const FILE: &str = "open_clip_config.json";
        let r = Reader::new(FILE, p, "preprocess_cfg.");
        let mut c = PreprocessConfig::for_image_size(image_size);
        c.crop_rounding = CropRounding::Round;
        c.alpha = AlphaMode::Drop;
        c.mean = Some(r.triple("mean", CLIP_MEAN)?);
        c.std = Some(r.triple("std", CLIP_STD)?);
        // Pixels are divided by std, as in from_hf_json.
        if let Some(s) = c.std
            && s.contains(&0.0)
        {
            return Err(Error::config(FILE, "preprocess_cfg.std contains 0"));
        }
        c.filter = match r.string("interpolation", "bicubic")?.as_str() {
            "bicubic" => Filter::Bicubic,
            "bilinear" => Filter::Bilinear,
            other => {
                return Err(Error::config(FILE, format!("preprocess_cfg.interpolation = {other:?} is not supported")));
            }
        };
        match r.string("resize_mode", "shortest")?.as_str() {
            "shortest" => {}
            "squash" => {
                c.resize = Some(Resize::Exact(image_size));
                c.crop = None;
            }
            other => {
                return Err(Error::config(FILE, format!("preprocess_cfg.resize_mode = {other:?} is not supported")));
            }
        }
        Ok(c)
    }
}

fn parse_object(file: &str, bytes: &[u8]) -> Result<Map<String, Value>> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| Error::config(file, format!("not valid JSON ({e})")))?;
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(Error::config(file, "must be a JSON object")),
    }
}

/// `text_config` merged with the legacy `text_config_dict` (the latter wins, as in transformers).
fn merged_sub_config(r: &Reader, key: &str) -> Result<Map<String, Value>> {
    let mut out = r.object(key)?;
    let legacy = format!("{key}_dict");
    if r.map.contains_key(&legacy) {
        for (k, v) in r.object(&legacy)? {
            out.insert(k, v);
        }
    }
    Ok(out)
}

fn as_f32(v: &Value) -> Option<f32> {
    v.as_f64().map(|x| x as f32).filter(|x| x.is_finite())
}

fn as_u32(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|x| u32::try_from(x).ok())
}

/// Typed access to a JSON object with defaults and errors that name the field.
struct Reader<'a> {
    file: &'a str,
    map: &'a Map<String, Value>,
    prefix: &'a str,
}

impl<'a> Reader<'a> {
    fn new(file: &'a str, map: &'a Map<String, Value>, prefix: &'a str) -> Self {
        Reader { file, map, prefix }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn type_error(&self, key: &str, expected: &str) -> Error {
        let found = self.map.get(key).map(|v| v.to_string()).unwrap_or_default();
        Error::config(self.file, format!("{}{key} must be {expected}, found {found}", self.prefix))
    }

    fn usize(&self, key: &str, default: usize, max: usize) -> Result<usize> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 && n <= max as u64 => Ok(n as usize),
                _ => Err(self.type_error(key, &format!("an integer in 1..={max}"))),
            },
        }
    }

    fn u32(&self, key: &str, default: u32) -> Result<u32> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => as_u32(v).ok_or_else(|| self.type_error(key, "a non-negative integer")),
        }
    }

    fn f64(&self, key: &str, default: f64) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() => Ok(x),
                _ => Err(self.type_error(key, "a number")),
            },
        }
    }

    fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.type_error(key, "true or false")),
        }
    }

    fn string(&self, key: &str, default: &str) -> Result<String> {
        match self.get(key) {
            None => Ok(default.to_string()),
            Some(v) => v.as_str().map(str::to_string).ok_or_else(|| self.type_error(key, "a string")),
        }
    }

    fn object(&self, key: &str) -> Result<Map<String, Value>> {
        match self.get(key) {
            None => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(_) => Err(self.type_error(key, "an object")),
        }
    }

    /// An int `n` (square) or a list `[h, w]`.
    fn pair(&self, key: &str, default: [usize; 2], max: usize) -> Result<[usize; 2]> {
        let ok = |v: &Value| v.as_u64().filter(|&n| n >= 1 && n <= max as u64).map(|n| n as usize);
        match self.get(key) {
            None => Ok(default),
            Some(Value::Array(a)) if a.len() == 2 => match (ok(&a[0]), ok(&a[1])) {
                (Some(h), Some(w)) => Ok([h, w]),
                _ => Err(self.type_error(key, &format!("an integer in 1..={max} or a pair of them"))),
            },
            Some(v) => ok(v)
                .map(|n| [n, n])
                .ok_or_else(|| self.type_error(key, &format!("an integer in 1..={max} or a pair of them"))),
        }
    }

    fn triple(&self, key: &str, default: [f32; 3]) -> Result<[f32; 3]> {
        match self.get(key) {
            None => Ok(default),
            // Checked after the conversion: 1e39 is a finite f64 but an infinite f32, and an
            // infinite mean or std makes every pixel non-finite.
            Some(v @ Value::Number(_)) => {
                let x = as_f32(v).ok_or_else(|| self.type_error(key, "three numbers in f32 range"))?;
                Ok([x, x, x])
            }
            Some(Value::Array(a)) if a.len() == 3 => {
                let mut out = [0f32; 3];
                for (o, v) in out.iter_mut().zip(a) {
                    *o = as_f32(v).ok_or_else(|| self.type_error(key, "three numbers in f32 range"))?;
                }
                Ok(out)
            }
            Some(_) => Err(self.type_error(key, "three numbers")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real config.json of openai/clip-vit-base-patch32 leaves almost every field to the
    /// defaults; it must come out as ViT-B/32.
    #[test]
    fn minimal_hub_config_takes_transformers_defaults() {
        let json = br#"{
          "_name_or_path": "openai/clip-vit-base-patch32",
          "architectures": ["CLIPModel"],
          "initializer_factor": 1.0,
          "logit_scale_init_value": 2.6592,
          "model_type": "clip",
          "projection_dim": 512,
          "text_config": {"bos_token_id": 0, "dropout": 0.0, "eos_token_id": 2, "model_type": "clip_text_model"},
          "text_config_dict": null,
          "torch_dtype": "float32",
          "transformers_version": null,
          "vision_config": {"dropout": 0.0, "model_type": "clip_vision_model"}
        }"#;
        let c = ClipConfig::from_hf_json(json).unwrap();
        assert_eq!(c, ClipConfig::vit_b32());
        assert_eq!(c.text.pooling, TextPooling::Argmax);
        assert_eq!(c.vision.num_positions(), 50);
    }

    #[test]
    fn legacy_dict_keys_override() {
        let json = br#"{"text_config": {"hidden_size": 256}, "text_config_dict": {"hidden_size": 128, "num_attention_heads": 4},
                        "vision_config_dict": {"image_size": 336, "patch_size": 14}}"#;
        let c = ClipConfig::from_hf_json(json).unwrap();
        assert_eq!(c.text.hidden_size, 128);
        assert_eq!(c.vision.image_size, [336, 336]);
        assert_eq!(c.vision.num_positions(), 577);
        assert_eq!(c.text.pooling, TextPooling::FirstEos(49407));
    }

    #[test]
    fn eos_list_and_activation() {
        let json = br#"{"text_config": {"eos_token_id": [49407, 2], "hidden_act": "gelu"}}"#;
        let c = ClipConfig::from_hf_json(json).unwrap();
        assert_eq!(c.text.eos_token_id, 49407);
        assert_eq!(c.text.hidden_act, Activation::Gelu);
    }

    #[test]
    fn bad_configs_name_the_problem() {
        let err = |j: &[u8]| ClipConfig::from_hf_json(j).unwrap_err().to_string();
        assert!(err(b"not json").contains("config.json: not valid JSON"), "{}", err(b"not json"));
        assert!(err(b"[1,2]").contains("must be a JSON object"));
        let e = err(br#"{"text_config": {"hidden_size": "big"}}"#);
        assert!(e.contains("text_config.hidden_size must be an integer"), "{e}");
        let e = err(br#"{"vision_config": {"hidden_act": "swish"}}"#);
        assert!(e.contains("vision_config.hidden_act = \"swish\" is not supported"), "{e}");
        let e = err(br#"{"vision_config": {"hidden_size": 100, "num_attention_heads": 12}}"#);
        assert!(e.contains("not divisible"), "{e}");
        let e = err(br#"{"vision_config": {"image_size": 225}}"#);
        assert!(e.contains("not a multiple of patch_size"), "{e}");
        let e = err(br#"{"text_config": {"num_hidden_layers": 100000}}"#);
        assert!(e.contains("1..=256"), "{e}");
        let e = err(br#"{"text_config": 5}"#);
        assert!(e.contains("text_config must be an object"), "{e}");
    }

    #[test]
    fn preprocessor_variants() {
        let p = PreprocessConfig::from_hf_json(br#"{"size": 224, "crop_size": 224}"#, [224, 224]).unwrap();
        assert_eq!(p.resize, Some(Resize::ShortestEdge(224)));
        assert_eq!(p.crop, Some([224, 224]));
        let p = PreprocessConfig::from_hf_json(
            br#"{"size": {"height": 64, "width": 32}, "do_center_crop": false, "resample": 2}"#,
            [64, 32],
        )
        .unwrap();
        assert_eq!(p.resize, Some(Resize::Exact([64, 32])));
        assert_eq!(p.crop, None);
        assert_eq!(p.filter, Filter::Bilinear);
        let e = PreprocessConfig::from_hf_json(br#"{"resample": 0}"#, [224, 224]).unwrap_err().to_string();
        assert!(e.contains("resample = 0"), "{e}");
        let e = PreprocessConfig::from_hf_json(br#"{"image_std": [1, 0, 1]}"#, [224, 224]).unwrap_err().to_string();
        assert!(e.contains("image_std contains 0"), "{e}");
    }

    #[test]
    fn open_clip_configs() {
        let (c, p) = ClipConfig::from_open_clip_json(
            br#"{"model_cfg": {"embed_dim": 512, "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
                 "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}},
                 "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}"#,
        )
        .unwrap();
        assert_eq!(c.vision.num_attention_heads, 12);
        assert_eq!(c.vision.hidden_act, Activation::Gelu);
        assert_eq!(c.text.pooling, TextPooling::Argmax);
        assert_eq!(p.mean, Some([0.5; 3]));
        assert_eq!(p.crop_rounding, CropRounding::Round);
        let e = ClipConfig::from_open_clip_json(
            br#"{"embed_dim": 512, "vision_cfg": {"timm_model_name": "convnext"}, "text_cfg": {}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("vision_cfg.timm_model_name"), "{e}");
        let e = ClipConfig::from_open_clip_json(
            br#"{"embed_dim": 1024, "vision_cfg": {"layers": [3, 4, 6, 3]}, "text_cfg": {}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("ResNet"), "{e}");
    }
}
