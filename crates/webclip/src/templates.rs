//! CLIP's published prompt templates (openai/CLIP `data/prompts.md` and the ImageNet notebook).
//! Checked against tests/fixtures/templates.json, which the reference script takes from open_clip.

/// Prompt templates in other languages, for multilingual models (SigLIP 2): the shape of CLIP's
/// "a photo of a {}." in each language, written for webclip (no published ensembles exist).
pub const LANGUAGE_TEMPLATES: &[(&str, &str, &[&str])] = &[
    ("ko", "Korean", &["{}의 사진.", "{} 사진."]),
    ("ja", "Japanese", &["{}の写真。", "{}の画像。"]),
    ("zh", "Chinese", &["{}的照片。", "一张{}的照片。"]),
    ("es", "Spanish", &["una foto de {}.", "una foto de un {}."]),
    ("fr", "French", &["une photo de {}.", "une photo d'un {}."]),
    ("de", "German", &["ein Foto von {}.", "ein Bild von {}."]),
];

/// The language set for a label from its script: Hangul → `ko`, kana → `ja`, other CJK
/// ideographs → `zh`; `None` for anything else (Latin scripts cannot be told apart by their
/// letters, so those languages are picked by name).
pub fn language_of(label: &str) -> Option<&'static str> {
    let has = |f: fn(char) -> bool| label.chars().any(f);
    if has(|c| matches!(c, '\u{AC00}'..='\u{D7AF}' | '\u{1100}'..='\u{11FF}' | '\u{3130}'..='\u{318F}')) {
        Some("ko")
    } else if has(|c| matches!(c, '\u{3040}'..='\u{30FF}' | '\u{31F0}'..='\u{31FF}')) {
        Some("ja")
    } else if has(|c| matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')) {
        Some("zh")
    } else {
        None
    }
}

/// The single-template default.
pub const DEFAULT_TEMPLATES: &[&str] = &["a photo of a {}."];

/// STL10 (2 templates).
pub const STL10_TEMPLATES: &[&str] = &["a photo of a {}.", "a photo of the {}."];

/// CIFAR-10 / CIFAR-100 (18 templates).
pub const CIFAR_TEMPLATES: &[&str] = &[
    "a photo of a {}.",
    "a blurry photo of a {}.",
    "a black and white photo of a {}.",
    "a low contrast photo of a {}.",
    "a high contrast photo of a {}.",
    "a bad photo of a {}.",
    "a good photo of a {}.",
    "a photo of a small {}.",
    "a photo of a big {}.",
    "a photo of the {}.",
    "a blurry photo of the {}.",
    "a black and white photo of the {}.",
    "a low contrast photo of the {}.",
    "a high contrast photo of the {}.",
    "a bad photo of the {}.",
    "a good photo of the {}.",
    "a photo of the small {}.",
    "a photo of the big {}.",
];

/// ImageNet (80 templates).
pub const IMAGENET_TEMPLATES: &[&str] = &[
    "a bad photo of a {}.",
    "a photo of many {}.",
    "a sculpture of a {}.",
    "a photo of the hard to see {}.",
    "a low resolution photo of the {}.",
    "a rendering of a {}.",
    "graffiti of a {}.",
    "a bad photo of the {}.",
    "a cropped photo of the {}.",
    "a tattoo of a {}.",
    "the embroidered {}.",
    "a photo of a hard to see {}.",
    "a bright photo of a {}.",
    "a photo of a clean {}.",
    "a photo of a dirty {}.",
    "a dark photo of the {}.",
    "a drawing of a {}.",
    "a photo of my {}.",
    "the plastic {}.",
    "a photo of the cool {}.",
    "a close-up photo of a {}.",
    "a black and white photo of the {}.",
    "a painting of the {}.",
    "a painting of a {}.",
    "a pixelated photo of the {}.",
    "a sculpture of the {}.",
    "a bright photo of the {}.",
    "a cropped photo of a {}.",
    "a plastic {}.",
    "a photo of the dirty {}.",
    "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.",
    "a photo of the {}.",
    "a good photo of the {}.",
    "a rendering of the {}.",
    "a {} in a video game.",
    "a photo of one {}.",
    "a doodle of a {}.",
    "a close-up photo of the {}.",
    "a photo of a {}.",
    "the origami {}.",
    "the {} in a video game.",
    "a sketch of a {}.",
    "a doodle of the {}.",
    "a origami {}.",
    "a low resolution photo of a {}.",
    "the toy {}.",
    "a rendition of the {}.",
    "a photo of the clean {}.",
    "a photo of a large {}.",
    "a rendition of a {}.",
    "a photo of a nice {}.",
    "a photo of a weird {}.",
    "a blurry photo of a {}.",
    "a cartoon {}.",
    "art of a {}.",
    "a sketch of the {}.",
    "a embroidered {}.",
    "a pixelated photo of a {}.",
    "itap of the {}.",
    "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.",
    "a plushie {}.",
    "a photo of the nice {}.",
    "a photo of the small {}.",
    "a photo of the weird {}.",
    "the cartoon {}.",
    "art of the {}.",
    "a drawing of the {}.",
    "a photo of the large {}.",
    "a black and white photo of a {}.",
    "the plushie {}.",
    "a dark photo of a {}.",
    "itap of a {}.",
    "graffiti of the {}.",
    "a toy {}.",
    "itap of my {}.",
    "a photo of a cool {}.",
    "a photo of a small {}.",
    "a tattoo of the {}.",
];
