//! Pillow's `Image.resize` for 8-bit images, reimplemented exactly (libImaging/Resample.c,
//! Pillow 9–13): separable convolution with an antialiasing support of `support · max(scale, 1)`,
//! coefficients normalised per output pixel in f64, then quantised to 22 fractional bits;
//! horizontal pass first (only over the rows the vertical pass reads), 8-bit intermediate, then
//! the vertical pass. Matching it bit for bit is what makes webclip's pixels HF's pixels:
//! generic resizers (`image`, `fast_image_resize`) differ from it by up to 20 levels on small
//! images (docs/preprocessing.md).

use super::config::Filter;

/// Fractional bits of the fixed-point coefficients (`PRECISION_BITS` = 32 - 8 - 2).
const PRECISION_BITS: u32 = 22;

impl Filter {
    fn support(self) -> f64 {
        match self {
            Filter::Box => 0.5,
            Filter::Bilinear | Filter::Hamming => 1.0,
            Filter::Bicubic => 2.0,
            Filter::Lanczos => 3.0,
        }
    }

    fn eval(self, x: f64) -> f64 {
        match self {
            Filter::Box => {
                if x > -0.5 && x <= 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
            Filter::Bilinear => {
                let x = x.abs();
                if x < 1.0 { 1.0 - x } else { 0.0 }
            }
            Filter::Hamming => {
                let x = x.abs();
                if x == 0.0 {
                    1.0
                } else if x >= 1.0 {
                    0.0
                } else {
                    let x = x * std::f64::consts::PI;
                    // Pillow writes the constants as floats (0.54f, 0.46f).
                    x.sin() / x * (0.54f32 as f64 + 0.46f32 as f64 * x.cos())
                }
            }
            Filter::Bicubic => {
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Filter::Lanczos => {
                let sinc = |x: f64| {
                    if x == 0.0 {
                        1.0
                    } else {
                        let x = x * std::f64::consts::PI;
                        x.sin() / x
                    }
                };
                if (-3.0..3.0).contains(&x) { sinc(x) * sinc(x / 3.0) } else { 0.0 }
            }
        }
    }
}

/// Per output pixel of a window: first input index, tap count, and `ksize` fixed-point weights.
struct Coeffs {
    ksize: usize,
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
}

/// `precompute_coeffs` + `normalize_coeffs_8bpc` for the box `[0, in_size)` → `out_size`, for
/// the output pixels in `range` only (each output pixel's weights depend on its index alone).
fn coeffs(in_size: usize, out_size: usize, range: std::ops::Range<usize>, filter: Filter) -> Coeffs {
    let (in0, in1) = (0.0f32, in_size as f32);
    let scale = (in1 - in0) as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let inv = 1.0 / filterscale;
    let mut bounds = Vec::with_capacity(range.len());
    let mut weights = vec![0i32; range.len() * ksize];
    let mut k = vec![0f64; ksize];
    for (i, xx) in range.enumerate() {
        let center = in0 as f64 + (xx as f64 + 0.5) * scale;
        // C's (int) cast truncates toward zero.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin).min(ksize);
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(n) {
            let w = filter.eval((x as f64 + xmin as f64 - center + 0.5) * inv);
            *kx = w;
            ww += w;
        }
        for x in 0..n {
            if ww != 0.0 {
                k[x] /= ww;
            }
            let v = k[x] * (1u32 << PRECISION_BITS) as f64;
            weights[i * ksize + x] = if k[x] < 0.0 { (-0.5 + v) as i32 } else { (0.5 + v) as i32 };
        }
        bounds.push((xmin, n));
    }
    Coeffs { ksize, bounds, weights }
}

#[inline]
fn clip8(ss: i32) -> u8 {
    (ss >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes interleaved 8-bit pixels (`channels` per pixel, row-major) exactly as Pillow's
/// `Image.resize((out_w, out_h), filter)` does for an 8-bit image of that many bands.
pub fn resize_u8(
    src: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    out_w: usize,
    out_h: usize,
    filter: Filter,
) -> Vec<u8> {
    resize_u8_window(src, width, height, channels, [out_w, out_h], [0..out_w, 0..out_h], filter)
}

/// The `cols × rows` window of Pillow's resize to `out = [out_w, out_h]`, computed alone: the
/// same values as resizing fully and cropping, without ever holding the full output (a 1×80 000
/// strip resized to a 224-pixel shortest edge would be 4 gigapixels; its center crop is not).
pub fn resize_u8_window(
    src: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    out: [usize; 2],
    window: [std::ops::Range<usize>; 2],
    filter: Filter,
) -> Vec<u8> {
    let [out_w, out_h] = out;
    let [cols, rows] = window;
    debug_assert_eq!(src.len(), width * height * channels);
    debug_assert!(cols.end <= out_w && rows.end <= out_h);
    let (win_w, win_h) = (cols.len(), rows.len());
    if win_w == 0 || win_h == 0 {
        return Vec::new();
    }
    let need_h = out_w != width;
    let need_v = out_h != height;
    let half = 1i32 << (PRECISION_BITS - 1);

    // Rows of the source the vertical pass reads (all of the window's rows when there is none).
    let vert = need_v.then(|| coeffs(height, out_h, rows.clone(), filter));
    let (first, last) = match &vert {
        Some(v) => {
            let (b0, _) = v.bounds[0];
            let (bl, nl) = v.bounds[win_h - 1];
            (b0, bl + nl)
        }
        None => (rows.start, rows.end),
    };

    // Horizontal pass over those rows, for the window's columns.
    let (tmp, tmp_w) = if need_h {
        let hc = coeffs(width, out_w, cols.clone(), filter);
        let mut out = vec![0u8; (last - first) * win_w * channels];
        for (y, out_line) in out.chunks_exact_mut(win_w * channels).enumerate() {
            let line = &src[(y + first) * width * channels..(y + first + 1) * width * channels];
            for xx in 0..win_w {
                let (xmin, n) = hc.bounds[xx];
                let k = &hc.weights[xx * hc.ksize..xx * hc.ksize + n];
                let px = &line[xmin * channels..(xmin + n) * channels];
                if channels == 3 {
                    // RGB (every photo): one pass over the pixels with three sums — the same
                    // integer sums as channel by channel, read once and in order. This pass is
                    // most of the preprocessing of a large photo (`webclip index`).
                    let (mut r, mut g, mut b) = (half, half, half);
                    for (p, &kx) in px.chunks_exact(3).zip(k) {
                        r += p[0] as i32 * kx;
                        g += p[1] as i32 * kx;
                        b += p[2] as i32 * kx;
                    }
                    out_line[xx * 3..xx * 3 + 3].copy_from_slice(&[clip8(r), clip8(g), clip8(b)]);
                    continue;
                }
                for c in 0..channels {
                    let mut ss = half;
                    for (x, &kx) in k.iter().enumerate() {
                        ss += px[x * channels + c] as i32 * kx;
                    }
                    out_line[xx * channels + c] = clip8(ss);
                }
            }
        }
        (out, win_w)
    } else {
        let mut out = Vec::with_capacity((last - first) * win_w * channels);
        for y in first..last {
            out.extend_from_slice(&src[(y * width + cols.start) * channels..(y * width + cols.end) * channels]);
        }
        (out, win_w)
    };
    let Some(vert) = vert else {
        return tmp;
    };

    let stride = tmp_w * channels;
    let mut out = vec![0u8; win_h * stride];
    // Whole rows at a time (contiguous, so the sums vectorise), the same integer sums.
    let mut acc = vec![0i32; stride];
    for (yy, out_line) in out.chunks_exact_mut(stride).enumerate() {
        let (ymin, n) = vert.bounds[yy];
        let ymin = ymin - first;
        let k = &vert.weights[yy * vert.ksize..yy * vert.ksize + n];
        acc.fill(half);
        for (y, &ky) in k.iter().enumerate() {
            let row = &tmp[(ymin + y) * stride..(ymin + y + 1) * stride];
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v as i32 * ky;
            }
        }
        for (o, &a) in out_line.iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_constant_images() {
        let src: Vec<u8> = (0..5 * 4 * 3).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(resize_u8(&src, 5, 4, 3, 5, 4, Filter::Bicubic), src);
        // A flat image stays flat whatever the scale (weights sum to one in fixed point).
        let flat = vec![200u8; 37 * 23 * 3];
        for (w, h) in [(10, 6), (80, 50), (1, 1), (37, 100)] {
            let out = resize_u8(&flat, 37, 23, 3, w, h, Filter::Bicubic);
            assert!(out.iter().all(|&v| v == 200), "{w}x{h}");
        }
    }

    #[test]
    fn windows_equal_crops_of_the_full_resize() {
        let (w, h) = (53, 31);
        let src: Vec<u8> = (0..w * h * 3).map(|i| ((i * 37 + i / 7) % 256) as u8).collect();
        for (ow, oh) in [(20, 11), (80, 47), (53, 60), (70, 31)] {
            let full = resize_u8(&src, w, h, 3, ow, oh, Filter::Bicubic);
            for (x0, x1, y0, y1) in [(0, ow, 0, oh), (3, ow - 2, 1, oh - 4), (ow / 2, ow / 2 + 1, oh - 1, oh)] {
                let win = resize_u8_window(&src, w, h, 3, [ow, oh], [x0..x1, y0..y1], Filter::Bicubic);
                let mut crop = Vec::new();
                for y in y0..y1 {
                    crop.extend_from_slice(&full[(y * ow + x0) * 3..(y * ow + x1) * 3]);
                }
                assert_eq!(win, crop, "{ow}x{oh} window {x0}..{x1} x {y0}..{y1}");
            }
        }
    }

    #[test]
    fn bicubic_kernel_values() {
        assert_eq!(Filter::Bicubic.eval(0.0), 1.0);
        assert_eq!(Filter::Bicubic.eval(1.0), 0.0);
        assert_eq!(Filter::Bicubic.eval(2.0), 0.0);
        assert!((Filter::Bicubic.eval(0.5) - 0.5625).abs() < 1e-12);
        assert!((Filter::Bicubic.eval(1.5) + 0.0625).abs() < 1e-12);
    }
}
