//! Image preprocessing: the one implementation native and web share.
//!
//! `decode` → [`RgbImage`] → [`preprocess`] → normalised `[3, H, W]` f32, identical to HF's
//! `CLIPImageProcessorPil` on a PIL image:
//!
//! 1. **Decode** with the `image` crate (JPEG, PNG, GIF, WebP, BMP, TIFF). The pixel count is
//!    checked from the header *before* any pixel buffer is allocated: above [`MAX_PIXELS`]
//!    (Pillow's own decompression-bomb threshold, 89,478,485 pixels) the image is refused.
//! 2. **Orientation**: the EXIF orientation tag is applied, as transformers' `load_image` and
//!    every browser do, so a phone photo is classified the way it is shown.
//! 3. **RGB as Pillow converts**: gray is replicated, palettes expanded, animated images give
//!    their first frame. Transparency (RGBA, gray+alpha, palette with transparency) is kept
//!    beside the RGB until preprocessing, which follows the checkpoint family's reference
//!    ([`AlphaMode`]): HF's processor (`convert_to_rgb` in transformers 5) composites onto white
//!    with Pillow's integer `alpha_composite`; open_clip's transform calls `convert("RGB")`,
//!    which drops the alpha.
//!    16-bit images keep their high byte (what Pillow does for 16-bit RGB/RGBA PNGs; for 16-bit
//!    *grayscale* Pillow clips values above 255 to white, which destroys the image, so webclip
//!    takes the high byte there too — a deliberate difference). CMYK JPEGs are converted by the
//!    decoder.
//! 4. **Resize** the shortest edge with Pillow's antialiased bicubic in 8-bit fixed point
//!    ([`resize::resize_u8`]), **center crop** (HF rounds the offset down, torchvision/OpenCLIP
//!    rounds half to even; both pad with black when the image is smaller than the crop),
//!    **rescale** by 1/255 (in f64, then f32) and **normalise** with the model's mean/std.

pub mod config;
pub mod resize;

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader};

use std::borrow::Cow;

use crate::error::{Error, Result};
pub use config::{AlphaMode, CropRounding, Filter, PreprocessConfig, Resize};

/// Largest accepted image, in pixels (Pillow's `Image.MAX_IMAGE_PIXELS`). A 20000×20000 PNG
/// header (400 MP) is refused before decoding.
pub const MAX_PIXELS: u64 = 89_478_485;

/// An 8-bit RGB image, row-major, 3 bytes per pixel, with its alpha channel when it has one.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    /// RGB with any alpha ignored (what Pillow's `convert("RGB")` gives).
    pub data: Vec<u8>,
    /// One byte per pixel, unpremultiplied, when the source had transparency.
    pub alpha: Option<Vec<u8>>,
}

impl std::fmt::Debug for RgbImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgbImage({}x{})", self.width, self.height)
    }
}

fn check_size(width: u64, height: u64) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::Image(format!("the image is {width}x{height} pixels: nothing to classify")));
    }
    if width * height > MAX_PIXELS {
        return Err(Error::Image(format!(
            "the image is {width}x{height} = {} pixels, over the {MAX_PIXELS}-pixel limit (decompression-bomb guard); \
             downscale it first",
            width * height
        )));
    }
    Ok(())
}

/// A `width`×`height` buffer of `len` bytes must hold `channels` bytes per pixel.
fn check_buffer(width: usize, height: usize, len: usize, channels: usize, kind: &str) -> Result<()> {
    check_size(width as u64, height as u64)?;
    let expected = width * height * channels;
    if len != expected {
        return Err(Error::Image(format!(
            "{len} bytes given for a {width}x{height} {kind} image (expected {expected})"
        )));
    }
    Ok(())
}

impl RgbImage {
    /// Wraps RGB bytes.
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Result<Self> {
        check_buffer(width, height, data.len(), 3, "RGB")?;
        Ok(RgbImage { width, height, data, alpha: None })
    }

