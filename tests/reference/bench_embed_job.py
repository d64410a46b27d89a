#!/usr/bin/env python3
"""The whole-process embed job, webclip against transformers: one process that loads an HF
CLIP folder, embeds N real photos (the lossless photos of tests/fixtures/images, repeated) and N
captions, and exits — timed from the outside (process start to exit, so start-up, imports and
model load count), the two runtimes alternating, median of the rounds.

    ~/.cache/refenv/bin/python tests/reference/bench_embed_job.py --model DIR \
        [--webclip target/release/webclip] [--images 48] [--rounds 3] [--cpu-isa avx2] [--json]

DIR is an HF folder (`tests/reference/make_random.py --arch vit-b32 DIR` writes a random
ViT-B/32 one). webclip runs `--device cpu embed --json`; transformers runs CLIPModel in float32,
eval, inference_mode, images in batches of 8 (webclip's CPU batch) and texts in one batch, with
CLIPImageProcessor / CLIPTokenizerFast. `--cpu-isa` also limits PyTorch (MKL, oneDNN, ATen) to that
instruction set, to compare AVX2 paths on an AVX-512 machine.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "camera.png", "horse.png", "microaneurysms.png"]
WORDS = ["cat", "dog", "astronaut", "cup of coffee", "horse", "camera", "rocket", "retina", "city", "beach",
         "forest", "car"]


def job_inputs(n):
    images = [str(ROOT / "tests/fixtures/images" / PHOTOS[i % len(PHOTOS)]) for i in range(n)]
    texts = [f"a photo of a {WORDS[i % len(WORDS)]}, number {i}" for i in range(n)]
    return images, texts


def child(model, n):
    import torch
    from PIL import Image
    from transformers import CLIPImageProcessor, CLIPModel, CLIPTokenizerFast

    torch.set_num_threads(os.cpu_count())
    images, texts = job_inputs(n)
    m = CLIPModel.from_pretrained(model, torch_dtype=torch.float32).eval()
    proc = CLIPImageProcessor()
    tok = CLIPTokenizerFast.from_pretrained(model)
    out = []
    with torch.inference_mode():
        for i in range(0, n, 8):
            pix = proc([Image.open(p).convert("RGB") for p in images[i:i + 8]], return_tensors="pt")["pixel_values"]
            out.append(m.get_image_features(pixel_values=pix))
        t = tok(texts, padding=True, truncation=True, max_length=77, return_tensors="pt")
        out.append(m.get_text_features(**t))
    # transformers 5 returns a model output whose pooler_output holds the projected features.
    out = [x if torch.is_tensor(x) else x.pooler_output for x in out]
    print(sum(int(x.shape[0]) for x in out))


def isa_env(isa):
    env = dict(os.environ)
    if isa == "avx2":
        env.update(MKL_ENABLE_INSTRUCTIONS="AVX2", ONEDNN_MAX_CPU_ISA="AVX2", ATEN_CPU_CAPABILITY="avx2")
    return env


def timed(cmd, env):
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {r.stderr.decode(errors='replace')[-2000:]}")
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--webclip", default=str(Path.home() / ".cache/webclip/target/release/webclip"))
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cpu-isa", default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", action="store_true")
    a = ap.parse_args()
    if a.child:
        return child(a.model, a.images)
    images, texts = job_inputs(a.images)
    wc = [a.webclip, "--quiet", "--device", "cpu", "embed", "--model", a.model, "--json"]
    if a.cpu_isa:
        wc[2:2] = ["--cpu-isa", a.cpu_isa]
    for p in images:
        wc += ["--image", p]
    for t in texts:
        wc += ["--text", t]
    py = [sys.executable, __file__, "--child", "--model", a.model, "--images", str(a.images)]
    env = isa_env(a.cpu_isa)
    w, p = [], []
    for _ in range(a.rounds):
        w.append(timed(wc, env))
        p.append(timed(py, env))
    res = {"images": a.images, "texts": a.images, "cpu_isa": a.cpu_isa or "best", "webclip_s": w, "transformers_s": p,
           "webclip_median_s": statistics.median(w), "transformers_median_s": statistics.median(p),
           "speedup": statistics.median(p) / statistics.median(w)}
    if a.json:
        print(json.dumps(res))
    else:
        print(f"{a.images} photos + {a.images} texts, {a.cpu_isa or 'best'} ISA: webclip {res['webclip_median_s']:.2f} s, "
              f"transformers {res['transformers_median_s']:.2f} s (medians of {a.rounds}), {res['speedup']:.2f}x")


if __name__ == "__main__":
    main()
