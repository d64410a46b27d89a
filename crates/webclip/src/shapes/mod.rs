//! The shapes world: a procedural data set for showing what contrastive learning does.
//!
//! Images of one coloured shape — red, green, blue, yellow, purple or orange × circle, square,
//! triangle or star — at a random position, size and rotation, on a background that is a plain
//! colour, a gradient, stripes, a checkerboard or smooth noise, with distractor noise (pixel
//! noise, speckles, thin lines, blur) on top. Captions name the colour and the shape in varied
//! sentences ("a red circle", "a photo of a small blue star on a grey background", "the square is
//! green"), sometimes with size and background.
//!
//! Everything is deterministic in `(seed, index)`. Four colour×shape combinations never appear
//! in training ([`HELD_OUT`], one per shape); classifying their images among all 24 class names
//! measures compositional generalisation: the model has seen "purple" and "star", never a purple
//! star. Shape colours are jittered in hue, saturation and value and backgrounds stay neutral,
//! so what is learnt is the colour *category* and the shape, not a pixel value — a clean drawing
//! from any other tool is in distribution (tests check drawings made with Pillow).

mod eval;
mod recipe;

pub use eval::{EVAL_SEED_OFFSET, ShapesAccuracy, zero_shot_accuracy};
pub use recipe::ShapesRecipe;

use crate::error::{Error, Result};
use crate::preprocess::RgbImage;
use crate::rng::{GOLDEN, SplitMix64, permutation};

/// Shape colours: name and hue (degrees) of the category centre.
pub const COLORS: [(&str, f32); 6] =
    [("red", 0.0), ("green", 125.0), ("blue", 225.0), ("yellow", 54.0), ("purple", 282.0), ("orange", 28.0)];

/// Shapes.
pub const SHAPES: [&str; 4] = ["circle", "square", "triangle", "star"];

/// Colour × shape combinations never shown in training (indices into [`COLORS`], [`SHAPES`]).
pub const HELD_OUT: [(usize, usize); 4] = [(4, 3), (5, 0), (1, 1), (3, 2)];

/// Named plain backgrounds (neutral, so they never read as a shape colour).
const BACKGROUNDS: [(&str, [u8; 3]); 7] = [
    ("white", [246, 246, 244]),
    ("light grey", [205, 205, 205]),
    ("grey", [128, 128, 128]),
    ("dark grey", [66, 66, 66]),
    ("black", [18, 18, 18]),
    ("beige", [226, 212, 182]),
    ("brown", [104, 78, 52]),
];

/// Which part of the world to draw from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Only the 20 seen combinations.
    Train,
    /// Only the 4 held-out combinations.
    HeldOut,
    /// All 24 combinations.
    All,
}

impl std::str::FromStr for Split {
    type Err = Error;
    /// `train`, `held-out` (also `heldout`, the npm package's spelling) or `all`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "train" => Ok(Split::Train),
            "held-out" | "heldout" => Ok(Split::HeldOut),
            "all" => Ok(Split::All),
            other => Err(Error::InvalidInput(format!("split {other:?}: expected train, held-out or all"))),
        }
    }
}

/// One rendered example.
#[derive(Debug, Clone)]
pub struct Sample {
    pub image: RgbImage,
    pub caption: String,
    /// Index into [`COLORS`].
    pub color: usize,
    /// Index into [`SHAPES`].
    pub shape: usize,
}

impl Sample {
    /// `"{color} {shape}"`, the class name.
    pub fn class_name(&self) -> String {
        class_name(self.color, self.shape)
    }
}

/// `"red circle"`, …
pub fn class_name(color: usize, shape: usize) -> String {
    format!("{} {}", COLORS[color].0, SHAPES[shape])
}

/// The 24 class names, colour-major (`red circle, red square, …, orange star`).
pub fn class_names() -> Vec<String> {
    (0..COLORS.len()).flat_map(|c| (0..SHAPES.len()).map(move |s| class_name(c, s))).collect()
}