    /// From unpremultiplied RGBA bytes (canvas `ImageData`).
    pub fn from_rgba(width: usize, height: usize, rgba: &[u8]) -> Result<Self> {
        check_buffer(width, height, rgba.len(), 4, "RGBA")?;
        Ok(split_rgba(width, height, rgba))
    }

    /// The RGB pixels with transparency resolved per `mode`.
    pub fn flatten(&self, mode: AlphaMode) -> Cow<'_, [u8]> {
        match (&self.alpha, mode) {
            (Some(a), AlphaMode::CompositeWhite) => Cow::Owned(
                self.data.chunks_exact(3).zip(a).flat_map(|(p, &a)| composite_on_white(p[0], p[1], p[2], a)).collect(),
            ),
            _ => Cow::Borrowed(&self.data),
        }
    }
}

/// RGBA bytes → RGB plus alpha (alpha dropped when fully opaque).
fn split_rgba(width: usize, height: usize, rgba: &[u8]) -> RgbImage {
    let mut data = Vec::with_capacity(width * height * 3);
    let mut alpha = Vec::with_capacity(width * height);
    for px in rgba.chunks_exact(4) {
        data.extend_from_slice(&px[..3]);
        alpha.push(px[3]);
    }
    let alpha = if alpha.iter().all(|&a| a == 255) { None } else { Some(alpha) };
    RgbImage { width, height, data, alpha }
}

/// Pillow's `alpha_composite(white, src)` for one pixel (libImaging/AlphaComposite.c with an
/// opaque white destination), so transparent images match HF's processor to the bit.
#[inline]
pub fn composite_on_white(r: u8, g: u8, b: u8, a: u8) -> [u8; 3] {
    if a == 0 {
        return [255, 255, 255];
    }
    const PREC: u32 = 7;
    let sa = a as u32;
    let blend = 255 * (255 - sa);
    let outa255 = sa * 255 + blend;
    let coef1 = sa * 255 * 255 * (1 << PREC) / outa255;
    let coef2 = 255 * (1 << PREC) - coef1;
    let shift_div255 = |x: u32| ((x >> 8) + x) >> 8;
    let mix = |c: u8| (shift_div255(c as u32 * coef1 + 255 * coef2 + (0x80 << PREC)) >> PREC) as u8;
    [mix(r), mix(g), mix(b)]
}

/// Checks an encoded image from its header alone — format, size limit, JPEG completeness —
/// and returns `[width, height]` as stored (before EXIF orientation). Cheap: no pixel is
/// decoded, so a caller can vet a thousand files before loading a model.
pub fn probe(bytes: &[u8]) -> Result<[usize; 2]> {
    let (decoder, _) = open_decoder(bytes)?;
    let (w, h) = decoder.dimensions();
    Ok([w as usize, h as usize])
}

fn open_decoder(bytes: &[u8]) -> Result<(Box<dyn ImageDecoder + '_>, String)> {
    if bytes.is_empty() {
        return Err(Error::Image("the file is empty (0 bytes)".into()));
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Image(format!("could not read the file: {e}")))?;
    let Some(format) = reader.format() else {
        return Err(Error::Image(
            "not a recognised image format (JPEG, PNG, GIF, WebP, BMP and TIFF are supported)".into(),
        ));
    };
    let fmt = format!("{format:?}").to_uppercase();
    if format == image::ImageFormat::Jpeg && !jpeg_has_end(bytes) {
        // The decoder would fill the missing scan with grey and succeed: a silent wrong answer.
        return Err(Error::Image("the JPEG file is truncated (no end-of-image marker after its last scan)".into()));
    }
    let decoder = reader.into_decoder().map_err(|e| Error::Image(format!("not a valid {fmt} file: {e}")))?;
    let (w, h) = decoder.dimensions();
    check_size(w as u64, h as u64)?;
    Ok((Box::new(decoder), fmt))
}

