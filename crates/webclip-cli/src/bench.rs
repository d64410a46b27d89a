//! `webclip bench`: throughput and peak memory of ViT-B/32 with random weights (made in Rust, no
//! file needed), the numbers `tests/reference/bench_torch.py` measures for PyTorch.
//!
//! Architectures (`--arch`): `vit-b32` (OpenAI ViT-B/32, the default), `siglip-b16` (SigLIP B/16
//! at 224 px), `siglip2-b16` (the same with SigLIP 2's 256k vocabulary).
//!
//! Scenarios: `image1` (one image per forward), `image8`, `image32` (batches of 8, 32), `text32`
//! (batches of 32 texts of the full context: 77 tokens, SigLIP's 64), and training steps `train-MODE-BATCH` (MODE `projections`,
//! `lastN` or `all`; e.g. `train-last2-8`): one AdamW step on shapes-world captions and 224×224
//! images, where "forward" in the output means a whole step. Each runs in its own child process so that its peak resident
//! memory (VmHWM) is its own; on wgpu the device memory pool is reported too. Results are read
//! back after every forward, so GPU timings include the full round trip.

use std::process::Command;
use std::time::Instant;

use clap::Args;
use serde::{Deserialize, Serialize};
use webclip::burn::tensor::{Device, Int, Tensor, TensorData};
use webclip::loader::RandomSource;
use webclip::model::cpu::{isa, profile as cpu_profile};
use webclip::model::precision::cast_model;
use webclip::model::{ClipModel, Precision, PrecisionChoice};
use webclip::{ClipConfig, DeviceChoice};

use crate::progress::Reporter;
use crate::{CliError, Result};

#[derive(Args)]
pub struct BenchArgs {
    /// Scenarios to run (comma-separated): image1, image8, text32; also gemm (the products
    /// alone) and search (exact search of 1 M × 512 f16 synthetic embeddings).
    #[arg(long, default_value = "image1,image8,text32")]
    scenarios: String,
    /// Architecture with random weights: vit-b32, siglip-b16 or siglip2-b16.
    #[arg(long, default_value = "vit-b32")]
    arch: String,
    /// Timed forwards per scenario.
    #[arg(long, default_value_t = 10)]
    iters: usize,
    /// Untimed forwards first (kernel compilation, autotuning, allocator warm-up).
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// CPU: also report where the time of a forward goes, per kind of op (GEMMs with their
    /// GFLOP/s, attention, LayerNorm, patch embedding, the rest).
    #[arg(long)]
    profile: bool,
    /// Internal: run one scenario in this process.
    #[arg(long, hide = true)]
    child: Option<String>,
}

#[derive(Serialize, Deserialize, Debug)]
struct ScenarioResult {
    scenario: String,
    /// `--arch`.
    #[serde(default)]
    arch: String,
    device: String,
    /// f32 or f16 (training is always f32).
    #[serde(default)]
    precision: String,
    batch: usize,
    iters: usize,
    /// Mean seconds per forward.
    seconds_per_forward: f64,
    /// Items (images or texts) per second.
    items_per_second: f64,
    /// Seconds to build the random model on the device.
    build_seconds: f64,
    /// First (untimed) forward: kernel compilation and autotuning on GPUs.
    first_forward_seconds: f64,
    /// Peak resident set of the process (VmHWM), MiB.
    peak_rss_mib: Option<f64>,
    /// Device memory reserved by Burn's pool after the run (wgpu), MiB.
    device_reserved_mib: Option<f64>,
    /// The CPU kernels' instruction set (`--cpu-isa`), on the CPU.
    #[serde(default)]
    cpu_isa: Option<String>,
    /// `--profile`: per kind of op, per forward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    profile: Option<Vec<ProfileRow>>,
}

/// One kind of op in a `--profile`d forward.
#[derive(Serialize, Deserialize, Debug)]
struct ProfileRow {
    op: String,
    /// Mean milliseconds per forward.
    ms: f64,
    /// Share of the forward's time.
    share: f64,
    /// Achieved GFLOP/s (ops that count their work).
    gflops: Option<f64>,
}

