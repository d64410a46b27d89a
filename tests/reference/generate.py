#!/usr/bin/env python3
"""Generate webclip's parity fixtures from the reference implementation.

HF transformers (CLIPModel, CLIPImageProcessorPil, CLIPTokenizer), Pillow and open_clip are the
reference. This script writes everything `cargo test` checks into tests/fixtures/:

  tokenizer.json          the real CLIP BPE vocab (open_clip's bpe_simple_vocab_16e6.txt.gz, MIT)
                          turned into an HF fast-tokenizer file, exactly as CLIPTokenizer builds it
  templates.json          CLIP's published prompt templates (STL10, CIFAR, ImageNet)
  tokens.json             token ids of edge-case texts (HF fast tokenizer, truncation to 77)
  images/                 real photos (scikit-image, public domain / CC0) and edge-case files
  resized/                Pillow's shortest-edge bicubic resize of each photo (uint8 PNG)
  pixels.safetensors      HF processor pixel_values for a few (image, preprocessing) pairs
  models/<name>/          small random checkpoints in HF and OpenCLIP layouts, f32/f16/bf16
  expected/<name>.json    embeddings, zero-shot probabilities and rankings for each checkpoint

Nothing here downloads anything: the vocab and the photos come from the pinned PyPI wheels
(requirements.txt). Run from the repository root:

    ~/.cache/refenv/bin/python tests/reference/generate.py
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import shutil
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import open_clip
import PIL
import safetensors.torch
import skimage
import torch
import transformers
from PIL import Image, ImageOps
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures"
SKDATA = Path(skimage.__file__).parent / "data"

# Photos used as test inputs: (file in skimage/data, what it is, licence as skimage states it).
PHOTOS = [
    ("chelsea.png", "a tabby cat (451x300 RGB)", "CC0 by the photographer (Stefan van der Walt)"),
    ("coffee.png", "a cup of coffee (600x400 RGB)", "CC0 by the photographer (Rachel Michetti)"),
    ("astronaut.png", "astronaut Eileen Collins (512x512 RGB)", "NASA, public domain"),
    ("rocket.jpg", "a SpaceX rocket launch (JPEG, 427x640)", "SpaceX, public domain"),
    ("camera.png", "a cameraman (512x512 grayscale)", "CC0 by the photographer (Lav Varshney)"),
    ("horse.png", "a horse silhouette (RGBA with transparency)", "CC0 (Andreas Preuss, openclipart)"),
    ("microaneurysms.png", "retina detail (102x102 grayscale, upscaled)", "CC0 (Andreas Maier)"),
]

TEXTS = [
    "a photo of a cat.",
    "Hello World!",
    "",
    "   ",
    "A photo of a DOG",
    "naïve café résumé",
    "数字 123 and ½",
    "emoji 🐱🚀 test",
    "it's we're they'll I'd",
    "tab\tnew\nline   spaces",
    "&amp; <b>html</b>",
    "<|startoftext|>special<|endoftext|>",
    "supercalifragilisticexpialidocious " * 3,
    "a " * 100,
    ("the quick brown fox jumps over the lazy dog. " * 230)[:10_000],
]
# A shorter set for embeddings (every model encodes these).
EMBED_TEXTS = [
    "a photo of a cat.",
    "a photo of a dog.",
    "an astronaut",
    "",
    "naïve café résumé",
    "a " * 100,
    ("the quick brown fox jumps over the lazy dog. " * 230)[:10_000],
]
LABELS = ["cat", "dog", "astronaut", "coffee", "rocket launch", "horse"]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------

def bytes_to_unicode():
    """GPT-2 / CLIP byte-to-unicode table (openai/CLIP simple_tokenizer.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def build_tokenizer(out_dir: Path) -> CLIPTokenizer:
    bpe = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    merges = gzip.open(bpe).read().decode("utf-8").split("\n")
    merges = merges[1 : 49152 - 256 - 2 + 1]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == 49408
    tok = CLIPTokenizer(vocab={v: i for i, v in enumerate(vocab)}, merges=[tuple(m.split()) for m in merges], model_max_length=77)
    tmp = out_dir / "_tok"
    tok.save_pretrained(tmp)
    shutil.copy(tmp / "tokenizer.json", out_dir / "tokenizer.json")
    shutil.rmtree(tmp)
    return tok


def hf_ids(tok, text):
    return tok(text, truncation=True, max_length=77)["input_ids"]


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------

def pil_open(path: Path) -> Image.Image:
    """How webclip reads a file: EXIF orientation applied (as transformers' load_image and every
    browser do), first frame of animations; RGB conversion is the processor's (alpha composited
    onto white)."""
    im = Image.open(path)
    im = ImageOps.exif_transpose(im)
    return im


def write_png_header_only(path: Path, w: int, h: int):
    """A PNG whose IHDR claims w x h but whose data is a few bytes: a decompression bomb that a
    decoder must refuse from the header alone."""
    chunk = png_chunk
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png_rgb16(path: Path, arr: np.ndarray):
    """16-bit RGB PNG (Pillow cannot write one)."""
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw, 9))
                     + png_chunk(b"IEND", b""))


