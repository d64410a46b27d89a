#!/usr/bin/env python3
"""Export the browser benchmark's models to ONNX (for onnxruntime-web) and write its inputs and
reference embeddings (tests/bench compares webclip with onnxruntime-web on the same weights).

Two models:
  shapes  the bundled www/models/shapes (HF CLIP folder, f16 on disk, loaded as float32)
  b32     HF CLIPModel(CLIPConfig()) with torch seed 0: the openai/clip-vit-base-patch32
          architecture with random weights, saved as an HF folder (config.json, f32
          model.safetensors, tests/fixtures/tokenizer.json, a 224px CLIP preprocessor_config.json)
          so webclip loads exactly these weights

For each model, in OUT/<model>/:
  vision.onnx     pixel_values f32 [B,3,S,S] -> image_embeds f32 [B,D]  (get_image_features)
  text.onnx       input_ids i64 [B,77]        -> text_embeds f32 [B,D]   (get_text_features)
  pixels.bin      f32 [8,3,S,S]: CLIPImageProcessorPil pixel_values of 8 images (what webclip's own
                  preprocessing computes from the encoded files; ORT is fed these)
  input_ids.bin   i64 [32,77]: the folder's tokenizer on 32 texts, padded to 77
  runs_ids.bin    i64 [K,32,77]: the same for the K variants of the texts the timed runs embed
                  (see SUFFIXES; their real length, `runs_len`, is what the page feeds ORT)
  long_ids.bin    i64 [32,77]: the 77-token variants (see FILLER)
  ref_images.bin  f32 [8,D], ref_texts.bin f32 [32,D]: PyTorch's embeddings of the same inputs
and OUT/manifest.json describing all of it (the bench page reads it). Both towers take no
attention mask: CLIP's text tower is causal and pools at the first EOS token, so the padding
after it cannot change the result (pooling: first `eos_token_id`, 49407 in both configs).

    ~/.cache/refenv/bin/python tests/reference/export_onnx.py [--out DIR] [--force] [--only shapes|b32]

A model whose outputs exist, made from the same weights by the same version of this script, is
skipped (so running it again is cheap). Default DIR: $WEBCLIP_BENCH_DIR or ~/.cache/webclip/bench.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
from PIL import Image, ImageOps
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures"
DEFAULT_OUT = Path(os.environ.get("WEBCLIP_BENCH_DIR", Path.home() / ".cache" / "webclip" / "bench"))

# B/32's inputs: real photos from tests/fixtures/images (see LICENSES.md there); batch 8 is these.
PHOTOS = ["images/chelsea.png", "images/coffee.png", "images/astronaut.png", "images/rocket.jpg",
          "images/camera.png", "images/horse.png", "images/microaneurysms.png", "images/exif_rot6.jpg"]
# The shapes model's: its own kind of picture (Pillow drawings, 96x96, tests/fixtures/shapes_pil),
# eight classes, so that the reference embeddings differ from each other (photos all look alike
# to it, which would make the cosine check between runtimes weak).
DRAWINGS = [f"shapes_pil/{c}_{s}_0.png" for c, s in [("red", "circle"), ("green", "square"), ("blue", "triangle"),
            ("yellow", "star"), ("purple", "circle"), ("orange", "square"), ("red", "star"), ("blue", "square")]]
# Batch 32 of captions (ordinary lengths: 6 to 20 tokens).
TEXTS = [
    "a photo of a cat.", "a cup of coffee on a table", "an astronaut in a white suit",
    "a rocket lifting off from the launch pad", "a black and white photo of a man with a camera",
    "a horse standing in a field", "a close-up of a retina", "a red circle", "a blue square",
    "a green triangle on a white background", "a photo of a dog playing in the snow",
    "two people walking along the beach at sunset", "a bowl of fresh fruit", "a city skyline at night",
    "a small boat on a calm lake", "a bicycle leaning against a brick wall",
    "a plate of spaghetti with tomato sauce", "a yellow taxi in heavy traffic",
    "a mountain covered in snow under a clear blue sky", "a child reading a book in a library",
    "an old wooden door with a rusty handle", "a flock of birds flying over the sea",
    "a laptop and a notebook on a desk", "a tabby cat sleeping on a sofa", "a glass of orange juice",
    "a train crossing a bridge", "a field of sunflowers in summer", "a lighthouse on a rocky coast",
    "a pair of running shoes", "a street market full of vegetables", "a painting of a sailing ship",
    "a diagram of the solar system",
]
# The shapes model's texts: its 24 class prompts and 8 of the captions.
SHAPE_TEXTS = [f"a photo of a {c} {s}." for c in ["red", "green", "blue", "yellow", "purple", "orange"]
               for s in ["circle", "square", "triangle", "star"]] + TEXTS[:8]
INPUTS = {"shapes": (DRAWINGS, SHAPE_TEXTS), "b32": (PHOTOS, TEXTS)}
# webclip caches text embeddings by string, so every timed text batch must be new strings: run k
# embeds `f"{text} {SUFFIXES[k]}"` (each suffix one BPE token: every run the same length), and the
# 77-token runs `f"{text} {FILLER} {SUFFIXES[k]}"` (truncated at 77 tokens: the same ids every run).
SUFFIXES = ("red blue green dog cat tree car house bird fish book ship moon star rain snow sun road door lamp "
            "chair cup hat boat").split()
FILLER = ("in a quiet town by the river there is an old house with a green door and a small garden where "
          "children play every afternoon while their parents talk about the weather the news and the long "
          "summer days that seem to pass so quickly when the evenings are warm and bright") * 2
OPSET = 18


def log(*a):
    print("[export_onnx]", *a, file=sys.stderr, flush=True)


def pil_open(path: Path) -> Image.Image:
    """As tests/reference/generate.py: EXIF orientation applied; RGB conversion is the processor's."""
    return ImageOps.exif_transpose(Image.open(path))


