//! HF transformers' `config.json` (`CLIPConfig` with `text_config` and `vision_config`): read,
//! and written back for exported models.

use serde_json::{Map, Value, json};

use super::{
    Activation, ClipConfig, EncoderConfig, Family, MAX_IMAGE_SIDE, MAX_LAYERS, MAX_POSITIONS, MAX_VOCAB, MAX_WIDTH,
    TextConfig, TextPooling, VisionConfig,
};
use crate::error::Result;
use crate::json::{Fields, as_u32, parse_object};

const FILE: &str = "config.json";

impl EncoderConfig {
    /// The six encoder fields of an HF tower config (the same names in both towers).
    pub(super) fn read_hf(f: &Fields, defaults: &EncoderConfig) -> Result<Self> {
        let field = format!("{}hidden_act", f.prefix);
        Ok(EncoderConfig {
            hidden_size: f.usize("hidden_size", defaults.hidden_size, MAX_WIDTH)?,
            intermediate_size: f.usize("intermediate_size", defaults.intermediate_size, MAX_WIDTH * 8)?,
            num_hidden_layers: f.usize("num_hidden_layers", defaults.num_hidden_layers, MAX_LAYERS)?,
            num_attention_heads: f.usize("num_attention_heads", defaults.num_attention_heads, MAX_WIDTH)?,
            hidden_act: Activation::parse(FILE, &field, &f.string("hidden_act", defaults.hidden_act.name())?)?,
            layer_norm_eps: f.f64("layer_norm_eps", defaults.layer_norm_eps)?,
        })
    }

    pub(super) fn write_hf(&self, out: &mut Map<String, Value>) {
        out.insert("hidden_size".into(), json!(self.hidden_size));
        out.insert("intermediate_size".into(), json!(self.intermediate_size));
        out.insert("num_hidden_layers".into(), json!(self.num_hidden_layers));
        out.insert("num_attention_heads".into(), json!(self.num_attention_heads));
        out.insert("hidden_act".into(), json!(self.hidden_act.name()));
        out.insert("layer_norm_eps".into(), json!(self.layer_norm_eps));
    }
}

impl ClipConfig {
    /// Parses an HF `config.json`; missing fields take transformers' defaults.
    pub fn from_hf_json(bytes: &[u8]) -> Result<Self> {
        let root = parse_object(FILE, bytes)?;
        let r = Fields::new(FILE, &root, "");
        let text_obj = merged_sub_config(&r, "text_config")?;
        let vision_obj = merged_sub_config(&r, "vision_config")?;
        let t = Fields::new(FILE, &text_obj, "text_config.");
        let v = Fields::new(FILE, &vision_obj, "vision_config.");
        let (td, vd) = (TextConfig::default(), VisionConfig::default());

        let eos_token_id = match text_obj.get("eos_token_id") {
            None | Some(Value::Null) => td.eos_token_id,
            Some(Value::Array(a)) if !a.is_empty() => {
                as_u32(&a[0]).ok_or_else(|| t.type_error("eos_token_id", "an integer or a list of integers"))?
            }
            Some(x) => as_u32(x).ok_or_else(|| t.type_error("eos_token_id", "an integer or a list of integers"))?,
        };
        let text = TextConfig {
            encoder: EncoderConfig::read_hf(&t, &td.encoder)?,
            vocab_size: t.usize("vocab_size", td.vocab_size, MAX_VOCAB)?,
            max_position_embeddings: t.usize("max_position_embeddings", td.max_position_embeddings, MAX_POSITIONS)?,
            bos_token_id: t.u32("bos_token_id", td.bos_token_id)?,
            eos_token_id,
            pad_token_id: t.u32("pad_token_id", td.pad_token_id)?,
            // transformers' rule (modeling_clip.py): legacy configs say eos_token_id = 2 and pool
            // at argmax(input_ids); newer ones pool at the first real end token.
            pooling: if eos_token_id == 2 { TextPooling::Argmax } else { TextPooling::FirstEos(eos_token_id) },
            causal: true,
        };
        let vision = VisionConfig {
            encoder: EncoderConfig::read_hf(&v, &vd.encoder)?,
            num_channels: v.usize("num_channels", vd.num_channels, 3)?,
            image_size: v.pair("image_size", vd.image_size, MAX_IMAGE_SIDE)?,
            patch_size: v.pair("patch_size", vd.patch_size, MAX_IMAGE_SIDE)?,
            class_token: true,
        };
        let config = ClipConfig {
            family: Family::Clip,
            text,
            vision,
            // The top-level projection_dim is the one CLIPModel uses; the sub-configs' own
            // `projection_dim` fields are ignored, as transformers does.
            projection_dim: r.usize("projection_dim", 512, MAX_WIDTH)?,
            logit_scale_init_value: r.f64("logit_scale_init_value", 2.6592)?,
            logit_bias_init_value: 0.0,
        };
        config.validate(FILE)?;
        Ok(config)
    }

