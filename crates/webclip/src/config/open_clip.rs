//! OpenCLIP's `open_clip_config.json` (`{"model_cfg": {...}, "preprocess_cfg": {...}}`), or a
//! bare open_clip model config (`{"embed_dim", "vision_cfg", "text_cfg"}`).
//!
//! Only the standard ViT + causal text transformer is supported; any option that changes the
//! architecture (timm or HF towers, layer scale, attentional pooling, ...) is an error that
//! names it. open_clip's transform conventions (torchvision's crop rounding, alpha dropped)
//! apply with or without a `preprocess_cfg`, which only changes mean/std/interpolation/mode.

use serde_json::{Map, Value};

use super::{
    Activation, ClipConfig, EncoderConfig, MAX_IMAGE_SIDE, MAX_LAYERS, MAX_POSITIONS, MAX_VOCAB, MAX_WIDTH, TextConfig,
    TextPooling, VisionConfig,
};
use crate::error::{Error, Result};
use crate::json::{Fields, parse_object};
use crate::preprocess::config::{
    AlphaMode, CLIP_MEAN, CLIP_STD, CropRounding, Filter, MIN_STD, PreprocessConfig, Resize, degenerate_std,
};

const FILE: &str = "open_clip_config.json";

/// Options of either tower's config that change the architecture.
const TOWER_UNSUPPORTED: &[&str] = &[
    "ls_init_value",
    "final_ln_after_pool",
    "qk_norm",
    "scaled_cosine_attn",
    "scale_heads",
    "scale_attn_inner",
    "scale_attn",
    "scale_fc",
];
/// Options of `vision_cfg` only that change the architecture.
const VISION_UNSUPPORTED: &[&str] = &["timm_model_name", "attentional_pool", "no_ln_pre", "patch_dropout"];
/// Options of `text_cfg` only that change the architecture.
const TEXT_UNSUPPORTED: &[&str] = &["hf_model_name", "embed_cls", "no_causal_mask", "proj_bias"];