def make_images(img_dir: Path):
    img_dir.mkdir(parents=True, exist_ok=True)
    lic = ["# Test images", "", "Photos from scikit-image's bundled data (skimage/data), as its docs state:", ""]
    for name, what, licence in PHOTOS:
        shutil.copy(SKDATA / name, img_dir / name)
        lic.append(f"- `{name}`: {what}. {licence}.")
    lic += ["", "Edge cases below are derived from those photos by tests/reference/generate.py.", ""]

    chelsea = Image.open(SKDATA / "chelsea.png").convert("RGB")
    small = chelsea.resize((120, 80), Image.Resampling.BICUBIC)
    # 16-bit RGB PNG (PIL keeps the high byte when it reads it).
    arr16 = np.asarray(small).astype(np.uint16) * 256 + 17  # high byte = the 8-bit value
    write_png_rgb16(img_dir / "rgb16.png", arr16)
    small.convert("L").save(img_dir / "gray.png")
    small.convert("P", palette=Image.Palette.ADAPTIVE, colors=32).save(img_dir / "palette.png")
    pal_t = small.convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    pal_t.info["transparency"] = 0
    pal_t.save(img_dir / "palette_transparent.png", transparency=0)
    la = Image.merge("LA", (small.convert("L"), Image.linear_gradient("L").resize(small.size)))
    la.save(img_dir / "gray_alpha.png")
    small.convert("CMYK").save(img_dir / "cmyk.jpg", quality=95)
    # EXIF orientation 6: stored sideways, displayed rotated 90 degrees clockwise.
    exif = Image.Exif()
    exif[0x0112] = 6
    small.transpose(Image.Transpose.ROTATE_90).save(img_dir / "exif_rot6.jpg", quality=95, exif=exif)
    # Animated GIF: frame 0 is the cat, frame 1 is a flat colour.
    frames = [small.convert("P", palette=Image.Palette.ADAPTIVE), Image.new("RGB", small.size, (200, 30, 30)).convert("P")]
    frames[0].save(img_dir / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    small.save(img_dir / "small.webp", lossless=True)
    Image.new("RGB", (1, 1), (12, 200, 99)).save(img_dir / "one_pixel.png")
    small.resize((7, 5), Image.Resampling.BICUBIC).save(img_dir / "seven_by_five.png")
    # Broken inputs.
    (img_dir / "empty.jpg").write_bytes(b"")
    (img_dir / "not_an_image.jpg").write_bytes(b"this is a text file, not a JPEG\n")
    jpg = (SKDATA / "rocket.jpg").read_bytes()
    (img_dir / "truncated.jpg").write_bytes(jpg[: len(jpg) // 3])
    pngb = (img_dir / "gray.png").read_bytes()
    (img_dir / "truncated.png").write_bytes(pngb[: len(pngb) // 2])
    write_png_header_only(img_dir / "bomb_20000.png", 20000, 20000)
    lic += [
        "- `rgb16.png`, `gray.png`, `gray_alpha.png`, `palette*.png`, `cmyk.jpg`, `exif_rot6.jpg`, `animated.gif`,",
        "  `small.webp`, `one_pixel.png`, `seven_by_five.png`: re-encodings of chelsea.png.",
        "- `empty.jpg`, `not_an_image.jpg`, `truncated.*`, `bomb_20000.png` (a 20000x20000 header with no data):",
        "  broken inputs that must produce clear errors.",
    ]
    (img_dir / "LICENSES.md").write_text("\n".join(lic) + "\n")


# Images whose embeddings/probabilities are checked (decodable ones).
def parity_images():
    return [p[0] for p in PHOTOS] + [
        "rgb16.png", "gray.png", "gray_alpha.png", "palette.png", "palette_transparent.png",
        "cmyk.jpg", "exif_rot6.jpg", "animated.gif", "small.webp", "one_pixel.png", "seven_by_five.png",
    ]


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

def hf_model(text: dict, vision: dict, projection_dim: int, seed: int) -> CLIPModel:
    torch.manual_seed(seed)
    cfg = CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim)
    model = CLIPModel(cfg).eval()
    # Random init leaves biases and norms at 0/1; perturb every parameter so that parity tests
    # would notice a swapped bias, a missing norm gain or a transposed matrix.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                p.fill_(math.log(1 / 0.07) + 0.3)
            elif p.ndim == 1:
                base = 1.0 if "norm" in name else 0.0
                p.copy_(base + 0.1 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) * (0.6 / math.sqrt(p.shape[-1])))
    return model


def save_hf(model: CLIPModel, out: Path, dtype: torch.dtype, config_json: dict, preprocessor: dict | None,
            extra_tensors: dict | None = None):
    out.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    if extra_tensors:
        sd.update(extra_tensors)
    safetensors.torch.save_file(sd, out / "model.safetensors", metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(config_json, indent=2) + "\n")
    if preprocessor is not None:
        (out / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n")
    link = out / "tokenizer.json"
    if link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(os.path.relpath(FIX / "tokenizer.json", out))


def processor_for(pre: dict | None, image_size: int) -> CLIPImageProcessorPil:
    if pre is None:
        return CLIPImageProcessorPil(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})
    kw = {k: v for k, v in pre.items() if k not in ("image_processor_type", "processor_class")}
    return CLIPImageProcessorPil(**kw)


def l2n(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def zero_shot(image_feats: torch.Tensor, encode_text, labels, templates, logit_scale: float):
    """CLIP's ensembling: per class, normalise each template's embedding, average, re-normalise."""
    cols = []
    for label in labels:
        e = l2n(encode_text([t.replace("{}", label) for t in templates]))
        cols.append(l2n(e.mean(0)))
    w = torch.stack(cols)  # [C, E]
    logits = math.exp(logit_scale) * l2n(image_feats) @ w.T
    return logits.softmax(-1)


def expected_for(name: str, encode_image, encode_text, logit_scale: float, templates: dict, pixel_fn, tok):
    images = parity_images()
    with torch.no_grad():
        pix = torch.stack([pixel_fn(FIX / "images" / f) for f in images])
        img = encode_image(pix)
        txt = encode_text(EMBED_TEXTS)
        probs_default = zero_shot(img, encode_text, LABELS, ["a photo of a {}."], logit_scale)
        probs_cifar = zero_shot(img, encode_text, LABELS, templates["cifar"], logit_scale)
        q = l2n(encode_text(["a photo of a cat"]))[0]
        scores = (l2n(img) @ q).tolist()
    order = sorted(range(len(images)), key=lambda i: -scores[i])
    return {
        "model": name,
        "logit_scale": logit_scale,
        "images": images,
        "image_embeds": img.tolist(),
        "texts": EMBED_TEXTS,
        "text_ids": [hf_ids(tok, t) for t in EMBED_TEXTS],
        "text_embeds": txt.tolist(),
        "labels": LABELS,
        "zeroshot_default": probs_default.tolist(),
        "zeroshot_cifar": probs_cifar.tolist(),
        "rank_query": "a photo of a cat",
        "rank": [{"index": i, "score": scores[i]} for i in order],
    }


def hf_case(name, text_cfg, vision_cfg, proj, seed, dtype, config_json_fn, pre, tok, templates, extra=None):
    model = hf_model(text_cfg, vision_cfg, proj, seed)
    # Round-trip the weights through the stored dtype so the reference computes on exactly the
    # weights webclip loads (f16/bf16 upcast to f32).
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).to(torch.float32))
    out = FIX / "models" / name
    save_hf(model, out, dtype, config_json_fn(model.config), pre, extra)
    image_size = model.config.vision_config.image_size
    proc = processor_for(pre, image_size)

    def pixel_fn(path):
        return torch.from_numpy(proc(pil_open(path), return_tensors="np")["pixel_values"][0])

    def enc_img(pix):
        return model.get_image_features(pixel_values=pix).pooler_output

    def enc_txt(texts):
        batch = tok(texts, truncation=True, max_length=77, padding=True, return_tensors="pt")
        return model.get_text_features(**batch).pooler_output

    exp = expected_for(name, enc_img, enc_txt, float(model.logit_scale.detach()), templates, pixel_fn, tok)
    return exp, proc


def full_config(cfg: CLIPConfig) -> dict:
    d = cfg.to_dict()
    return d


def minimal_config(cfg: CLIPConfig) -> dict:
    """Like the real openai/clip-vit-* configs: fields equal to transformers' defaults left out."""
    t, v = cfg.text_config, cfg.vision_config
    tdef, vdef = transformers.CLIPTextConfig(), transformers.CLIPVisionConfig()
    keep_t = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "hidden_act",
              "vocab_size", "max_position_embeddings", "layer_norm_eps", "bos_token_id", "eos_token_id", "pad_token_id"]
    keep_v = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "hidden_act",
              "image_size", "patch_size", "num_channels", "layer_norm_eps"]
    text = {k: getattr(t, k) for k in keep_t if getattr(t, k) != getattr(tdef, k)}
    vision = {k: getattr(v, k) for k in keep_v if getattr(v, k) != getattr(vdef, k)}
    text["model_type"] = "clip_text_model"
    vision["model_type"] = "clip_vision_model"
    return {
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        "projection_dim": cfg.projection_dim,
        "text_config": text,
        "vision_config": vision,
        "torch_dtype": "float32",
    }


