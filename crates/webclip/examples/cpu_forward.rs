//! Runs ViT-B/32 forwards (random weights) on the CPU in a loop, for `perf record`:
//! `cargo run --release --example cpu_forward -- image 8 20` (or `text 32 5`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use webclip::burn::tensor::{Device, Int, Tensor, TensorData};
use webclip::loader::RandomSource;
use webclip::model::ClipModel;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = args.get(1).map(String::as_str).unwrap_or("image");
    let batch: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    let iters: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    let device = Device::flex();
    let config = webclip::ClipConfig::vit_b32();
    let model = ClipModel::build(&config, Box::new(RandomSource::new(0)), &device).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..iters {
        let y = if kind == "image" {
            let x = Tensor::<4>::from_data(
                TensorData::new(vec![0.1f32; batch * 3 * 224 * 224], [batch, 3, 224, 224]),
                &device,
            );
            model.image_features(x)
        } else {
            let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![5i64; batch * 77], [batch, 77]), &device);
            let pool = Tensor::<1, Int>::from_data(TensorData::new(vec![76i64; batch], [batch]), &device);
            model.text_features(ids, pool).unwrap()
        };
        let _ = y.into_data();
    }
    let spf = t.elapsed().as_secs_f64() / iters as f64;
    println!("{kind} batch {batch}: {:.1} ms/forward, {:.2} items/s", spf * 1e3, batch as f64 / spf);
}
