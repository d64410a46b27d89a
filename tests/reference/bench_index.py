"""`webclip index` against the same job in PyTorch: transformers' CLIPModel with a 2-worker
DataLoader (what clip-retrieval runs), alternating, median of the rounds.

    ~/.cache/refenv/bin/python tests/reference/bench_index.py --model DIR --folder PHOTOS \
        [--webclip target/release/webclip] [--rounds 3] [--cpu-isa avx2] [--json]

The job: every image of FOLDER (recursive, as `webclip index` walks it), decoded, preprocessed
(CLIPImageProcessor: the same resize / crop / normalisation), embedded by the image tower in
batches (8 on the CPU, webclip's CPU batch), L2-normalised, written as one f16 .npy. The
PyTorch side uses `torch.utils.data.DataLoader(num_workers=2)`, the data loading that hides
decoding behind the model there. Both runs are whole processes (start-up and model load
included) on the same cores; images/s = files / wall seconds. Name the CPU class beside the
figures (`grep -o -m1 avx512f /proc/cpuinfo`).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXTS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def files(folder):
    return sorted(str(p) for p in Path(folder).rglob("*") if p.suffix.lower() in EXTS)


def child(model, folder, out):
    import numpy as np
    import torch
    from PIL import Image
    from transformers import CLIPImageProcessor, CLIPModel

    torch.set_num_threads(os.cpu_count())
    paths = files(folder)
    proc = CLIPImageProcessor.from_pretrained(model) if (Path(model) / "preprocessor_config.json").exists() \
        else CLIPImageProcessor()

    class Photos(torch.utils.data.Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            im = Image.open(paths[i]).convert("RGB")
            return proc(im, return_tensors="pt")["pixel_values"][0]

    m = CLIPModel.from_pretrained(model, torch_dtype=torch.float32).eval()
    dl = torch.utils.data.DataLoader(Photos(), batch_size=8, num_workers=2)
    embs = []
    with torch.inference_mode():
        for pix in dl:
            e = m.get_image_features(pixel_values=pix)
            e = e if torch.is_tensor(e) else e.pooler_output
            embs.append(torch.nn.functional.normalize(e, dim=-1).to(torch.float16).numpy())
    np.save(out, np.concatenate(embs))
    print(len(paths))


def timed(cmd, env):
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode not in (0, 3):
        sys.exit(f"{cmd[0]} failed: {r.stderr.decode(errors='replace')[-2000:]}")
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--folder", required=True)
    ap.add_argument("--webclip", default=str(Path.home() / ".cache/webclip/target/release/webclip"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cpu-isa", default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child-out", default=None)
    a = ap.parse_args()
    if a.child_out:
        return child(a.model, a.folder, a.child_out)
    n = len(files(a.folder))
    env = dict(os.environ)
    if a.cpu_isa == "avx2":
        env.update(MKL_ENABLE_INSTRUCTIONS="AVX2", ONEDNN_MAX_CPU_ISA="AVX2", ATEN_CPU_CAPABILITY="avx2")
    tmp = Path(tempfile.mkdtemp())
    w, p = [], []
    try:
        for r in range(a.rounds):
            out = tmp / f"idx{r}"
            wc = [a.webclip, "-q", "--device", "cpu", "index", "--model", a.model, a.folder, "--out", str(out)]
            if a.cpu_isa:
                wc[2:2] = ["--cpu-isa", a.cpu_isa]
            w.append(timed(wc, env))
            shutil.rmtree(out, ignore_errors=True)
            p.append(timed([sys.executable, __file__, "--model", a.model, "--folder", a.folder,
                            "--child-out", str(tmp / "torch.npy")], env))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res = {"files": n, "cpu_isa": a.cpu_isa or "best", "webclip_s": w, "pytorch_s": p,
           "webclip_images_per_s": n / statistics.median(w), "pytorch_images_per_s": n / statistics.median(p)}
    res["ratio"] = res["webclip_images_per_s"] / res["pytorch_images_per_s"]
    if a.json:
        print(json.dumps(res))
    else:
        print(f"{n} files, {res['cpu_isa']} ISA: webclip {res['webclip_images_per_s']:.1f} images/s, "
              f"PyTorch + DataLoader(2 workers) {res['pytorch_images_per_s']:.1f} images/s "
              f"(medians of {a.rounds}), {res['ratio']:.2f}x")


if __name__ == "__main__":
    main()