/// One of the 24 classes, as the page lists them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShapeClass {
    /// `"red circle"`, …
    pub name: String,
    /// Never shown in training (one of [`HELD_OUT`]).
    pub held_out: bool,
}

/// The 24 classes in [`class_names`] order, with which are held out.
pub fn classes() -> Vec<ShapeClass> {
    split_classes(Split::All)
        .into_iter()
        .map(|(c, s)| ShapeClass { name: class_name(c, s), held_out: is_held_out(c, s) })
        .collect()
}

/// Whether a combination is held out.
pub fn is_held_out(color: usize, shape: usize) -> bool {
    HELD_OUT.contains(&(color, shape))
}

/// The generator of example `index`'s stream `stream` (1: its class, 2: its drawing): every
/// example is drawn from its own generator, so it looks the same whatever else is drawn.
fn example_rng(seed: u64, index: u64, stream: u64) -> SplitMix64 {
    let mut r = SplitMix64::new(seed ^ index.wrapping_mul(GOLDEN) ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
    r.next_u64();
    r
}

fn hsv_to_rgb(h: f32, s: f32, v: f32) -> [f32; 3] {
    let h = h.rem_euclid(360.0) / 60.0;
    let c = v * s;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [(r + m) * 255.0, (g + m) * 255.0, (b + m) * 255.0]
}

/// A shape's colour: the category's hue ± 9°, saturation and value varied but never grey.
fn shape_color(color: usize, rng: &mut SplitMix64) -> [f32; 3] {
    let (name, hue) = COLORS[color];
    let h = hue + rng.range(-9.0, 9.0);
    let (s, v) = match name {
        // Yellow and orange lose their identity when dark; purple and blue when too light.
        "yellow" | "orange" => (rng.range(0.7, 1.0), rng.range(0.85, 1.0)),
        "purple" | "blue" => (rng.range(0.55, 0.95), rng.range(0.55, 0.9)),
        _ => (rng.range(0.65, 1.0), rng.range(0.6, 0.95)),
    };
    hsv_to_rgb(h, s, v)
}

/// Whether `(x, y)` (shape-centred, unrotated units: radius 1) is inside the shape.
fn inside(shape: usize, x: f32, y: f32) -> bool {
    match shape {
        0 => x * x + y * y <= 1.0,
        1 => {
            let h = std::f32::consts::FRAC_1_SQRT_2 * 1.08;
            x.abs() <= h && y.abs() <= h
        }
        2 => in_polygon(&regular(3, 1.15, 0.0), x, y + 0.12),
        _ => in_polygon(&star(5, 1.2, 0.48), x, y + 0.05),
    }
}

fn regular(n: usize, r: f32, phase: f32) -> Vec<(f32, f32)> {
    (0..n)
        .map(|i| {
            let a = phase - std::f32::consts::FRAC_PI_2 + std::f32::consts::TAU * i as f32 / n as f32;
            (r * a.cos(), r * a.sin())
        })
        .collect()
}

fn star(points: usize, outer: f32, inner_ratio: f32) -> Vec<(f32, f32)> {
    (0..2 * points)
        .map(|i| {
            let r = if i % 2 == 0 { outer } else { outer * inner_ratio };
            let a = -std::f32::consts::FRAC_PI_2 + std::f32::consts::PI * i as f32 / points as f32;
            (r * a.cos(), r * a.sin())
        })
        .collect()
}

/// Even-odd rule.
fn in_polygon(poly: &[(f32, f32)], x: f32, y: f32) -> bool {
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (xi, yi) = poly[i];
        let (xj, yj) = poly[j];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// Smooth value noise in [0, 1] on a `cells`×`cells` lattice.
fn value_noise(rng: &mut SplitMix64, size: usize, cells: usize) -> Vec<f32> {
    let lattice: Vec<f32> = (0..(cells + 1) * (cells + 1)).map(|_| rng.f32()).collect();
    let mut out = vec![0f32; size * size];
    for y in 0..size {
        for x in 0..size {
            let fx = x as f32 / size as f32 * cells as f32;
            let fy = y as f32 / size as f32 * cells as f32;
            let (ix, iy) = (fx as usize, fy as usize);
            let (tx, ty) = (fx - ix as f32, fy - iy as f32);
            let s = |t: f32| t * t * (3.0 - 2.0 * t);
            let l = |i: usize, j: usize| lattice[j * (cells + 1) + i];
            let a = l(ix, iy) + (l(ix + 1, iy) - l(ix, iy)) * s(tx);
            let b = l(ix, iy + 1) + (l(ix + 1, iy + 1) - l(ix, iy + 1)) * s(tx);
            out[y * size + x] = a + (b - a) * s(ty);
        }
    }
    out
}

fn neutral(rng: &mut SplitMix64) -> [f32; 3] {
    // Greys and earth tones: low saturation.
    let v = rng.range(0.05, 0.97);
    let h = rng.range(20.0, 50.0);
    hsv_to_rgb(h, rng.range(0.0, 0.22), v)
}

/// The background and, when it is a plain named colour, its name. Plain with probability
/// `1 - 0.6 · difficulty` (white, or with probability `difficulty` another neutral colour),
/// otherwise a gradient, stripes, a checkerboard or smooth noise.
fn background(rng: &mut SplitMix64, size: usize, difficulty: f32) -> (Vec<[f32; 3]>, Option<&'static str>) {
    let n = size * size;
    let kind = if rng.chance(1.0 - 0.6 * difficulty) { 0 } else { 4 + rng.below(6) };
    match kind {
        0..=3 => {
            // Plain: white at difficulty 0, any neutral colour as it rises.
            let (name, c) =
                if rng.chance(difficulty) { BACKGROUNDS[rng.below(BACKGROUNDS.len())] } else { BACKGROUNDS[0] };
            let j = rng.range(-8.0, 8.0);
            let c = [c[0] as f32 + j, c[1] as f32 + j, c[2] as f32 + j];
            (vec![c; n], Some(name))
        }
        4 | 5 => {
            let (a, b) = (neutral(rng), neutral(rng));
            let angle = rng.range(0.0, std::f32::consts::TAU);
            let (ca, sa) = (angle.cos(), angle.sin());
            let px = (0..n)
                .map(|i| {
                    let (x, y) = ((i % size) as f32 / size as f32 - 0.5, (i / size) as f32 / size as f32 - 0.5);
                    let t = ((x * ca + y * sa) + 0.71) / 1.42;
                    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
                })
                .collect();
            (px, None)
        }
        6 => {
            let (a, b) = (neutral(rng), neutral(rng));
            let period = rng.range(3.0, 12.0);
            let angle = rng.range(0.0, std::f32::consts::PI);
            let (ca, sa) = (angle.cos(), angle.sin());
            let px = (0..n)
                .map(|i| {
                    let (x, y) = ((i % size) as f32, (i / size) as f32);
                    if ((x * ca + y * sa) / period).floor() as i64 % 2 == 0 { a } else { b }
                })
                .collect();
            (px, None)
        }
        7 => {
            let (a, b) = (neutral(rng), neutral(rng));
            let cell = rng.range(4.0, 16.0);
            let px = (0..n)
                .map(|i| {
                    let (x, y) = ((i % size) as f32 / cell, (i / size) as f32 / cell);
                    if (x.floor() + y.floor()) as i64 % 2 == 0 { a } else { b }
                })
                .collect();
            (px, None)
        }
        _ => {
            let (a, b) = (neutral(rng), neutral(rng));
            let cells = 2 + rng.below(6);
            let noise = value_noise(rng, size, cells);
            let px = noise
                .iter()
                .map(|&t| [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t])
                .collect();
            (px, None)
        }
    }
}

/// The side, in pixels, the world is drawn at for training and evaluation (what the page shows).
/// A model with a smaller input (the Learn view's quick recipe) gets the drawings through its
/// own preprocessing, as it would any picture.
pub const WORLD_SIZE: usize = 64;

/// The side to draw at for a model taking `model_size` pixels: [`WORLD_SIZE`], or the model's
/// size when that is larger.
pub fn render_size(model_size: usize) -> usize {
    model_size.max(WORLD_SIZE)
}

/// The shapes world of one seed.
#[derive(Debug, Clone, Copy)]
pub struct ShapesWorld {
    pub seed: u64,
    /// Side of the square images in pixels.
    pub size: usize,
    /// 0: a shape on a plain background, nothing else. 1: the full world — textured and
    /// gradient backgrounds, pixel noise, speckles, lines and blur as often as they come, and
    /// captions that mention size and background more. Training ramps it up (a curriculum):
    /// measured, a tiny ViT learns colour in a few hundred steps but shape only once clutter
    /// and caption shortcuts (background and size words) stop competing with it.
    pub difficulty: f32,
}

impl ShapesWorld {
    /// The full world (difficulty 1).
    pub fn new(seed: u64, size: usize) -> Self {
        ShapesWorld { seed, size: size.max(8), difficulty: 1.0 }
    }

    /// The same world at another difficulty.
    pub fn with_difficulty(self, difficulty: f32) -> Self {
        ShapesWorld { difficulty: difficulty.clamp(0.0, 1.0), ..self }
    }

    /// The class of example `index` of `split`.
    fn class_of(&self, index: u64, split: Split) -> (usize, usize) {
        let mut rng = example_rng(self.seed, index, 1);
        let pool = split_classes(split);
        pool[rng.below(pool.len())]
    }

    /// Example `index` of `split`, with a varied caption.
    pub fn sample(&self, index: u64, split: Split) -> Sample {
        let (color, shape) = self.class_of(index, split);
        self.render(index, color, shape)
    }

    /// An example of a given class (its look still varies with `index`).
    pub fn render(&self, index: u64, color: usize, shape: usize) -> Sample {
        let mut rng = example_rng(self.seed, index, 2);
        let size = self.size;
        let d = self.difficulty;
        let (mut px, bg_name) = background(&mut rng, size, d);
        let fill = shape_color(color, &mut rng);
        // Geometry in pixels: radius 20–45 % of the side, fully inside the image.
        let radius = rng.range(0.2, 0.45) * size as f32;
        let margin = (radius * 1.2).min(size as f32 * 0.5);
        let cx = rng.range(margin, size as f32 - margin);
        let cy = rng.range(margin, size as f32 - margin);
        let theta = rng.range(0.0, std::f32::consts::TAU);
        let (ct, st) = (theta.cos(), theta.sin());
        let outline = rng.chance(0.25).then(|| {
            let k = rng.range(0.35, 0.7);
            [fill[0] * k, fill[1] * k, fill[2] * k]
        });
        // 4×4 supersampled coverage; an outline is the ring between the shape and a shrunk copy.
        const SS: usize = 4;
        let inner = 1.0 - 2.2 / radius.max(4.0);
        for y in 0..size {
            for x in 0..size {
                let (mut cov, mut ring) = (0u32, 0u32);
                for sy in 0..SS {
                    for sx in 0..SS {
                        let px_ = x as f32 + (sx as f32 + 0.5) / SS as f32 - cx;
                        let py_ = y as f32 + (sy as f32 + 0.5) / SS as f32 - cy;
                        let u = (px_ * ct + py_ * st) / radius;
                        let v = (-px_ * st + py_ * ct) / radius;
                        if inside(shape, u, v) {
                            cov += 1;
                            if outline.is_some() && !inside(shape, u / inner, v / inner) {
                                ring += 1;
                            }
                        }
                    }
                }
                if cov > 0 {
                    let a = cov as f32 / (SS * SS) as f32;
                    let r = if cov > 0 { ring as f32 / cov as f32 } else { 0.0 };
                    let c = match outline {
                        Some(o) => [
                            fill[0] * (1.0 - r) + o[0] * r,
                            fill[1] * (1.0 - r) + o[1] * r,
                            fill[2] * (1.0 - r) + o[2] * r,
                        ],
                        None => fill,
                    };
                    let p = &mut px[y * size + x];
                    for k in 0..3 {
                        p[k] = p[k] * (1.0 - a) + c[k] * a;
                    }
                }
            }
        }
        // Distractors, as often as the difficulty says: speckles, thin lines (neutral), blur,
        // pixel noise.
        if rng.chance(0.35 * d) {
            for _ in 0..rng.below(size) {
                let (x, y) = (rng.below(size), rng.below(size));
                px[y * size + x] = neutral(&mut rng);
            }
        }
        if rng.chance(0.25 * d) {
            for _ in 0..1 + rng.below(3) {
                let c = neutral(&mut rng);
                let (x0, y0, a) =
                    (rng.range(0.0, size as f32), rng.range(0.0, size as f32), rng.range(0.0, std::f32::consts::PI));
                for t in 0..size * 2 {
                    let t = t as f32 - size as f32;
                    let (x, y) = (x0 + t * a.cos(), y0 + t * a.sin());
                    if x >= 0.0 && y >= 0.0 && (x as usize) < size && (y as usize) < size {
                        px[y as usize * size + x as usize] = c;
                    }
                }
            }
        }
        if rng.chance(0.2 * d) {
            px = box_blur(&px, size);
        }
        let sigma = if rng.chance(0.5 * d) { rng.range(0.0, 14.0) } else { 0.0 };
        let data: Vec<u8> = px
            .iter()
            .flat_map(|p| {
                let mut out = [0u8; 3];
                for k in 0..3 {
                    let n = if sigma > 0.0 { rng.normal() * sigma } else { 0.0 };
                    out[k] = (p[k] + n).round().clamp(0.0, 255.0) as u8;
                }
                out
            })
            .collect();
        let size_word = if radius < 0.26 * size as f32 {
            Some("small")
        } else if radius > 0.39 * size as f32 {
            Some(if rng.chance(0.5) { "large" } else { "big" })
        } else {
            None
        };
        // Size and background words: rarer at low difficulty, so they do not stand in for the
        // shape while it is being learnt.
        let mention = 0.6 * d;
        let size_word = size_word.filter(|_| rng.chance(mention));
        let bg_name = bg_name.filter(|_| rng.chance(mention));
        let caption = caption(&mut rng, color, shape, size_word, bg_name);
        Sample { image: RgbImage { width: size, height: size, data, alpha: None }, caption, color, shape }
    }
}

fn box_blur(px: &[[f32; 3]], size: usize) -> Vec<[f32; 3]> {
    let mut out = px.to_vec();
    for y in 0..size {
        for x in 0..size {
            let mut acc = [0f32; 3];
            let mut n = 0.0;
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (xx, yy) = (x as i64 + dx, y as i64 + dy);
                    if xx >= 0 && yy >= 0 && (xx as usize) < size && (yy as usize) < size {
                        let p = px[yy as usize * size + xx as usize];
                        for k in 0..3 {
                            acc[k] += p[k];
                        }
                        n += 1.0;
                    }
                }
            }
            out[y * size + x] = [acc[0] / n, acc[1] / n, acc[2] / n];
        }
    }
    out
}