class Vision(torch.nn.Module):
    def __init__(self, model: CLIPModel):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model.get_image_features(pixel_values=pixel_values).pooler_output


class Text(torch.nn.Module):
    def __init__(self, model: CLIPModel):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model.get_text_features(input_ids=input_ids).pooler_output


def export(module: torch.nn.Module, example: torch.Tensor, name_in: str, name_out: str, path: Path, seq: int = 0):
    """Dynamic batch; and for the text tower (`seq`: the context length) a dynamic sequence length,
    so ORT can be fed batches padded to their longest text, as webclip and transformers do."""
    t = time.perf_counter()
    dims = {0: torch.export.Dim("batch", min=1, max=1024)}
    if seq:
        dims[1] = torch.export.Dim("sequence", min=2, max=seq)
    prog = torch.onnx.export(
        module, (example,), input_names=[name_in], output_names=[name_out],
        dynamic_shapes=(dims,), opset_version=OPSET, dynamo=True, optimize=True,
        external_data=False,
    )
    prog.save(str(path), external_data=False)
    log(f"  {path.name}: {path.stat().st_size / 2**20:.1f} MiB in {time.perf_counter() - t:.1f}s")


def check_onnx(path: Path, feed: np.ndarray, ref: np.ndarray, note: str = ""):
    """Checks the exported graph against PyTorch with onnxruntime (Python), when it is installed."""
    try:
        import onnxruntime as ort
    except ImportError:
        log("  (onnxruntime for Python not installed: skipping the export check)")
        return None
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: feed})[0]
    a = out / np.linalg.norm(out, axis=1, keepdims=True)
    b = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    cos = float((a * b).sum(1).min())
    log(f"  {path.name}{note}: onnxruntime {ort.__version__} vs PyTorch, min cosine {cos:.6f}, "
        f"max |diff| {float(np.abs(out - ref).max()):.2e}")
    if cos < 0.9999:
        sys.exit(f"{path}: the ONNX graph disagrees with PyTorch (min cosine {cos})")
    return cos