fn vm_hwm_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Batch of a scenario: `image1`, `image8`, `text32`, or `train-{projections,last2,all}-{B}`.
fn scenario_batch(name: &str) -> Result<usize> {
    match name {
        "image1" => Ok(1),
        "image8" => Ok(8),
        "image32" => Ok(32),
        "text32" => Ok(32),
        other => train_scenario(other).map(|(_, b)| b).ok_or_else(|| {
            CliError::Other(format!(
                "unknown bench scenario {other:?} (image1, image8, text32, train-MODE-BATCH with MODE projections, last2 or all)"
            ))
        }),
    }
}

fn train_scenario(name: &str) -> Option<(webclip::train::TrainMode, usize)> {
    let rest = name.strip_prefix("train-")?;
    let (mode, batch) = rest.rsplit_once('-')?;
    let mode = match mode {
        "projections" => webclip::train::TrainMode::Projections,
        "all" => webclip::train::TrainMode::All,
        m => webclip::train::TrainMode::Last(m.strip_prefix("last")?.parse().ok()?),
    };
    Some((mode, batch.parse().ok().filter(|&b| b >= 2)?))
}

/// One optimiser step of ViT-B/32 (random weights) on a batch of shapes-world captions and
/// 224×224 images, OpenCLIP's AdamW recipe.
fn run_train_child(name: &str, args: &BenchArgs, device: Device, device_name: String) -> Result<ScenarioResult> {
    let (mode, batch) = train_scenario(name).ok_or_else(|| CliError::Other(format!("bad scenario {name}")))?;
    let config = ClipConfig::vit_b32();
    let t = Instant::now();
    let tokenizer = webclip::Tokenizer::from_bytes(crate::train::CLIP_TOKENIZER, 77)?;
    let clip = pollster::block_on(webclip::Clip::random(config, tokenizer, &device, 0))?;
    let cfg = webclip::train::TrainConfig {
        trainable: webclip::train::Trainable { mode, lock_image: false, lock_text: false },
        lr: 1e-5,
        total_steps: args.warmup + args.iters,
        ..Default::default()
    };
    let mut trainer = webclip::train::Trainer::new(clip, cfg)?;
    let build_seconds = t.elapsed().as_secs_f64();
    let world = webclip::shapes::ShapesWorld::new(0, 224);
    let samples: Vec<_> = (0..batch as u64).map(|i| world.sample(i, webclip::shapes::Split::Train)).collect();
    let texts: Vec<String> = samples.iter().map(|s| s.caption.clone()).collect();
    let imgs: Vec<_> = samples.into_iter().map(|s| s.image).collect();
    let run = Run { name, args, device: &device, device_name, precision: Precision::F32, batch, build_seconds };
    run.measure(|| Ok(pollster::block_on(trainer.step(&imgs, &texts)).map(|_| ())?))
}

/// A scenario ready to time: what the result reports besides the timings.
struct Run<'a> {
    name: &'a str,
    args: &'a BenchArgs,
    device: &'a Device,
    device_name: String,
    precision: Precision,
    batch: usize,
    build_seconds: f64,
}