/// Decodes an encoded image (any supported format) to RGB as described in the module docs.
pub fn decode(bytes: &[u8]) -> Result<RgbImage> {
    let (mut decoder, fmt) = open_decoder(bytes)?;
    let orientation = decoder.orientation().ok();
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 16);
    decoder.set_limits(limits).map_err(|e| Error::Image(format!("{fmt}: {e}")))?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| {
        let msg = e.to_string();
        if msg.contains("end of file") || msg.contains("EOF") || msg.contains("eof") || msg.contains("nsufficient") {
            Error::Image(format!("the {fmt} file is truncated or corrupt ({msg})"))
        } else {
            Error::Image(format!("could not decode the {fmt} file: {msg}"))
        }
    })?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(to_rgb(img))
}

/// Whether a JPEG has an end-of-image marker (FF D9) after its last start-of-scan (FF DA). The
/// EXIF thumbnail has its own markers, but it sits in APP1, before the main image's scans.
fn jpeg_has_end(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_sos {
        Some(i) => bytes[i..].windows(2).any(|w| w == [0xFF, 0xD9]),
        None => false,
    }
}

/// Pillow-style conversion of any decoded image to 8-bit RGB (+ alpha).
fn to_rgb(img: DynamicImage) -> RgbImage {
    let (width, height) = (img.width() as usize, img.height() as usize);
    let hi = |v: u16| (v >> 8) as u8;
    let gray = |l: &mut dyn Iterator<Item = u8>| -> Vec<u8> { l.flat_map(|v| [v, v, v]).collect() };
    match img {
        DynamicImage::ImageRgb8(b) => RgbImage { width, height, data: b.into_raw(), alpha: None },
        DynamicImage::ImageLuma8(b) => {
            RgbImage { width, height, data: gray(&mut b.into_raw().into_iter()), alpha: None }
        }
        DynamicImage::ImageLumaA8(b) => {
            let raw = b.into_raw();
            let rgba: Vec<u8> = raw.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect();
            split_rgba(width, height, &rgba)
        }
        DynamicImage::ImageRgba8(b) => split_rgba(width, height, &b.into_raw()),
        DynamicImage::ImageLuma16(b) => {
            RgbImage { width, height, data: gray(&mut b.into_raw().into_iter().map(hi)), alpha: None }
        }
        DynamicImage::ImageLumaA16(b) => {
            let rgba: Vec<u8> =
                b.into_raw().chunks_exact(2).flat_map(|p| [hi(p[0]), hi(p[0]), hi(p[0]), hi(p[1])]).collect();
            split_rgba(width, height, &rgba)
        }
        DynamicImage::ImageRgb16(b) => {
            RgbImage { width, height, data: b.into_raw().into_iter().map(hi).collect(), alpha: None }
        }
        DynamicImage::ImageRgba16(b) => {
            let rgba: Vec<u8> = b.into_raw().into_iter().map(hi).collect();
            split_rgba(width, height, &rgba)
        }
        // Float formats (32-bit TIFF): clamped to [0, 1] and rounded by the `image` crate.
        other => split_rgba(width, height, &other.to_rgba8().into_raw()),
    }
}

/// HF `get_resize_output_image_size(default_to_square=False)`: `[height, width]` with the
/// shortest edge at `size` and the other at `int(size * long / short)`.
pub fn shortest_edge_size(height: usize, width: usize, size: usize) -> [usize; 2] {
    let (short, long) = if width <= height { (width, height) } else { (height, width) };
    // Python: int(size * long / short) — exact integer product, one correctly rounded division.
    let new_long = ((size as u64 * long as u64) as f64 / short as f64) as usize;
    if width <= height { [new_long, size] } else { [size, new_long] }
}

/// The resize step alone (Pillow semantics) on the RGB pixels, exposed for tests and tools.
pub fn resize(img: &RgbImage, out_h: usize, out_w: usize, filter: Filter) -> RgbImage {
    let data = resize::resize_u8(&img.data, img.width, img.height, 3, out_w, out_h, filter);
    RgbImage { width: out_w, height: out_h, data, alpha: None }
}

/// Pillow's `MULDIV255`: `a * b / 255`, rounded.
#[inline]
fn muldiv255(a: u8, b: u8) -> u8 {
    let t = a as u32 * b as u32 + 128;
    (((t >> 8) + t) >> 8) as u8
}