/// A varied English caption naming the colour and the shape.
fn caption(rng: &mut SplitMix64, color: usize, shape: usize, size: Option<&str>, bg: Option<&str>) -> String {
    let (c, s) = (COLORS[color].0, SHAPES[shape]);
    let sized = |_: &mut SplitMix64| match size {
        Some(w) => format!("{w} {c} {s}"),
        None => format!("{c} {s}"),
    };
    let article = |phrase: &str| if phrase.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    let mut text = match rng.below(9) {
        0 => {
            let p = sized(rng);
            format!("{} {p}", article(&p))
        }
        1 => {
            let p = sized(rng);
            format!("a photo of {} {p}.", article(&p))
        }
        2 => format!("{c} {s}"),
        3 => format!("the {s} is {c}"),
        4 => {
            let p = sized(rng);
            format!("a drawing of {} {p}", article(&p))
        }
        5 => format!("a {s} that is {c}"),
        6 => {
            let p = sized(rng);
            format!("a picture of {} {p}.", article(&p))
        }
        7 => format!("this is {} {c} {s}", article(c)),
        _ => format!("{} {c} {s} shape", article(c)),
    };
    if let Some(bg) = bg {
        text = format!(
            "{} on {} {bg} background",
            text.trim_end_matches('.'),
            if bg.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
        );
    }
    text
}