impl Run<'_> {
    /// Times `forward`: once untimed (kernel compilation, autotuning), the rest of the warm-up,
    /// then `iters` timed calls.
    fn measure(self, mut forward: impl FnMut() -> Result<()>) -> Result<ScenarioResult> {
        let t = Instant::now();
        forward()?;
        let first_forward_seconds = t.elapsed().as_secs_f64();
        for _ in 1..self.args.warmup {
            forward()?;
        }
        let cpu = self.device_name.starts_with("CPU");
        cpu_profile::enable(self.args.profile && cpu);
        let t = Instant::now();
        for _ in 0..self.args.iters {
            forward()?;
        }
        let spf = t.elapsed().as_secs_f64() / self.args.iters.max(1) as f64;
        cpu_profile::enable(false);
        let iters = self.args.iters.max(1) as f64;
        let profile = (self.args.profile && cpu).then(|| {
            let mut rows: Vec<ProfileRow> = cpu_profile::totals()
                .into_iter()
                .map(|t| ProfileRow {
                    op: t.op.name().into(),
                    ms: t.seconds / iters * 1e3,
                    share: t.seconds / iters / spf,
                    gflops: (t.flops > 0.0).then(|| t.flops / t.seconds * 1e-9),
                })
                .collect();
            let claimed: f64 = rows.iter().map(|r| r.ms).sum();
            let rest = spf * 1e3 - claimed;
            rows.push(ProfileRow { op: "other".into(), ms: rest, share: rest / (spf * 1e3), gflops: None });
            rows
        });
        Ok(ScenarioResult {
            scenario: self.name.to_string(),
            arch: self.args.arch.clone(),
            device: self.device_name,
            precision: self.precision.as_str().into(),
            batch: self.batch,
            iters: self.args.iters,
            seconds_per_forward: spf,
            items_per_second: self.batch as f64 / spf,
            build_seconds: self.build_seconds,
            first_forward_seconds,
            peak_rss_mib: vm_hwm_mib(),
            device_reserved_mib: self.device.memory_pool_usage().map(|u| u.bytes_reserved as f64 / (1 << 20) as f64),
            cpu_isa: cpu.then(|| isa::active().name().to_string()),
            profile,
        })
    }
}

fn sync_read(t: Tensor<2>) -> Result<Vec<f32>> {
    Ok(pollster::block_on(webclip::device::read_f32(t))?)
}

fn run_child(
    name: &str,
    args: &BenchArgs,
    device: Device,
    device_name: String,
    precision: Precision,
) -> Result<ScenarioResult> {
    if name.starts_with("train-") {
        return run_train_child(name, args, device, device_name);
    }
    let batch = scenario_batch(name)?;
    let config = arch_config(&args.arch)?;
    let [h, w] = config.vision.image_size;
    let t = Instant::now();
    let model = cast_model(ClipModel::build(&config, Box::new(RandomSource::new(0)), &device)?, precision);
    let _ = sync_read(model.logit_scale.val().unsqueeze_dim(0))?;
    let build_seconds = t.elapsed().as_secs_f64();

    let forward: Box<dyn Fn() -> Result<Vec<f32>>> = if name.starts_with("image") {
        let pixels = webclip::rng::WeightInit::new(1).normal(batch * 3 * h * w, 1.0);
        let x = Tensor::<4>::from_data(TensorData::new(pixels, [batch, 3, h, w]), &device).cast(precision.dtype());
        Box::new(move || sync_read(model.image_features(x.clone())))
    } else {
        let ctx = config.context_length();
        let vocab = config.text.vocab_size as u64;
        let mut ids = Vec::with_capacity(batch * ctx);
        let mut state = 12345u64;
        for _ in 0..batch {
            ids.push((vocab - 2) as i64);
            for _ in 1..ctx - 1 {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ids.push(((state >> 33) % (vocab - 3)) as i64);
            }
            ids.push((vocab - 1) as i64);
        }
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, ctx]), &device);
        let pool = Tensor::<1, Int>::from_data(TensorData::new(vec![(ctx - 1) as i64; batch], [batch]), &device);
        Box::new(move || sync_read(model.text_features(ids.clone(), pool.clone())?))
    };

    let run = Run { name, args, device: &device, device_name, precision, batch, build_seconds };
    run.measure(|| forward().map(|_| ()))
}

/// The random-weight architecture `--arch` names.
fn arch_config(arch: &str) -> Result<ClipConfig> {
    match arch {
        "vit-b32" => Ok(ClipConfig::vit_b32()),
        "siglip-b16" => Ok(ClipConfig::siglip_b16()),
        "siglip2-b16" => {
            let mut c = ClipConfig::siglip_b16();
            c.text.vocab_size = 256_000;
            Ok(c)
        }
        other => Err(CliError::Other(format!("--arch {other:?}: expected vit-b32, siglip-b16 or siglip2-b16"))),
    }
}