/// Python's `round()` (half to even) of `x / 2` for an integer `x`.
fn half_round_even(x: i64) -> i64 {
    let q = x.div_euclid(2);
    // An odd x lands halfway: round to the even neighbour.
    if x.rem_euclid(2) == 1 && q % 2 != 0 { q + 1 } else { q }
}

/// Row (or column) offset of the crop window in the source, per the rounding rule; negative
/// means black padding before the image.
fn crop_offset(src: usize, crop: usize, rounding: CropRounding) -> i64 {
    let d = src as i64 - crop as i64;
    match rounding {
        // transformers: top = (H - h) // 2, and when padding, the image sits at
        // ceil((h - H) / 2) — both equal floor((H - h) / 2).
        CropRounding::Floor => d.div_euclid(2),
        // torchvision: round((H - h) / 2) when cropping, and when padding the image sits at
        // (h - H) // 2.
        CropRounding::Round => {
            if d >= 0 {
                half_round_even(d)
            } else {
                -((-d).div_euclid(2))
            }
        }
    }
}

/// The RGB bytes of the `rows × cols` window of `img` resized to `[h, w]` (Pillow semantics;
/// no resize when the size is unchanged). Transparency is handled as `mode` says: composited
/// before resizing (HF), or carried through a premultiplied resize and dropped after (open_clip,
/// as Pillow resizes RGBA/LA images).
fn resized_window(
    img: &RgbImage,
    [h, w]: [usize; 2],
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    filter: Filter,
    mode: AlphaMode,
) -> Vec<u8> {
    let rgb = img.flatten(mode);
    let same = (h, w) == (img.height, img.width);
    match (&img.alpha, mode) {
        (Some(alpha), AlphaMode::Drop) if !same => {
            let pre: Vec<u8> = img
                .data
                .chunks_exact(3)
                .zip(alpha)
                .flat_map(|(p, &a)| [muldiv255(p[0], a), muldiv255(p[1], a), muldiv255(p[2], a)])
                .collect();
            let win = [cols.clone(), rows.clone()];
            let rgb = resize::resize_u8_window(&pre, img.width, img.height, 3, [w, h], win.clone(), filter);
            let a = resize::resize_u8_window(alpha, img.width, img.height, 1, [w, h], win, filter);
            rgb.chunks_exact(3)
                .zip(&a)
                .flat_map(|(p, &a)| {
                    let un = |c: u8| if a == 255 || a == 0 { c } else { (255 * c as u32 / a as u32).min(255) as u8 };
                    [un(p[0]), un(p[1]), un(p[2])]
                })
                .collect()
        }
        _ => resize::resize_u8_window(&rgb, img.width, img.height, 3, [w, h], [cols, rows], filter),
    }
}