def openclip_case(tok, templates):
    name = "tiny-openclip"
    model_cfg = {
        "embed_dim": 24,
        "quick_gelu": False,
        "vision_cfg": {"image_size": 48, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16, "mlp_ratio": 2.0},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 24, "heads": 3, "layers": 2},
    }
    preprocess_cfg = {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
                      "interpolation": "bicubic", "resize_mode": "shortest"}
    torch.manual_seed(7)
    model = open_clip.CLIP(**model_cfg).eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n == "logit_scale":
                p.fill_(math.log(1 / 0.07) - 0.2)
            elif p.ndim <= 1:
                base = 1.0 if ("ln" in n and n.endswith("weight")) else 0.0
                p.copy_(base + 0.1 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) * (0.6 / math.sqrt(p.shape[-1])))
    out = FIX / "models" / name
    out.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(sd, out / "open_clip_model.safetensors")
    (out / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg}, indent=2) + "\n")
    link = out / "tokenizer.json"
    if link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(os.path.relpath(FIX / "tokenizer.json", out))

    preprocess = open_clip.image_transform(48, is_train=False, mean=preprocess_cfg["mean"], std=preprocess_cfg["std"],
                                           interpolation="bicubic", resize_mode="shortest")

    def pixel_fn(path):
        return preprocess(pil_open(path))

    def enc_img(pix):
        return model.encode_image(pix, normalize=False)

    def enc_txt(texts):
        ids = torch.tensor([pad77(hf_ids(tok, t)) for t in texts])
        return model.encode_text(ids, normalize=False)

    exp = expected_for(name, enc_img, enc_txt, float(model.logit_scale.detach()), templates, pixel_fn, tok)
    exp["state_dict_keys"] = sorted(sd.keys())
    return exp


