//! How well a model names shapes-world classes zero-shot: the measure `webclip train-shapes`
//! reports and the bundled model's `shapes_eval.json` records.

use super::{COLORS, SHAPES, ShapesWorld, class_names, is_held_out, render_size};
use crate::preprocess::RgbImage;

/// Zero-shot accuracy of a model on the shapes world.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ShapesAccuracy {
    /// Images of the held-out combinations, classified among all 24 class names.
    pub held_out: f32,
    /// Images of the 20 seen combinations, among all 24.
    pub seen: f32,
    /// All 24 classes.
    pub overall: f32,
    /// Accuracy per class, in [`super::class_names`] order.
    pub per_class: Vec<(String, f32)>,
}

/// Seed offset of the evaluation images, so they are never training images.
pub const EVAL_SEED_OFFSET: u64 = 0x5EED_E7A1;

/// Classifies `per_class` fresh images of each of the 24 classes (rendered with a seed the
/// training stream never uses, at `difficulty`) among the 24 class names with `templates`.
pub async fn zero_shot_accuracy(
    clip: &crate::Clip,
    seed: u64,
    per_class: usize,
    templates: &crate::Templates,
    difficulty: f32,
) -> crate::Result<ShapesAccuracy> {
    let size = render_size(clip.config().vision.image_size[0]);
    let world = ShapesWorld::new(seed ^ EVAL_SEED_OFFSET, size).with_difficulty(difficulty);
    let names = class_names();
    let head = clip.classifier(&names, templates, None).await?;
    let mut per = Vec::with_capacity(names.len());
    let (mut held, mut held_n, mut seen, mut seen_n) = (0usize, 0usize, 0usize, 0usize);
    for c in 0..COLORS.len() {
        for s in 0..SHAPES.len() {
            let class = c * SHAPES.len() + s;
            let imgs: Vec<RgbImage> =
                (0..per_class as u64).map(|i| world.render(i * 24 + class as u64, c, s).image).collect();
            let embs = clip.embed_images(&imgs, None).await?;
            let right = embs
                .iter()
                .filter(|e| {
                    let p = head.probabilities(e, clip.scoring());
                    let best = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|x| x.0);
                    best == Some(class)
                })
                .count();
            per.push((names[class].clone(), right as f32 / per_class.max(1) as f32));
            if is_held_out(c, s) {
                held += right;
                held_n += per_class;
            } else {
                seen += right;
                seen_n += per_class;
            }
        }
    }
    let frac = |a: usize, n: usize| if n == 0 { 0.0 } else { a as f32 / n as f32 };
    Ok(ShapesAccuracy {
        held_out: frac(held, held_n),
        seen: frac(seen, seen_n),
        overall: frac(held + seen, held_n + seen_n),
        per_class: per,
    })
}
