//! HF transformers' SigLIP `config.json` (`SiglipConfig`, `model_type: "siglip"`): read, and
//! written back for exported models. SigLIP 2's fixed-resolution checkpoints are `SiglipModel`
//! folders too (a Gemma tokenizer, otherwise the same architecture).
//!
//! Hub configs are often minimal (SigLIP 2's sets little more than `model_type` and
//! `text_config.vocab_size`), so every missing field takes `SiglipTextConfig()` /
//! `SiglipVisionConfig()`'s default: B/16 at 224 px, width 768, 12 layers, 12 heads, MLP 3072,
//! `gelu_pytorch_tanh`, LayerNorm eps 1e-6, 64 text positions, vocab 32000, pad id 1,
//! `projection_size` = the text width (docs/checkpoints.md).

use serde_json::{Value, json};

use super::hf::merged_sub_config;
use super::{
    Activation, ClipConfig, EncoderConfig, Family, MAX_IMAGE_SIDE, MAX_POSITIONS, MAX_VOCAB, MAX_WIDTH, TextConfig,
    TextPooling, VisionConfig,
};
use crate::error::{Error, Result};
use crate::json::{Fields, as_u32, parse_object};

const FILE: &str = "config.json";

/// The SigLIP paper's initial temperature, `ln 10` (for models trained from scratch).
pub const SIGLIP_LOGIT_SCALE_INIT: f64 = std::f64::consts::LN_10;
/// The SigLIP paper's initial bias.
pub const SIGLIP_LOGIT_BIAS_INIT: f64 = -10.0;

fn encoder_defaults() -> EncoderConfig {
    EncoderConfig {
        hidden_size: 768,
        intermediate_size: 3072,
        num_hidden_layers: 12,
        num_attention_heads: 12,
        hidden_act: Activation::GeluTanh,
        layer_norm_eps: 1e-6,
    }
}

impl ClipConfig {
    /// transformers' `SiglipConfig()`: SigLIP B/16 at 224 px (English vocab of 32000).
    pub fn siglip_b16() -> Self {
        ClipConfig {
            family: Family::Siglip,
            text: TextConfig {
                encoder: encoder_defaults(),
                vocab_size: 32_000,
                max_position_embeddings: 64,
                bos_token_id: 49_406,
                eos_token_id: 49_407,
                pad_token_id: 1,
                pooling: TextPooling::LastPadded,
                causal: false,
            },
            vision: VisionConfig {
                encoder: encoder_defaults(),
                num_channels: 3,
                image_size: [224, 224],
                patch_size: [16, 16],
                class_token: false,
            },
            projection_dim: 768,
            logit_scale_init_value: SIGLIP_LOGIT_SCALE_INIT,
            logit_bias_init_value: SIGLIP_LOGIT_BIAS_INIT,
        }
    }

    /// Parses a SigLIP `config.json`; missing fields take transformers' defaults.
    pub fn from_siglip_json(bytes: &[u8]) -> Result<Self> {
        let root = parse_object(FILE, bytes)?;
        let r = Fields::new(FILE, &root, "");
        let text_obj = merged_sub_config(&r, "text_config")?;
        let vision_obj = merged_sub_config(&r, "vision_config")?;
        let t = Fields::new(FILE, &text_obj, "text_config.");
        let v = Fields::new(FILE, &vision_obj, "vision_config.");
        let d = ClipConfig::siglip_b16();
        if !v.bool("vision_use_head", true)? {
            return Err(Error::config(
                FILE,
                "vision_config.vision_use_head is false: this vision tower has no pooling head, so it makes no \
                 image embedding to compare with text (a feature extractor, not a zero-shot model)",
            ));
        }
        let eos_token_id = match t.get("eos_token_id") {
            Some(Value::Array(a)) if !a.is_empty() => {
                as_u32(&a[0]).ok_or_else(|| t.type_error("eos_token_id", "an integer"))?
            }
            _ => t.u32("eos_token_id", d.text.eos_token_id)?,
        };
        let text_encoder = EncoderConfig::read_hf(&t, &d.text.encoder)?;
        let text = TextConfig {
            vocab_size: t.usize("vocab_size", d.text.vocab_size, MAX_VOCAB)?,
            max_position_embeddings: t.usize("max_position_embeddings", 64, MAX_POSITIONS)?,
            bos_token_id: t.u32("bos_token_id", d.text.bos_token_id)?,
            eos_token_id,
            pad_token_id: t.u32("pad_token_id", d.text.pad_token_id)?,
            pooling: TextPooling::LastPadded,
            causal: false,
            encoder: text_encoder,
        };
        let projection_dim = t.usize("projection_size", text.encoder.hidden_size, MAX_WIDTH)?;
        let vision = VisionConfig {
            encoder: EncoderConfig::read_hf(&v, &d.vision.encoder)?,
            num_channels: v.usize("num_channels", 3, 3)?,
            image_size: v.pair("image_size", d.vision.image_size, MAX_IMAGE_SIDE)?,
            patch_size: v.pair("patch_size", d.vision.patch_size, MAX_IMAGE_SIDE)?,
            class_token: false,
        };
        let config = ClipConfig {
            family: Family::Siglip,
            text,
            vision,
            projection_dim,
            logit_scale_init_value: SIGLIP_LOGIT_SCALE_INIT,
            logit_bias_init_value: SIGLIP_LOGIT_BIAS_INIT,
        };
        config.validate(FILE)?;
        Ok(config)
    }