# --------------------------------------------------------------------------------------------
# Shapes drawn by another tool (Pillow's ImageDraw), for the transfer test of the shapes model
# --------------------------------------------------------------------------------------------

PIL_COLORS = {"red": (220, 20, 30), "green": (30, 160, 40), "blue": (20, 60, 230), "yellow": (250, 215, 0),
              "purple": (130, 30, 170), "orange": (255, 130, 0)}
PIL_SHAPES = ["circle", "square", "triangle", "star"]


def pil_shapes():
    """Two drawings per class at 96x96 (so webclip resizes them): one on white, one on light grey,
    different size, position and rotation. Plain flat colours, no anti-aliasing tricks."""
    import random
    from PIL import ImageDraw
    rnd = random.Random(1234)
    out = FIX / "shapes_pil"
    out.mkdir(exist_ok=True)
    index = []
    for cname, rgb in PIL_COLORS.items():
        for sname in PIL_SHAPES:
            for k, bg in enumerate([(255, 255, 255), (215, 215, 215)]):
                im = Image.new("RGB", (96, 96), bg)
                d = ImageDraw.Draw(im)
                r = rnd.uniform(20, 38)
                cx, cy = rnd.uniform(r + 4, 92 - r), rnd.uniform(r + 4, 92 - r)
                rot = rnd.uniform(0, 360)
                if sname == "circle":
                    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=rgb)
                elif sname == "square":
                    d.regular_polygon((cx, cy, r), 4, rotation=rot, fill=rgb)
                elif sname == "triangle":
                    d.regular_polygon((cx, cy, r), 3, rotation=rot, fill=rgb)
                else:
                    pts = []
                    for i in range(10):
                        rr = r if i % 2 == 0 else r * 0.45
                        a = math.radians(rot) - math.pi / 2 + math.pi * i / 5
                        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
                    d.polygon(pts, fill=rgb)
                name = f"{cname}_{sname}_{k}.png"
                im.save(out / name)
                index.append({"image": name, "class": f"{cname} {sname}"})
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")