/// The `(colour, shape)` classes of `split`, in class order.
fn split_classes(split: Split) -> Vec<(usize, usize)> {
    (0..COLORS.len())
        .flat_map(|c| (0..SHAPES.len()).map(move |s| (c, s)))
        .filter(|&(c, s)| match split {
            Split::Train => !is_held_out(c, s),
            Split::HeldOut => is_held_out(c, s),
            Split::All => true,
        })
        .collect()
}

/// `count` examples starting at example `first` of `split`, class-balanced: each run of as many
/// examples as the split has classes holds every class once, in a seeded order per run. A
/// contrastive batch that holds one class twice pushes its two captions apart as if they were
/// wrong answers, so batches of up to 20 (the seen classes) hold no class twice. Example `i`
/// looks the same whatever batch it falls in.
pub fn balanced_batch(world: &ShapesWorld, split: Split, first: u64, count: usize) -> Vec<Sample> {
    let pool = split_classes(split);
    (first..first + count as u64)
        .map(|idx| {
            let round = idx / pool.len() as u64;
            let order = permutation(pool.len(), world.seed, round);
            let (c, s) = pool[order[(idx % pool.len() as u64) as usize]];
            world.render(idx, c, s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_varied() {
        let w = ShapesWorld::new(7, 64);
        let a = w.sample(3, Split::Train);
        let b = w.sample(3, Split::Train);
        assert_eq!(a.image, b.image);
        assert_eq!(a.caption, b.caption);
        let other = ShapesWorld::new(8, 64).sample(3, Split::Train);
        assert_ne!(a.image, other.image);
        let captions: std::collections::HashSet<String> = (0..200).map(|i| w.sample(i, Split::Train).caption).collect();
        assert!(captions.len() > 100, "captions vary: {}", captions.len());
    }

    #[test]
    fn splits_respect_held_out() {
        let w = ShapesWorld::new(1, 32);
        for i in 0..500 {
            let s = w.sample(i, Split::Train);
            assert!(!is_held_out(s.color, s.shape));
            assert!(s.caption.contains(COLORS[s.color].0) && s.caption.contains(SHAPES[s.shape]), "{}", s.caption);
            let h = w.sample(i, Split::HeldOut);
            assert!(is_held_out(h.color, h.shape));
        }
        assert_eq!(class_names().len(), 24);
        assert_eq!(class_names()[0], "red circle");
    }

    #[test]
    fn the_shape_is_drawn_in_its_colour() {
        let w = ShapesWorld::new(5, 64);
        for i in 0..24u64 {
            let (c, s) = ((i / 4) as usize, (i % 4) as usize);
            let img = w.render(i, c, s).image;
            // Some pixels are strongly saturated with a hue near the category's.
            let hue_hits = img
                .data
                .chunks_exact(3)
                .filter(|p| {
                    let (r, g, b) = (p[0] as f32, p[1] as f32, p[2] as f32);
                    let max = r.max(g).max(b);
                    let min = r.min(g).min(b);
                    if max - min < 60.0 {
                        return false;
                    }
                    let h = if max == r {
                        60.0 * ((g - b) / (max - min)).rem_euclid(6.0)
                    } else if max == g {
                        60.0 * ((b - r) / (max - min) + 2.0)
                    } else {
                        60.0 * ((r - g) / (max - min) + 4.0)
                    };
                    let d = (h - COLORS[c].1).rem_euclid(360.0);
                    d.min(360.0 - d) < 25.0
                })
                .count();
            assert!(hue_hits > 40, "{}: {hue_hits} pixels of its hue", class_name(c, s));
        }
    }
}