    /// A complete SigLIP `config.json` (every field written); `dtype` is its `torch_dtype`.
    pub(super) fn to_siglip_json(&self, dtype: &str) -> Value {
        let (t, v) = (&self.text, &self.vision);
        let mut text = t.write_hf("siglip_text_model", t.eos_token_id);
        text.insert("projection_size".into(), json!(self.projection_dim));
        let mut vision = v.write_hf("siglip_vision_model");
        vision.insert("vision_use_head".into(), json!(true));
        json!({
            "architectures": ["SiglipModel"],
            "model_type": "siglip",
            "initializer_factor": 1.0,
            "torch_dtype": dtype,
            "text_config": text,
            "vision_config": vision,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The config.json of google/siglip2-base-patch16-224 as published: everything but the
    /// vocabulary comes from the defaults.
    #[test]
    fn minimal_siglip2_config_takes_transformers_defaults() {
        let json = br#"{
          "architectures": ["SiglipModel"],
          "initializer_factor": 1.0,
          "model_type": "siglip",
          "text_config": {"model_type": "siglip_text_model", "vocab_size": 256000},
          "torch_dtype": "float32",
          "transformers_version": "4.49.0.dev0",
          "vision_config": {"model_type": "siglip_vision_model"}
        }"#;
        let c = ClipConfig::from_config_json(json).unwrap();
        let mut expected = ClipConfig::siglip_b16();
        expected.text.vocab_size = 256_000;
        assert_eq!(c, expected);
        assert_eq!(c.vision.num_positions(), 196);
        assert_eq!(c.context_length(), 64);
    }

    #[test]
    fn written_configs_read_back_the_same() {
        let mut c = ClipConfig::siglip_b16();
        c.text.encoder.hidden_size = 32;
        c.text.encoder.num_attention_heads = 4;
        c.vision.image_size = [64, 48];
        let bytes = serde_json::to_vec(&c.to_config_json("float32")).unwrap();
        assert_eq!(ClipConfig::from_config_json(&bytes).unwrap(), c);
    }

    #[test]
    fn bad_siglip_configs_name_the_problem() {
        let err = |j: &[u8]| ClipConfig::from_config_json(j).unwrap_err().to_string();
        let e = err(br#"{"model_type": "siglip", "text_config": {"projection_size": 512}}"#);
        assert!(e.contains("projection_size 512 differs from the vision hidden_size 768"), "{e}");
        let e = err(br#"{"model_type": "siglip", "vision_config": {"vision_use_head": false}}"#);
        assert!(e.contains("vision_use_head is false"), "{e}");
        let e = err(br#"{"model_type": "siglip2"}"#);
        assert!(e.contains("NaFlex"), "{e}");
        let e = err(br#"{"model_type": "llama"}"#);
        assert!(e.contains("model_type \"llama\" is not a family webclip runs"), "{e}");
        let e = err(br#"{"model_type": "siglip", "vision_config": {"hidden_act": "swish"}}"#);
        assert!(e.contains("vision_config.hidden_act = \"swish\""), "{e}");
    }
}
