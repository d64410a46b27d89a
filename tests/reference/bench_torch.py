#!/usr/bin/env python3
"""PyTorch's numbers for the shapes `webclip bench` measures: ViT-B/32 (random weights, HF
CLIPModel, float32, eval, inference_mode), image embeds/s at batch 1 and 8, texts/s at batch 32
of 77 tokens, peak resident memory; and training steps `train-MODE-BATCH` (OpenCLIP's AdamW
recipe, MODE projections / lastN / all). Each scenario runs in its own process (like webclip's) so the
peak memory is its own.

    ~/.cache/refenv/bin/python tests/reference/bench_torch.py [--threads N] [--iters 10] [--json]
        [--arch vit-b32|siglip-b16|siglip2-b16] [--device cpu|cuda] [--dtype f32|f16]

`--arch`, `--device cuda` and `--dtype f16` are for the inference scenarios (image1, image8,
image32, text32) that `./build.sh bench-gpu` compares with `webclip --device gpu bench`; results
are copied back to the host after every forward, as webclip reads its back.

Default threads: all cores (torch's default), which is what `webclip bench --device cpu` uses.
"""

import argparse
import json
import resource
import subprocess
import sys
import time


def child(scenario: str, iters: int, warmup: int, threads: int, attn: str, arch="vit-b32", device="cpu", dtype="f32"):
    import torch
    from transformers import CLIPConfig, CLIPModel, SiglipConfig, SiglipModel

    torch.set_num_threads(threads)
    t = time.perf_counter()
    torch.manual_seed(0)
    if arch == "vit-b32":
        cfg = CLIPConfig(
            text_config=dict(bos_token_id=0, eos_token_id=2, pad_token_id=1),
            vision_config={},
            projection_dim=512,
        )
        model = CLIPModel(cfg).eval()
        size, ctx, vocab = 224, 77, 49408
    else:
        cfg = SiglipConfig(text_config={"vocab_size": 256000} if arch == "siglip2-b16" else {})
        model = SiglipModel(cfg).eval()
        size, ctx, vocab = 224, 64, cfg.text_config.vocab_size
    dev = torch.device(device)
    model = model.to(dev, torch.float16 if dtype == "f16" else torch.float32)
    model.config._attn_implementation = attn
    model.text_model.config._attn_implementation = attn
    model.vision_model.config._attn_implementation = attn
    build = time.perf_counter() - t
    if scenario.startswith("train-"):
        return train_child(model, scenario, iters, warmup, threads, attn, build)
    batch = {"image1": 1, "image8": 8, "image32": 32, "text32": 32}[scenario]
    if scenario.startswith("image"):
        x = torch.randn(batch, 3, size, size).to(dev, next(model.parameters()).dtype)

        def fwd():
            return pooled(model.get_image_features(pixel_values=x)).float().cpu()
    else:
        g = torch.Generator().manual_seed(1)
        ids = torch.randint(0, vocab - 3, (batch, ctx), generator=g)
        ids[:, 0] = vocab - 2
        ids[:, -1] = vocab - 1
        ids = ids.to(dev)

        def fwd():
            return pooled(model.get_text_features(input_ids=ids)).float().cpu()

    with torch.inference_mode():
        where = f"CUDA {torch.cuda.get_device_name(0)} {dtype}" if device == "cuda" else None
        report(fwd, scenario, batch, iters, warmup, threads, attn, build, arch, where)


def pooled(out):
    """`get_*_features` returns the embeddings (transformers ≤ 5.1x) or an output whose
    `pooler_output` holds them (later 5.x): the GPU machine's image has an older one."""
    return out if hasattr(out, "float") else out.pooler_output


def report(fwd, scenario, batch, iters, warmup, threads, attn, build, arch="vit-b32", where=None):
    """Times `fwd` as `webclip bench` does (one untimed call, the rest of the warm-up, `iters`
    timed calls) and prints its JSON line."""
    import torch

    t = time.perf_counter()
    fwd()
    first = time.perf_counter() - t
    for _ in range(warmup - 1):
        fwd()
    t = time.perf_counter()
    for _ in range(iters):
        fwd()
    spf = (time.perf_counter() - t) / iters
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "scenario": scenario, "arch": arch,
        "device": f"PyTorch {torch.__version__} " + (where or f"CPU ({threads} threads, attn={attn})"),
        "batch": batch, "iters": iters, "seconds_per_forward": spf, "items_per_second": batch / spf,
        "build_seconds": build, "first_forward_seconds": first, "peak_rss_mib": peak,
    }))


def train_child(model, scenario, iters, warmup, threads, attn, build):
    """One OpenCLIP-recipe AdamW step (two parameter groups, clip 1.0, logit_scale clamp), as
    `webclip bench` times it: random 224x224 pixels, shapes-world-like captions."""
    import math
    import torch
    from pathlib import Path
    from transformers import CLIPTokenizer

    _, mode, batch = scenario.split("-")
    batch = int(batch)
    lt, lv = 12, 12
    for k, p in model.named_parameters():
        proj = k.startswith(("visual_projection.", "text_projection.")) or k == "logit_scale"
        if mode == "all":
            on = True
        elif mode == "projections":
            on = proj
        else:
            n = int(mode[4:])
            on = proj or k.startswith(("text_model.final_layer_norm.", "vision_model.post_layernorm."))
            for prefix, layers in (("text_model.encoder.layers.", lt), ("vision_model.encoder.layers.", lv)):
                if k.startswith(prefix) and int(k[len(prefix):].split(".")[0]) + n >= layers:
                    on = True
        p.requires_grad_(on)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": [p for p in params if p.ndim >= 2], "weight_decay": 0.2},
                             {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}],
                            lr=1e-5, betas=(0.9, 0.98), eps=1e-6)
    tok = CLIPTokenizer.from_pretrained(Path(__file__).resolve().parents[1] / "fixtures" / "models" / "tiny-legacy")
    words = ["red circle", "blue star on a white background", "small green square", "yellow triangle"]
    texts = [f"a photo of a {words[i % 4]}" for i in range(batch)]
    ids = tok(texts, padding=True, return_tensors="pt")
    pixels = torch.randn(batch, 3, 224, 224)
    model.train()

    def step():
        loss = model(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"], pixel_values=pixels, return_loss=True).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))

    report(step, scenario, batch, iters, warmup, threads, attn, build)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", default="image1,image8,text32")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child")
    ap.add_argument("--arch", default="vit-b32", choices=["vit-b32", "siglip-b16", "siglip2-b16"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16"])
    a = ap.parse_args()
    if a.threads == 0:
        import os
        a.threads = os.cpu_count()
    if a.child:
        child(a.child, a.iters, a.warmup, a.threads, a.attn, a.arch, a.device, a.dtype)
        return
    results = []
    for s in a.scenarios.split(","):
        out = subprocess.run([sys.executable, __file__, "--child", s, "--iters", str(a.iters), "--warmup", str(a.warmup),
                              "--threads", str(a.threads), "--attn", a.attn, "--arch", a.arch, "--device", a.device,
                              "--dtype", a.dtype], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        if not a.json:
            print(f"{r['arch']:<11} {r['scenario']:<7} {r['device']:<44} {r['items_per_second']:>9.2f} items/s "
                  f"{r['seconds_per_forward'] * 1e3:>9.1f} ms/forward  peak RSS {r['peak_rss_mib']:>7.0f} MiB", flush=True)
    if a.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