    /// A complete `config.json` (every field written, so it does not depend on defaults);
    /// `dtype` is its `torch_dtype` ("float32", "float16").
    pub fn to_hf_json(&self, dtype: &str) -> Value {
        let (t, v) = (&self.text, &self.vision);
        // transformers pools at argmax(input_ids) exactly when eos_token_id == 2.
        let eos = match t.pooling {
            TextPooling::Argmax => 2,
            TextPooling::FirstEos(id) => id,
            TextPooling::LastPadded => t.eos_token_id,
        };
        let mut text = t.write_hf("clip_text_model", eos);
        text.insert("projection_dim".into(), json!(self.projection_dim));
        let mut vision = v.write_hf("clip_vision_model");
        vision.insert("projection_dim".into(), json!(self.projection_dim));
        json!({
            "architectures": ["CLIPModel"],
            "model_type": "clip",
            "projection_dim": self.projection_dim,
            "logit_scale_init_value": self.logit_scale_init_value,
            "initializer_factor": 1.0,
            "torch_dtype": dtype,
            "text_config": text,
            "vision_config": vision,
        })
    }
}

impl TextConfig {
    /// The fields CLIP's and SigLIP's text configs share; `eos` is the `eos_token_id` written.
    pub(super) fn write_hf(&self, model_type: &str, eos: u32) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("model_type".into(), json!(model_type));
        out.insert("vocab_size".into(), json!(self.vocab_size));
        self.encoder.write_hf(&mut out);
        out.insert("max_position_embeddings".into(), json!(self.max_position_embeddings));
        out.insert("bos_token_id".into(), json!(self.bos_token_id));
        out.insert("eos_token_id".into(), json!(eos));
        out.insert("pad_token_id".into(), json!(self.pad_token_id));
        out
    }
}

impl VisionConfig {
    /// The fields CLIP's and SigLIP's vision configs share (a square size as one number).
    pub(super) fn write_hf(&self, model_type: &str) -> Map<String, Value> {
        let side = |s: [usize; 2]| if s[0] == s[1] { json!(s[0]) } else { json!(s) };
        let mut out = Map::new();
        out.insert("model_type".into(), json!(model_type));
        self.encoder.write_hf(&mut out);
        out.insert("num_channels".into(), json!(self.num_channels));
        out.insert("image_size".into(), side(self.image_size));
        out.insert("patch_size".into(), side(self.patch_size));
        out
    }
}

/// `text_config` merged with the legacy `text_config_dict` (the latter wins, as in transformers).
pub(super) fn merged_sub_config(r: &Fields, key: &str) -> Result<Map<String, Value>> {
    let mut out = r.object(key)?;
    let legacy = format!("{key}_dict");
    if r.map.contains_key(&legacy) {
        for (k, v) in r.object(&legacy)? {
            out.insert(k, v);
        }
    }
    Ok(out)
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
        assert_eq!(c.text.encoder.hidden_size, 128);
        assert_eq!(c.vision.image_size, [336, 336]);
        assert_eq!(c.vision.num_positions(), 577);
        assert_eq!(c.text.pooling, TextPooling::FirstEos(49407));
    }

    #[test]
    fn eos_list_and_activation() {
        let json = br#"{"text_config": {"eos_token_id": [49407, 2], "hidden_act": "gelu"}}"#;
        let c = ClipConfig::from_hf_json(json).unwrap();
        assert_eq!(c.text.eos_token_id, 49407);
        assert_eq!(c.text.encoder.hidden_act, Activation::Gelu);
    }

    #[test]
    fn written_configs_read_back_the_same() {
        for c in [ClipConfig::vit_b32(), ClipConfig::default()] {
            let bytes = serde_json::to_vec(&c.to_hf_json("float32")).unwrap();
            assert_eq!(ClipConfig::from_hf_json(&bytes).unwrap(), c);
        }
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
        let e = err(br#"{"vision_config": {"layer_norm_eps": 0}}"#);
        assert!(e.contains("vision layer_norm_eps must be a positive number"), "{e}");
        // Each size within its bound, their product not: 4096² pixels in 1-pixel patches.
        let e = err(br#"{"vision_config": {"image_size": 4096, "patch_size": 1}}"#);
        assert!(e.contains("16777217 positions"), "{e}");
    }
}