def shapes_model_reference(tok):
    """HF transformers loading the bundled shapes model (www/models/shapes, trained and exported
    by `webclip train-shapes`): its embeddings of the Pillow drawings and of the 24 class
    prompts, so cargo test can check that transformers reads the folder as webclip does."""
    mdir = ROOT / "www" / "models" / "shapes"
    if not (mdir / "model.safetensors").exists():
        log("no www/models/shapes yet: skipping its reference")
        return None
    model = CLIPModel.from_pretrained(mdir).eval()
    proc = CLIPImageProcessorPil.from_pretrained(mdir)
    index = json.loads((FIX / "shapes_pil" / "index.json").read_text())
    files = [e["image"] for e in index]
    texts = [f"a photo of a {c} {s}." for c in PIL_COLORS for s in PIL_SHAPES]
    with torch.no_grad():
        pix = torch.from_numpy(proc([pil_open(FIX / "shapes_pil" / f) for f in files], return_tensors="np")["pixel_values"])
        img = model.get_image_features(pixel_values=pix).pooler_output
        batch = tok(texts, padding=True, return_tensors="pt")
        txt = model.get_text_features(**batch).pooler_output
        logits = l2n(img) @ l2n(txt).T
    pred = logits.argmax(-1).tolist()
    acc = sum(texts[p] == f"a photo of a {e['class']}." for p, e in zip(pred, index)) / len(index)
    return {"files": files, "image_embeds": img.tolist(), "texts": texts, "text_embeds": txt.tolist(),
            "logit_scale": float(model.logit_scale.detach()), "hf_accuracy": acc}