def b32_folder(out: Path, seed: int) -> Path:
    """openai/clip-vit-base-patch32's architecture (CLIPConfig defaults), random weights."""
    hf = out / "hf"
    if (hf / "model.safetensors").exists():
        return hf
    hf.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = CLIPModel(CLIPConfig()).eval()
    sd = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(sd, hf / "model.safetensors.tmp", metadata={"format": "pt"})
    (hf / "model.safetensors.tmp").rename(hf / "model.safetensors")
    cfg = model.config.to_dict()
    cfg["architectures"] = ["CLIPModel"]
    cfg["torch_dtype"] = "float32"
    (hf / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    shutil.copy(FIX / "tokenizer.json", hf / "tokenizer.json")
    pre = {
        "crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_convert_rgb": True,
        "do_normalize": True, "do_rescale": True, "do_resize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_processor_type": "CLIPImageProcessor",
        "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3,
        "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 224},
    }
    (hf / "preprocessor_config.json").write_text(json.dumps(pre, indent=2) + "\n")
    log(f"  wrote {hf} ({(hf / 'model.safetensors').stat().st_size / 2**20:.0f} MiB)")
    return hf


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


FILES = ["vision_onnx", "text_onnx", "pixels", "input_ids", "runs_ids", "long_ids", "ref_images", "ref_texts"]


def up_to_date(entry: dict | None, out: Path, weights: Path) -> bool:
    """The model's outputs exist and were made from these weights by this version of the script."""
    return (entry is not None and entry.get("script_sha256") == sha256(Path(__file__))
            and weights.exists() and entry.get("weights_sha256") == sha256(weights)
            and all((out / entry[k]).exists() for k in FILES))


def do_model(name: str, hf_dir: Path, out: Path, url: str) -> dict:
    log(f"{name}: {hf_dir}")
    for f in ("vision.onnx", "text.onnx"):  # stale exports of other weights
        (out / f).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    model = CLIPModel.from_pretrained(hf_dir, dtype=torch.float32, attn_implementation="eager").eval()
    proc = CLIPImageProcessorPil.from_pretrained(hf_dir)
    tok = CLIPTokenizer.from_pretrained(hf_dir)
    ctx = model.config.text_config.max_position_embeddings
    images, texts = INPUTS[name]
    assert len(images) == 8 and len(texts) == 32
    pix = proc([pil_open(FIX / f) for f in images], return_tensors="np")["pixel_values"].astype(np.float32)
    def encode(strings):
        enc = tok(strings, padding="max_length", truncation=True, max_length=ctx)["input_ids"]
        return np.asarray(enc, dtype=np.int64)

    ids = encode(texts)
    real = lambda strings: max(len(x) for x in tok(strings, truncation=True, max_length=ctx)["input_ids"])
    runs = np.stack([encode([f"{t} {w}" for t in texts]) for w in SUFFIXES])
    runs_len = {real([f"{t} {w}" for t in texts]) for w in SUFFIXES}
    assert len(runs_len) == 1 and runs_len == {real(texts) + 1}, runs_len
    longs = [encode([f"{t} {FILLER} {w}" for t in texts]) for w in SUFFIXES]
    assert all((x == longs[0]).all() for x in longs) and real([f"{t} {FILLER}" for t in texts]) == ctx
    runs.tofile(out / "runs_ids.bin")
    longs[0].tofile(out / "long_ids.bin")
    with torch.inference_mode():
        ref_img = Vision(model)(torch.from_numpy(pix)).numpy().astype(np.float32)
        ref_txt = Text(model)(torch.from_numpy(ids)).numpy().astype(np.float32)
    pix.tofile(out / "pixels.bin")
    ids.tofile(out / "input_ids.bin")
    ref_img.tofile(out / "ref_images.bin")
    ref_txt.tofile(out / "ref_texts.bin")

    # Discriminative inputs? (random-init models can map everything to nearly one direction.)
    def spread(x):
        n = x / np.linalg.norm(x, axis=1, keepdims=True)
        c = n @ n.T
        return float(c[~np.eye(len(c), dtype=bool)].max())

    log(f"  reference: max cosine between different images {spread(ref_img):.4f}, texts {spread(ref_txt):.4f}")

    checks = {}
    with torch.no_grad():
        if not (out / "vision.onnx").exists():
            export(Vision(model).eval(), torch.from_numpy(pix[:2]), "pixel_values", "image_embeds", out / "vision.onnx")
        if not (out / "text.onnx").exists():
            export(Text(model).eval(), torch.from_numpy(ids[:2, :16]), "input_ids", "text_embeds", out / "text.onnx", seq=ctx)
    checks["vision"] = check_onnx(out / "vision.onnx", pix, ref_img)
    checks["text"] = check_onnx(out / "text.onnx", ids, ref_txt)
    checks["text_trimmed"] = check_onnx(out / "text.onnx", np.ascontiguousarray(ids[:, :real(texts)]), ref_txt,
                                        f" (ids trimmed to {real(texts)} tokens)")
    s = model.config.vision_config.image_size
    return {
        "weights_sha256": sha256(hf_dir / "model.safetensors"),
        "script_sha256": sha256(Path(__file__)),
        "hf_url": url,
        "image_size": s,
        "context_length": ctx,
        "embedding_dim": int(ref_img.shape[1]),
        "images": [f"/tests/fixtures/{f}" for f in images],
        "texts": texts,
        "vision_onnx": f"{name}/vision.onnx",
        "text_onnx": f"{name}/text.onnx",
        "pixels": f"{name}/pixels.bin",
        "pixels_shape": list(pix.shape),
        "input_ids": f"{name}/input_ids.bin",
        "input_ids_shape": list(ids.shape),
        "input_len": real(texts),
        "runs_ids": f"{name}/runs_ids.bin",
        "runs_len": runs_len.pop(),
        "long_ids": f"{name}/long_ids.bin",
        "suffixes": SUFFIXES,
        "filler": FILLER,
        "ref_images": f"{name}/ref_images.bin",
        "ref_texts": f"{name}/ref_texts.bin",
        "onnx_check_min_cosine": checks,
        "onnx_bytes": {"vision": (out / "vision.onnx").stat().st_size, "text": (out / "text.onnx").stat().st_size},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--force", action="store_true", help="redo everything even if the outputs are up to date")
    ap.add_argument("--only", choices=["shapes", "b32"])
    ap.add_argument("--seed", type=int, default=0, help="torch seed of the random B/32 weights")
    a = ap.parse_args()
    out: Path = a.out.expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    mpath = out / "manifest.json"
    manifest = json.loads(mpath.read_text()) if mpath.exists() else {"models": {}}
    if a.force:
        for n in ("shapes", "b32"):
            if a.only in (None, n):
                manifest["models"].pop(n, None)
                if n == "b32":
                    shutil.rmtree(out / n / "hf", ignore_errors=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    models = manifest["models"]
    if a.only in (None, "shapes"):
        shapes = ROOT / "www" / "models" / "shapes"
        if up_to_date(models.get("shapes"), out, shapes / "model.safetensors"):
            log("shapes: up to date")
        else:
            models["shapes"] = do_model("shapes", shapes, out / "shapes", "/www/models/shapes/")
    if a.only in (None, "b32"):
        old = models.get("b32")
        if old and old.get("seed") == a.seed and up_to_date(old, out, out / "b32" / "hf" / "model.safetensors"):
            log("b32: up to date")
        else:
            if old and old.get("seed") != a.seed:
                shutil.rmtree(out / "b32" / "hf", ignore_errors=True)
            hf = b32_folder(out / "b32", a.seed)
            m = do_model("b32", hf, out / "b32", "{data}/b32/hf/")
            m["seed"] = a.seed
            models["b32"] = m
    import onnx
    import transformers
    manifest["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__,
                            "onnx": onnx.__version__, "opset": OPSET}
    mpath.write_text(json.dumps(manifest, indent=1) + "\n")
    log(f"wrote {mpath}")


if __name__ == "__main__":
    main()