impl ClipConfig {
    /// Parses an OpenCLIP config into the architecture and the preprocessing it implies.
    pub fn from_open_clip_json(bytes: &[u8]) -> Result<(Self, PreprocessConfig)> {
        let root = parse_object(FILE, bytes)?;
        let model_cfg = match root.get("model_cfg") {
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(Error::config(FILE, "model_cfg must be an object")),
            None => root.clone(),
        };
        let m = Fields::new(FILE, &model_cfg, "model_cfg.");
        let vision_obj = m.object("vision_cfg")?;
        let text_obj = m.object("text_cfg")?;
        let vr = Fields::new(FILE, &vision_obj, "vision_cfg.");
        let tr = Fields::new(FILE, &text_obj, "text_cfg.");
        let standard = "webclip runs the standard CLIP ViT and text transformer";
        for (fields, own) in [(&vr, VISION_UNSUPPORTED), (&tr, TEXT_UNSUPPORTED)] {
            for key in own.iter().chain(TOWER_UNSUPPORTED) {
                fields.unsupported(key, standard)?;
            }
        }
        match vr.get("pool_type").and_then(Value::as_str) {
            None | Some("tok") => {}
            Some(p) => return Err(vr.error("pool_type", format!("= {p:?} is not supported (only \"tok\")"))),
        }
        let eos_id = tr.u32("eos_id", 2)?;
        let pooling = match tr.string("pool_type", "argmax")?.as_str() {
            "argmax" => TextPooling::Argmax,
            "eos" => TextPooling::FirstEos(eos_id),
            p => return Err(tr.error("pool_type", format!("= {p:?} is not supported (argmax, eos)"))),
        };
        match tr.get("proj_type").and_then(Value::as_str) {
            None | Some("linear") => {}
            Some(p) => return Err(tr.error("proj_type", format!("= {p:?} is not supported (only \"linear\")"))),
        }
        let act = if m.bool("quick_gelu", false)? { Activation::QuickGelu } else { Activation::Gelu };

        let vwidth = vr.usize("width", 768, MAX_WIDTH)?;
        let head_width = vr.usize("head_width", 64, MAX_WIDTH)?;
        if !vwidth.is_multiple_of(head_width) {
            return Err(vr.error("width", format!("{vwidth} is not a multiple of head_width {head_width}")));
        }
        let vlayers = match vision_obj.get("layers") {
            Some(Value::Array(_)) => {
                return Err(vr.error("layers", "is a list: ResNet image towers are not supported"));
            }
            _ => vr.usize("layers", 12, MAX_LAYERS)?,
        };
        let twidth = tr.usize("width", 512, MAX_WIDTH)?;
        // width × mlp_ratio is the MLP width: a zero, negative or huge ratio would make the model
        // ask for an empty or an absurd (up to usize::MAX-row) weight, so it is refused with the
        // same bound as HF's intermediate_size.
        let mlp = |width: usize, f: &Fields| -> Result<usize> {
            let ratio = f.f64("mlp_ratio", 4.0)?;
            let n = (width as f64 * ratio).floor();
            if (1.0..=(MAX_WIDTH * 8) as f64).contains(&n) {
                Ok(n as usize)
            } else {
                Err(f.error(
                    "mlp_ratio",
                    format!("{ratio} gives an MLP width of {n} for width {width}, outside 1..={}", MAX_WIDTH * 8),
                ))
            }
        };
        let config = ClipConfig {
            text: TextConfig {
                encoder: EncoderConfig {
                    hidden_size: twidth,
                    intermediate_size: mlp(twidth, &tr)?,
                    num_hidden_layers: tr.usize("layers", 12, MAX_LAYERS)?,
                    num_attention_heads: tr.usize("heads", 8, MAX_WIDTH)?,
                    hidden_act: act,
                    layer_norm_eps: 1e-5,
                },
                vocab_size: tr.usize("vocab_size", 49_408, MAX_VOCAB)?,
                max_position_embeddings: tr.usize("context_length", 77, MAX_POSITIONS)?,
                bos_token_id: 49_406,
                eos_token_id: if pooling == TextPooling::Argmax { 49_407 } else { eos_id },
                pad_token_id: tr.u32("pad_id", 0)?,
                pooling,
                causal: true,
            },
            vision: VisionConfig {
                encoder: EncoderConfig {
                    hidden_size: vwidth,
                    intermediate_size: mlp(vwidth, &vr)?,
                    num_hidden_layers: vlayers,
                    num_attention_heads: vwidth / head_width,
                    hidden_act: act,
                    layer_norm_eps: 1e-5,
                },
                num_channels: 3,
                image_size: vr.pair("image_size", [224, 224], MAX_IMAGE_SIDE)?,
                patch_size: vr.pair("patch_size", [16, 16], MAX_IMAGE_SIDE)?,
                class_token: true,
            },
            projection_dim: m.usize("embed_dim", 512, MAX_WIDTH)?,
            logit_scale_init_value: 2.6592,
            logit_bias_init_value: 0.0,
            family: super::Family::Clip,
        };
        config.validate(FILE)?;
        let pre = match root.get("preprocess_cfg") {
            Some(Value::Object(p)) => preprocess(p, config.vision.image_size)?,
            Some(_) => return Err(Error::config(FILE, "preprocess_cfg must be an object")),
            None => preprocess(&Map::new(), config.vision.image_size)?,
        };
        Ok((config, pre))
    }
}

/// open_clip's image transform for a model of `image_size`, with `preprocess_cfg`'s changes.
fn preprocess(p: &Map<String, Value>, image_size: [usize; 2]) -> Result<PreprocessConfig> {
    let r = Fields::new(FILE, p, "preprocess_cfg.");
    let mut c = PreprocessConfig::for_image_size(image_size);
    c.crop_rounding = CropRounding::Round;
    c.alpha = AlphaMode::Drop;
    c.mean = Some(r.triple("mean", CLIP_MEAN)?);
    c.std = Some(r.triple("std", CLIP_STD)?);
    c.filter = match r.string("interpolation", "bicubic")?.as_str() {
        "bicubic" => Filter::Bicubic,
        "bilinear" => Filter::Bilinear,
        other => return Err(r.error("interpolation", format!("= {other:?} is not supported"))),
    };
    match r.string("resize_mode", "shortest")?.as_str() {
        "shortest" => {}
        "squash" => {
            c.resize = Some(Resize::Exact(image_size));
            c.crop = None;
        }
        other => return Err(r.error("resize_mode", format!("= {other:?} is not supported"))),
    }
    if c.std.is_some_and(degenerate_std) {
        return Err(r.error("std", format!("contains 0 (or a value under {MIN_STD})")));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_clip_configs() {
        let (c, p) = ClipConfig::from_open_clip_json(
            br#"{"model_cfg": {"embed_dim": 512, "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
                 "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}},
                 "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}"#,
        )
        .unwrap();
        assert_eq!(c.vision.encoder.num_attention_heads, 12);
        assert_eq!(c.vision.encoder.hidden_act, Activation::Gelu);
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
        let e = ClipConfig::from_open_clip_json(br#"{"preprocess_cfg": {"std": 0}}"#).unwrap_err().to_string();
        assert!(e.contains("preprocess_cfg.std contains 0"), "{e}");
    }
}