/// Full preprocessing of one RGB image → `[3, H, W]` f32, channel-major. Only the part of the
/// resized image that the center crop keeps is computed.
pub fn preprocess(img: &RgbImage, cfg: &PreprocessConfig) -> Vec<f32> {
    let [h, w] = match cfg.resize {
        None => [img.height, img.width],
        Some(Resize::ShortestEdge(s)) => shortest_edge_size(img.height, img.width, s),
        Some(Resize::Exact(hw)) => hw,
    };
    let [h, w] = [h.max(1), w.max(1)];
    let [oh, ow] = cfg.crop.unwrap_or([h, w]);
    let top = crop_offset(h, oh, cfg.crop_rounding);
    let left = crop_offset(w, ow, cfg.crop_rounding);
    let clamp = |a: i64, n: usize| a.clamp(0, n as i64) as usize;
    let rows = clamp(top, h)..clamp(top + oh as i64, h);
    let cols = clamp(left, w)..clamp(left + ow as i64, w);
    let window = resized_window(img, [h, w], rows.clone(), cols.clone(), cfg.filter, cfg.alpha);
    let win_w = cols.len();
    let scale = cfg.rescale_factor.unwrap_or(1.0);
    let mut out = vec![0f32; 3 * oh * ow];
    for c in 0..3 {
        let (mean, std) = match (cfg.mean, cfg.std) {
            (Some(m), Some(s)) => (m[c], s[c]),
            _ => (0.0, 1.0),
        };
        let plane = &mut out[c * oh * ow..(c + 1) * oh * ow];
        for y in 0..oh {
            let sy = y as i64 + top;
            for x in 0..ow {
                let sx = x as i64 + left;
                // Outside the resized image: the black padding of HF's / torchvision's crop.
                let v = if rows.contains(&(sy.max(0) as usize)) && sy >= 0 && sx >= 0 && cols.contains(&(sx as usize)) {
                    window[((sy as usize - rows.start) * win_w + (sx as usize - cols.start)) * 3 + c]
                } else {
                    0
                };
                let v = (v as f64 * scale) as f32;
                plane[y * ow + x] = (v - mean) / std;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::config::{CLIP_MEAN, CLIP_STD};
    use super::*;

    #[test]
    fn resize_sizes_follow_hf() {
        assert_eq!(shortest_edge_size(300, 451, 224), [224, 336]);
        assert_eq!(shortest_edge_size(640, 427, 224), [335, 224]);
        assert_eq!(shortest_edge_size(5, 7, 224), [224, 313]);
        assert_eq!(shortest_edge_size(1, 1, 224), [224, 224]);
    }

    #[test]
    fn crop_offsets() {
        assert_eq!(crop_offset(336, 224, CropRounding::Floor), 56);
        assert_eq!(crop_offset(225, 224, CropRounding::Floor), 0);
        assert_eq!(crop_offset(225, 224, CropRounding::Round), 0); // round(0.5) = 0
        assert_eq!(crop_offset(227, 224, CropRounding::Round), 2); // round(1.5) = 2
        assert_eq!(crop_offset(220, 224, CropRounding::Floor), -2);
        assert_eq!(crop_offset(221, 224, CropRounding::Floor), -2); // HF: ceil(3/2) = 2 of padding
        assert_eq!(crop_offset(221, 224, CropRounding::Round), -1); // torchvision: 3 // 2 = 1
    }

    #[test]
    fn composite_matches_pillow_corners() {
        assert_eq!(composite_on_white(10, 20, 30, 255), [10, 20, 30]);
        assert_eq!(composite_on_white(10, 20, 30, 0), [255, 255, 255]);
        assert_eq!(composite_on_white(0, 0, 0, 128), [127, 127, 127]);
        for v in 0..=255u8 {
            assert_eq!(composite_on_white(v, v, v, 255), [v, v, v]);
        }
    }

    #[test]
    fn extreme_aspect_ratios_only_compute_the_crop() {
        // Resized to a 224 shortest edge this strip would be 224 x 17,920,000 pixels.
        let strip = RgbImage::new(80_000, 1, (0..240_000).map(|i| (i % 251) as u8).collect()).unwrap();
        let cfg = PreprocessConfig::for_image_size([224, 224]);
        let out = preprocess(&strip, &cfg);
        assert_eq!(out.len(), 3 * 224 * 224);
        assert!(out.iter().all(|v| v.is_finite()));
        let tall = RgbImage::new(1, 50_000, vec![128; 150_000]).unwrap();
        let out = preprocess(&tall, &cfg);
        let gray = (128.0 / 255.0 - CLIP_MEAN[0]) / CLIP_STD[0];
        assert!((out[0] - gray).abs() < 1e-6);
    }

    #[test]
    fn bad_images_are_refused_clearly() {
        let e = |b: &[u8]| decode(b).unwrap_err().to_string();
        assert!(e(b"").contains("empty"), "{}", e(b""));
        assert!(e(b"hello, not an image").contains("not a recognised image format"));
        assert!(RgbImage::new(0, 5, vec![]).unwrap_err().to_string().contains("0x5"));
        assert!(RgbImage::from_rgba(2, 2, &[0; 3]).unwrap_err().to_string().contains("expected 16"));
        assert!(RgbImage::new(20_000, 20_000, vec![]).unwrap_err().to_string().contains("limit"));
    }
}