pub fn run(args: BenchArgs, choice: DeviceChoice, precision: PrecisionChoice, rep: &mut Reporter) -> Result<()> {
    if args.iters == 0 {
        return Err(CliError::Other("--iters must be at least 1".into()));
    }
    arch_config(&args.arch)?;
    if let Some(name) = &args.child {
        let (device, info) = webclip::device::open(choice)?;
        let precision = Precision::resolve(precision, &device)?;
        let r = run_child(name, &args, device, info.name, precision)?;
        println!("{}", serde_json::to_string(&r).map_err(|e| CliError::Other(e.to_string()))?);
        return Ok(());
    }
    let mut names: Vec<&str> = args.scenarios.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if names.contains(&"gemm") {
        gemm_table(&args)?;
        names.retain(|n| *n != "gemm");
    }
    if names.contains(&"search") {
        search_bench(&args)?;
        names.retain(|n| *n != "search");
    }
    for n in &names {
        scenario_batch(n)?;
    }
    let exe = std::env::current_exe().map_err(|e| CliError::Other(format!("cannot find my own executable: {e}")))?;
    let (device_arg, precision_arg) = (choice.to_string(), precision.to_string());
    let mut results = Vec::new();
    for n in names {
        rep.note(&format!(
            "bench {} {n} on {device_arg} ({} warm-up + {} timed forwards)",
            args.arch, args.warmup, args.iters
        ));
        let out = Command::new(&exe)
            .args(["--quiet", "--device", &device_arg, "--precision", &precision_arg, "bench", "--child", n])
            .args(["--arch", &args.arch])
            .args(["--iters", &args.iters.to_string(), "--warmup", &args.warmup.to_string()])
            .args(["--cpu-isa", isa::active().name()])
            .args(args.profile.then_some("--profile"))
            .output()
            .map_err(|e| CliError::Other(format!("could not start the benchmark process: {e}")))?;
        if !out.status.success() {
            return Err(CliError::Other(format!(
                "bench {n} failed: {}",
                String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("no message")
            )));
        }
        let r: ScenarioResult = serde_json::from_slice(&out.stdout)
            .map_err(|e| CliError::Other(format!("bench {n}: unreadable result ({e})")))?;
        if !args.json {
            let device = match &r.cpu_isa {
                Some(i) => format!("{} {i}", r.device),
                None => r.device.clone(),
            };
            println!(
                "{:<11} {:<7} {:<35} {:<3} {:>9.2} items/s {:>9.1} ms/forward  first {:>7.2} s  peak RSS {:>7.0} MiB{}",
                r.arch,
                r.scenario,
                device,
                r.precision,
                r.items_per_second,
                r.seconds_per_forward * 1e3,
                r.first_forward_seconds,
                r.peak_rss_mib.unwrap_or(f64::NAN),
                r.device_reserved_mib.map(|m| format!("  device pool {m:.0} MiB")).unwrap_or_default()
            );
            for p in r.profile.iter().flatten() {
                let gflops = p.gflops.map(|g| format!("{g:>7.1} GFLOP/s")).unwrap_or_default();
                println!("    {:<16} {:>8.2} ms {:>6.1} %  {gflops}", p.op, p.ms, p.share * 100.0);
            }
        }
        results.push(r);
    }
    if args.json {
        println!("{}", serde_json::to_string(&results).map_err(|e| CliError::Other(e.to_string()))?);
    }
    Ok(())
}

