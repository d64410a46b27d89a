//! The image preprocessing a checkpoint asks for (HF `CLIPImageProcessor` fields), read from
//! `preprocessor_config.json` and written back for exported models. OpenCLIP's transform is
//! read from its own config file (`crate::config::open_clip`).

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::json::{Fields, MAX_IMAGE_SIDE, parse_object};

/// OpenAI's CLIP normalisation constants (also transformers' OPENAI_CLIP_MEAN / _STD).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// See [`CLIP_MEAN`].
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

/// SigLIP's normalisation (transformers' IMAGENET_STANDARD_MEAN / _STD).
pub const SIGLIP_MEAN: [f32; 3] = [0.5, 0.5, 0.5];
/// See [`SIGLIP_MEAN`].
pub const SIGLIP_STD: [f32; 3] = [0.5, 0.5, 0.5];

/// The smallest standard deviation normalisation accepts: below it a pixel divided by it
/// overflows f32 (real ones are around 0.27 or 0.5).
pub(crate) const MIN_STD: f32 = 1e-6;

/// Whether a std would divide pixels by (nearly) zero.
pub(crate) fn degenerate_std(std: [f32; 3]) -> bool {
    std.iter().any(|s| s.abs() < MIN_STD)
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

    /// SigLIP's processor for a model of this input size (`SiglipImageProcessor`'s defaults:
    /// resize to exactly the input size, bicubic, no crop, mean = std = 0.5).
    pub fn siglip(image_size: [usize; 2]) -> Self {
        PreprocessConfig {
            resize: Some(Resize::Exact(image_size)),
            filter: Filter::Bicubic,
            crop: None,
            crop_rounding: CropRounding::Floor,
            alpha: AlphaMode::CompositeWhite,
            rescale_factor: Some(1.0 / 255.0),
            mean: Some(SIGLIP_MEAN),
            std: Some(SIGLIP_STD),
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
        Self::read_hf(bytes, image_size, PreprocessConfig::for_image_size(image_size))
    }

    /// Parse a SigLIP `preprocessor_config.json`; missing fields take SiglipImageProcessor's
    /// defaults for a model of `image_size` ([`PreprocessConfig::siglip`]).
    pub fn from_siglip_json(bytes: &[u8], image_size: [usize; 2]) -> Result<Self> {
        Self::read_hf(bytes, image_size, PreprocessConfig::siglip(image_size))
    }

    /// The fields both processors share, with `base` giving the defaults.
    fn read_hf(bytes: &[u8], image_size: [usize; 2], base: PreprocessConfig) -> Result<Self> {
        const FILE: &str = "preprocessor_config.json";
        let root = parse_object(FILE, bytes)?;
        let r = Fields::new(FILE, &root, "");
        let resize = if r.bool("do_resize", true)? {
            Some(match root.get("size") {
                None | Some(Value::Null) => base.resize.unwrap_or(Resize::ShortestEdge(224)),
                Some(Value::Number(_)) => Resize::ShortestEdge(r.usize("size", 224, MAX_IMAGE_SIDE)?),
                Some(Value::Object(s)) => {
                    let sr = Fields::new(FILE, s, "size.");
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
        let crop = if r.bool("do_center_crop", base.crop.is_some())? {
            Some(match root.get("crop_size") {
                None | Some(Value::Null) => base.crop.unwrap_or(image_size),
                Some(Value::Number(_)) => {
                    let c = r.usize("crop_size", 224, MAX_IMAGE_SIDE)?;
                    [c, c]
                }
                Some(Value::Object(s)) => {
                    let sr = Fields::new(FILE, s, "crop_size.");
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
            let (mean, std) = (base.mean.unwrap_or(CLIP_MEAN), base.std.unwrap_or(CLIP_STD));
            (Some(r.triple("image_mean", mean)?), Some(r.triple("image_std", std)?))
        } else {
            (None, None)
        };
        if std.is_some_and(degenerate_std) {
            return Err(Error::config(FILE, format!("image_std contains 0 (or a value under {MIN_STD})")));
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

    /// `preprocessor_config.json` for HF's SiglipImageProcessor (the CLIP fields, with that
    /// processor's type; it has no crop, so a config with one cannot be written this way).
    pub fn to_siglip_json(&self) -> Value {
        let mut v = self.to_hf_json();
        if let Some(m) = v.as_object_mut() {
            m.insert("image_processor_type".into(), json!("SiglipImageProcessor"));
            m.insert("processor_class".into(), json!("SiglipProcessor"));
            m.remove("do_center_crop");
            m.remove("crop_size");
        }
        v
    }

    /// `preprocessor_config.json` for HF's CLIPImageProcessor. (OpenCLIP's rounding of the crop
    /// offset and its alpha handling have no HF field; the HF processor's are written.)
    pub fn to_hf_json(&self) -> Value {
        let resample = match self.filter {
            Filter::Lanczos => 1,
            Filter::Bilinear => 2,
            Filter::Bicubic => 3,
            Filter::Box => 4,
            Filter::Hamming => 5,
        };
        let size = match self.resize {
            Some(Resize::ShortestEdge(s)) => json!({"shortest_edge": s}),
            Some(Resize::Exact([h, w])) => json!({"height": h, "width": w}),
            None => Value::Null,
        };
        let crop = self.crop.map(|[h, w]| json!({"height": h, "width": w})).unwrap_or(Value::Null);
        json!({
            "image_processor_type": "CLIPImageProcessor",
            "do_resize": self.resize.is_some(),
            "size": size,
            "resample": resample,
            "do_center_crop": self.crop.is_some(),
            "crop_size": crop,
            "do_rescale": self.rescale_factor.is_some(),
            "rescale_factor": self.rescale_factor.unwrap_or(1.0 / 255.0),
            "do_normalize": self.mean.is_some(),
            "image_mean": self.mean.unwrap_or(CLIP_MEAN),
            "image_std": self.std.unwrap_or(CLIP_STD),
            "do_convert_rgb": true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn written_configs_read_back_the_same() {
        let p = PreprocessConfig::for_image_size([64, 64]);
        let bytes = serde_json::to_vec(&p.to_hf_json()).unwrap();
        assert_eq!(PreprocessConfig::from_hf_json(&bytes, [64, 64]).unwrap(), p);
        let p = PreprocessConfig::siglip([64, 48]);
        let bytes = serde_json::to_vec(&p.to_siglip_json()).unwrap();
        assert_eq!(PreprocessConfig::from_siglip_json(&bytes, [64, 48]).unwrap(), p);
    }

    /// A hub SigLIP processor file (google/siglip-base-patch16-224's, with bilinear as some
    /// folders have) and an empty one.
    #[test]
    fn siglip_processor_defaults() {
        let hub = br#"{"do_normalize": true, "do_rescale": true, "do_resize": true, "image_mean": [0.5, 0.5, 0.5],
            "image_processor_type": "SiglipImageProcessor", "image_std": [0.5, 0.5, 0.5],
            "processor_class": "SiglipProcessor", "resample": 2, "rescale_factor": 0.00392156862745098,
            "size": {"height": 224, "width": 224}}"#;
        let p = PreprocessConfig::from_siglip_json(hub, [224, 224]).unwrap();
        assert_eq!(p, PreprocessConfig { filter: Filter::Bilinear, ..PreprocessConfig::siglip([224, 224]) });
        assert_eq!(
            PreprocessConfig::from_siglip_json(b"{}", [256, 256]).unwrap(),
            PreprocessConfig::siglip([256, 256])
        );
    }
}