# --------------------------------------------------------------------------------------------
# Training reference: OpenCLIP's recipe in PyTorch on the tiny-legacy checkpoint
# --------------------------------------------------------------------------------------------

TRAIN_FILES = ["chelsea.png", "coffee.png", "astronaut.png", "horse.png"]
TRAIN_TEXTS = ["a photo of a cat", "a cup of coffee", "an astronaut in a suit", "a horse"]
TRAIN_HP = dict(lr=1e-3, weight_decay=0.2, beta1=0.9, beta2=0.98, eps=1e-6, warmup=1, steps=3, grad_clip=1.0)
WATCH = [
    "logit_scale",
    "visual_projection.weight",
    "text_projection.weight",
    "text_model.final_layer_norm.weight",
    "vision_model.post_layernorm.bias",
    "vision_model.embeddings.class_embedding",
    "vision_model.encoder.layers.1.self_attn.q_proj.weight",
    "text_model.encoder.layers.1.mlp.fc2.bias",
    "vision_model.embeddings.patch_embedding.weight",
]
WATCH_ROWS = {"text_model.embeddings.token_embedding.weight": [320, 1125, 2368, 1000, 49406, 49407]}


def cosine_lr(base, step, warmup, total):
    if step < warmup:
        return base * (step + 1) / warmup
    e, es = step - warmup, max(total - warmup, 1)
    return 0.5 * (1 + math.cos(math.pi * e / es)) * base


def trains(mode, key, layers_t, layers_v):
    if mode == "all":
        return True
    proj = key.startswith(("visual_projection.", "text_projection.")) or key == "logit_scale"
    if mode == "projections":
        return proj
    n = int(mode.split(":")[1])
    if proj or key.startswith(("text_model.final_layer_norm.", "vision_model.post_layernorm.")):
        return True
    for prefix, layers in (("text_model.encoder.layers.", layers_t), ("vision_model.encoder.layers.", layers_v)):
        if key.startswith(prefix) and int(key[len(prefix):].split(".")[0]) + n >= layers:
            return True
    return False


def training_reference(tok):
    mdir = FIX / "models" / "tiny-legacy"
    proc = CLIPImageProcessorPil.from_pretrained(mdir)
    pixels = torch.from_numpy(proc([pil_open(FIX / "images" / f) for f in TRAIN_FILES], return_tensors="np")["pixel_values"])
    batch = tok(TRAIN_TEXTS, padding=True, return_tensors="pt")
    hp = TRAIN_HP
    out = {"files": TRAIN_FILES, "texts": TRAIN_TEXTS, "hyper": hp, "cases": {}}
    for mode in ["all", "projections", "last:1"]:
        model = CLIPModel.from_pretrained(mdir).eval()
        lt, lv = model.config.text_config.num_hidden_layers, model.config.vision_config.num_hidden_layers
        named = dict(model.named_parameters())
        for k, p in named.items():
            p.requires_grad_(trains(mode, k, lt, lv))
        decay = [p for k, p in named.items() if p.requires_grad and p.ndim >= 2]
        no_decay = [p for k, p in named.items() if p.requires_grad and p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": hp["weight_decay"]},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"])
        case = {"losses": [], "lrs": [], "grad_norms": []}
        for step in range(hp["steps"]):
            lr = cosine_lr(hp["lr"], step, hp["warmup"], hp["steps"])
            for g in opt.param_groups:
                g["lr"] = lr
            loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], pixel_values=pixels,
                         return_loss=True).loss
            opt.zero_grad()
            loss.backward()
            if step == 0:
                case["grads"] = {k: named[k].grad.flatten().tolist() for k in WATCH if named[k].grad is not None}
            norm = torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], hp["grad_clip"])
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            case["losses"].append(loss.item())
            case["lrs"].append(lr)
            case["grad_norms"].append(norm.item())
        case["params"] = {k: named[k].detach().flatten().tolist() for k in WATCH}
        for k, rows in WATCH_ROWS.items():
            case["params"][k + "@rows"] = named[k].detach()[rows].flatten().tolist()
        case["rows"] = WATCH_ROWS
        out["cases"][mode] = case
    return out