/// `--scenarios gemm`: the products of a ViT-B/32 forward (image batch 1 and 8, text batch 32;
/// `[rows, in] · [in, out]`) and a large square one, timed alone, with webclip's kernels on every
/// instruction set the CPU has, with the weight stored transposed (`[out, in]`, as in the file) on the
/// active one, and with Burn's CPU matmul (the `gemm` crate), fastest of the
/// repetitions: the GFLOP/s the forward's GEMMs are measured against.
fn gemm_table(args: &BenchArgs) -> Result<()> {
    let device = Device::flex();
    let shapes: [(&str, usize, usize, usize); 10] = [
        ("img1 qkv/out", 50, 768, 768),
        ("img1 fc1", 50, 768, 3072),
        ("img1 fc2", 50, 3072, 768),
        ("img8 qkv/out", 400, 768, 768),
        ("img8 fc1", 400, 768, 3072),
        ("img8 fc2", 400, 3072, 768),
        ("txt32 qkv/out", 2464, 512, 512),
        ("txt32 fc1", 2464, 512, 2048),
        ("txt32 fc2", 2464, 2048, 512),
        ("square 1536", 1536, 1536, 1536),
    ];
    let isas = isa::Isa::supported();
    print!("{:<14} {:>17}", "shape", "m x k x n");
    for i in &isas {
        print!(" {:>9}", i.name());
    }
    println!(" {:>9} {:>10}   (GFLOP/s)", "best, Wᵀ", "burn/gemm");
    for (name, m, k, n) in shapes {
        let a = webclip::rng::WeightInit::new(3).normal(m * k, 1.0);
        let b = webclip::rng::WeightInit::new(4).normal(k * n, 0.05);
        let flops = 2.0 * (m * k * n) as f64;
        let reps = ((2e10 / flops) as usize).clamp(3, 200).min(args.iters.max(1) * 20);
        print!("{name:<14} {:>17}", format!("{m}x{k}x{n}"));
        for &i in &isas {
            let secs = webclip::model::cpu::time_gemm(i, m, k, n, &a, &b, false, reps);
            print!(" {:>9.1}", flops / secs * 1e-9);
        }
        // The weight as the file stores it, `[out, in]`, read in place (what the model does).
        let secs = webclip::model::cpu::time_gemm(isa::active(), m, k, n, &a, &b, true, reps);
        print!(" {:>9.1}", flops / secs * 1e-9);
        let ta = Tensor::<2>::from_data(TensorData::new(a, [m, k]), &device);
        let tb = Tensor::<2>::from_data(TensorData::new(b, [k, n]), &device);
        let _ = sync_read(ta.clone().matmul(tb.clone()))?;
        let mut best = f64::INFINITY;
        for _ in 0..reps {
            let t = Instant::now();
            let _ = sync_read(ta.clone().matmul(tb.clone()))?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(" {:>10.1}", flops / best * 1e-9);
    }
    Ok(())
}

/// `--scenarios search`: `webclip search`'s scan of 1,000,000 × 512 f16 embeddings (random unit
/// vectors in 10 partitions of 100,000, written to a temporary index folder and read through
/// the page cache, as a warm index is), top 10 for a random query; fastest and median of the
/// repetitions.
fn search_bench(args: &BenchArgs) -> Result<()> {
    const ROWS: usize = 100_000;
    const PARTS: usize = 10;
    const DIM: usize = 512;
    let dir = std::env::temp_dir().join(format!("webclip-search-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("img_emb")).map_err(|e| CliError::File(dir.clone(), e.to_string()))?;
    let t = Instant::now();
    for k in 0..PARTS {
        let mut v = webclip::rng::WeightInit::new(10 + k as u64).normal(ROWS * DIM, 1.0);
        for row in v.chunks_exact_mut(DIM) {
            let n = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            row.iter_mut().for_each(|x| *x /= n);
        }
        crate::index::write_npy(&crate::index::emb_path(&dir, k), crate::index::Dtype::F16, DIM, &v)?;
    }
    let made = t.elapsed().as_secs_f64();
    let query = webclip::rng::WeightInit::new(1).normal(DIM, 1.0);
    let parts: Vec<usize> = (0..PARTS).collect();
    let run = || crate::index::search_embeddings(&dir, &parts, &query, 10);
    let _ = run()?;
    let mut times = Vec::new();
    for _ in 0..args.iters.max(3) {
        let t = Instant::now();
        let _ = run()?;
        times.push(t.elapsed().as_secs_f64());
    }
    let _ = std::fs::remove_dir_all(&dir);
    times.sort_by(f64::total_cmp);
    println!(
        "search: {} x {DIM} f16 embeddings, top 10, {} threads: fastest {:.0} ms, median {:.0} ms \
         ({:.1} GB/s of embeddings; index written in {made:.1} s)",
        ROWS * PARTS,
        rayon::current_num_threads(),
        times[0] * 1e3,
        times[times.len() / 2] * 1e3,
        (ROWS * PARTS * DIM * 2) as f64 / times[times.len() / 2] * 1e-9
    );
    Ok(())
}