def pad77(ids):
    return ids + [0] * (77 - len(ids))


# --------------------------------------------------------------------------------------------

def main():
    FIX.mkdir(parents=True, exist_ok=True)
    (FIX / "expected").mkdir(exist_ok=True)
    log("tokenizer")
    tok = build_tokenizer(FIX)
    tokens = [{"text": t, "ids": hf_ids(tok, t)} for t in TEXTS]
    (FIX / "tokens.json").write_text(json.dumps(tokens, ensure_ascii=False, indent=1) + "\n")

    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES
    templates = {
        "default": ["a photo of a {}."],
        "stl10": ["a photo of a {}.", "a photo of the {}."],
        "cifar": [
            "a photo of a {}.", "a blurry photo of a {}.", "a black and white photo of a {}.",
            "a low contrast photo of a {}.", "a high contrast photo of a {}.", "a bad photo of a {}.",
            "a good photo of a {}.", "a photo of a small {}.", "a photo of a big {}.", "a photo of the {}.",
            "a blurry photo of the {}.", "a black and white photo of the {}.", "a low contrast photo of the {}.",
            "a high contrast photo of the {}.", "a bad photo of the {}.", "a good photo of the {}.",
            "a photo of the small {}.", "a photo of the big {}.",
        ],
        "imagenet": [f("{}") for f in OPENAI_IMAGENET_TEMPLATES],
    }
    (FIX / "templates.json").write_text(json.dumps(templates, indent=1) + "\n")

    log("images")
    make_images(FIX / "images")

    log("resize reference")
    rdir = FIX / "resized"
    rdir.mkdir(exist_ok=True)
    resized = {}
    for name, _, _ in PHOTOS + [("rocket_pil_decoded.png", "", "")]:
        if name == "rocket_pil_decoded.png":
            # Pillow's own decode of the JPEG, so the resize comparison sees identical input pixels.
            pil_open(FIX / "images" / "rocket.jpg").convert("RGB").save(rdir / name)
            src = Image.open(rdir / name)
        else:
            src = pil_open(FIX / "images" / name)
        proc = CLIPImageProcessorPil()
        rgb = proc.convert_to_rgb(src)  # HWC uint8 (alpha composited onto white)
        for edge in (224, 72):
            chw = np.moveaxis(rgb, -1, 0)
            from transformers.image_processing_utils import SizeDict
            out = proc.resize(chw, SizeDict(shortest_edge=edge), resample=PIL.Image.Resampling.BICUBIC)
            hwc = np.moveaxis(out, 0, -1).astype(np.uint8)
            fname = f"{Path(name).stem}__{edge}.png"
            Image.fromarray(hwc).save(rdir / fname)
            resized[fname] = {"source": name, "shortest_edge": edge, "width": hwc.shape[1], "height": hwc.shape[0]}
    (rdir / "index.json").write_text(json.dumps(resized, indent=1) + "\n")

    log("pixel values")
    pix = {}
    proc224 = CLIPImageProcessorPil()
    for name in ["chelsea.png", "horse.png", "exif_rot6.jpg"]:
        pv = proc224(pil_open(FIX / "images" / name), return_tensors="np")["pixel_values"][0]
        pix[f"{name}@default"] = torch.from_numpy(pv.copy())
    odd = {"size": {"shortest_edge": 72}, "crop_size": {"height": 64, "width": 64},
           "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
    for name in ["coffee.png", "microaneurysms.png", "seven_by_five.png"]:
        pv = CLIPImageProcessorPil(**odd)(pil_open(FIX / "images" / name), return_tensors="np")["pixel_values"][0]
        pix[f"{name}@tiny-gelu-f16"] = torch.from_numpy(pv.copy())
    safetensors.torch.save_file(pix, FIX / "pixels.safetensors")

    log("models")
    base_pre = {
        "crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_convert_rgb": True,
        "do_normalize": True, "do_rescale": True, "do_resize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_processor_type": "CLIPImageProcessor",
        "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "rescale_factor": 0.00392156862745098,
        "size": {"shortest_edge": 224},
    }
    # 1. OpenAI-style legacy config (eos_token_id 2 -> argmax pooling), quick_gelu, f32, minimal config.json.
    exp, _ = hf_case(
        "tiny-legacy",
        dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             bos_token_id=0, eos_token_id=2, pad_token_id=1),
        dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4),
        32, 1, torch.float32, minimal_config, base_pre, tok, templates,
    )
    (FIX / "expected" / "tiny-legacy.json").write_text(json.dumps(exp) + "\n")

    # 2. New-style config (eos 49407, first-eos pooling), exact gelu, f16 weights, odd preprocessing.
    pre2 = dict(base_pre, size={"shortest_edge": 72}, crop_size={"height": 64, "width": 64},
                image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    exp, _ = hf_case(
        "tiny-gelu-f16",
        dict(hidden_size=48, intermediate_size=96, num_hidden_layers=3, num_attention_heads=2, hidden_act="gelu"),
        dict(hidden_size=96, intermediate_size=128, num_hidden_layers=2, num_attention_heads=3,
             image_size=64, patch_size=16, hidden_act="gelu"),
        40, 2, torch.float16, full_config, pre2, tok, templates,
    )
    (FIX / "expected" / "tiny-gelu-f16.json").write_text(json.dumps(exp) + "\n")

    # 3. bf16 weights, no preprocessor_config.json (resolution from the vision config), and the
    #    position_ids buffers some hub checkpoints carry.
    model_cfg3 = (
        dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, hidden_act="quick_gelu"),
        dict(hidden_size=48, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=96, patch_size=16),
    )
    extra = {
        "text_model.embeddings.position_ids": torch.arange(77).unsqueeze(0),
        "vision_model.embeddings.position_ids": torch.arange(37).unsqueeze(0),
    }
    exp, _ = hf_case("tiny-bf16", *model_cfg3, 16, 3, torch.bfloat16, full_config, None, tok, templates, extra)
    (FIX / "expected" / "tiny-bf16.json").write_text(json.dumps(exp) + "\n")

    # 4. OpenCLIP layout (packed in_proj, raw proj matrices), open_clip's own preprocessing.
    log("openclip")
    exp = openclip_case(tok, templates)
    (FIX / "expected" / "tiny-openclip.json").write_text(json.dumps(exp) + "\n")

    log("pil shapes")
    pil_shapes()

    log("shapes model reference")
    ref = shapes_model_reference(tok)
    if ref is not None:
        (FIX / "expected" / "shapes_model.json").write_text(json.dumps(ref) + "\n")

    log("training reference")
    (FIX / "expected" / "training.json").write_text(json.dumps(training_reference(tok)) + "\n")

    versions = {m.__name__: m.__version__ for m in (torch, transformers, PIL, np, open_clip, safetensors, skimage)}
    (FIX / "VERSIONS.json").write_text(json.dumps(versions, indent=1) + "\n")
    log("done", versions)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
