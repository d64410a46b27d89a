#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets from the repository's fixtures (tests/fixtures).

Run from the repository root: `python3 fuzz/seeds.py OUT` writes OUT/<target>/<seed>; then
`cargo +nightly fuzz cmin <target> OUT/<target>` (or a merge into fuzz/corpus/<target>, see
README.md) keeps the inputs that add coverage. The committed corpus is the minimised result, so
this script only matters when the corpus is rebuilt from scratch.

The fixture checkpoints are megabytes, far above what a fuzzer mutates usefully, so the
safetensors seeds keep each checkpoint's real header (names, dtypes, ranks, metadata) with every
tensor shrunk to a few elements. Images other than the small fixtures are made with ImageMagick
(`convert`, or `$CONVERT`) to cover the formats and pixel layouts the fixtures lack (BMP, TIFF, 16-bit and float,
lossless WebP, progressive JPEG). Standard library only.
"""

import json
import os
import struct
import subprocess
import sys

FIX = "tests/fixtures"


def write(out, target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)


def safetensors_bytes(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes), in file order."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(t[3] for t in tensors)


SIZES = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "U8": 1, "BOOL": 1, "F64": 8, "I32": 4}


def values(dtype, n, start=0):
    if dtype == "F32":
        return b"".join(struct.pack("<f", (start + i) * 0.25 - 1.0) for i in range(n))
    if dtype == "F16":
        return b"".join(struct.pack("<e", (start + i) * 0.25 - 1.0) for i in range(n))
    if dtype == "BF16":
        return b"".join(struct.pack("<f", (start + i) * 0.25 - 1.0)[2:] for i in range(n))
    return bytes((start + i) % 251 for i in range(n * SIZES[dtype]))


def shrink(shape):
    # Keeps the rank; 3 rows so a packed in_proj still splits into q, k and v.
    return [3 if i == 0 else 2 for i in range(len(shape))][:len(shape)]


def safetensors_seeds(out):
    models = {
        "tiny-bf16": "model.safetensors",
        "tiny-gelu-f16": "model.safetensors",
        "tiny-legacy": "model.safetensors",
        "tiny-openclip": "open_clip_model.safetensors",
    }
    for model, file in models.items():
        with open(os.path.join(FIX, "models", model, file), "rb") as f:
            raw = f.read()
        n = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + n])
        meta = header.pop("__metadata__", None)
        tensors = []
        for i, (name, info) in enumerate(sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])):
            shape = shrink(info["shape"])
            count = 1
            for d in shape:
                count *= d
            tensors.append((name, info["dtype"], shape, values(info["dtype"], count, i)))
        write(out, "safetensors", f"{model}.safetensors", safetensors_bytes(tensors, meta))
    small = [
        ("empty_header", [], None),
        ("metadata_only", [], {"format": "pt"}),
        ("f32", [("a", "F32", [4], values("F32", 4))], None),
        ("f16_bf16", [("a", "F16", [2, 2], values("F16", 4)), ("b", "BF16", [3], values("BF16", 3))], None),
        ("i64", [("text_model.embeddings.position_ids", "I64", [1, 3], values("I64", 3)),
                 ("logit_scale", "I64", [], values("I64", 1))], None),
        ("scalar", [("logit_scale", "F32", [], values("F32", 1))], None),
        ("openclip_packed", [("visual.transformer.resblocks.0.attn.in_proj_weight", "F32", [6, 2], values("F32", 12)),
                             ("visual.transformer.resblocks.0.attn.in_proj_bias", "F16", [6], values("F16", 6)),
                             ("visual.proj", "F32", [2, 3], values("F32", 6)),
                             ("logit_scale", "F32", [1], values("F32", 1))], None),
        ("zero_sized", [("text_projection.weight", "F32", [0, 4], b"")], None),
    ]
    for name, tensors, meta in small:
        write(out, "safetensors", f"{name}.safetensors", safetensors_bytes(tensors, meta))


def trainer_state_seeds(out):
    keys = ["logit_scale", "text_model.encoder.layers.0.mlp.fc1.weight", "visual_projection.weight"]
    tensors = []
    for i, key in enumerate(keys):
        n = [1, 6, 4][i]
        tensors.append((f"m.{key}", "F32", [n], values("F32", n, i)))
        tensors.append((f"v.{key}", "F32", [n], values("F32", n, i + 7)))
    write(out, "trainer_state", "state.safetensors",
          safetensors_bytes(sorted(tensors), {"step": "12", "updates": "12"}))
    write(out, "trainer_state", "no_metadata.safetensors", safetensors_bytes(sorted(tensors)[:2]))
    write(out, "trainer_state", "empty.safetensors", safetensors_bytes([], {"step": "0", "updates": "0"}))
    write(out, "trainer_state", "f16.safetensors", safetensors_bytes([("m.a", "F16", [2], values("F16", 2))]))
    write(out, "trainer_state", "bad_step.safetensors", safetensors_bytes([], {"step": "x", "updates": "-1"}))


def config_seeds(out):
    for model in ["tiny-bf16", "tiny-gelu-f16", "tiny-legacy"]:
        d = os.path.join(FIX, "models", model)
        for file in ["config.json", "preprocessor_config.json"]:
            p = os.path.join(d, file)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    write(out, "hf_config", f"{model}_{file}", f.read())
    hf = [
        ("hub_minimal", {"projection_dim": 512, "text_config": {"bos_token_id": 0, "eos_token_id": 2},
                         "text_config_dict": None, "vision_config": {"dropout": 0.0}}),
        ("legacy_dict", {"text_config": {"hidden_size": 256}, "text_config_dict": {"hidden_size": 128},
                         "vision_config_dict": {"image_size": 336, "patch_size": 14}}),
        ("eos_list", {"text_config": {"eos_token_id": [49407, 2], "hidden_act": "gelu"},
                      "vision_config": {"image_size": [64, 48], "patch_size": [16, 8], "hidden_act": "gelu_new"}}),
        ("preprocessor_exact", {"size": {"height": 64, "width": 32}, "do_center_crop": False, "resample": 2,
                                "image_mean": 0.5, "image_std": [0.5, 0.25, 1]}),
        ("preprocessor_ints", {"size": 224, "crop_size": 224, "do_rescale": False, "do_normalize": False}),
        ("not_object", [1, 2]),
    ]
    for name, value in hf:
        write(out, "hf_config", f"{name}.json", json.dumps(value))

    with open(os.path.join(FIX, "models", "tiny-openclip", "open_clip_config.json"), "rb") as f:
        write(out, "open_clip_config", "tiny-openclip.json", f.read())
    oc = [
        ("bare", {"embed_dim": 512, "quick_gelu": True,
                  "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
                  "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}}),
        ("eos_squash", {"model_cfg": {"embed_dim": 32, "vision_cfg": {"image_size": [64, 32], "patch_size": [16, 8],
                                                                      "width": 64, "head_width": 16, "layers": 1,
                                                                      "mlp_ratio": 2.5, "pool_type": "tok"},
                                      "text_cfg": {"pool_type": "eos", "eos_id": 49407, "proj_type": "linear",
                                                   "width": 32, "heads": 4, "layers": 1, "pad_id": 0}},
                        "preprocess_cfg": {"mean": 0.5, "std": [0.5, 0.5, 0.5], "interpolation": "bilinear",
                                           "resize_mode": "squash"}}),
        ("timm", {"embed_dim": 512, "vision_cfg": {"timm_model_name": "convnext", "ls_init_value": 0.0},
                  "text_cfg": {"hf_model_name": None}}),
        ("resnet", {"embed_dim": 1024, "vision_cfg": {"layers": [3, 4, 6, 3]}, "text_cfg": {}}),
    ]
    for name, value in oc:
        write(out, "open_clip_config", f"{name}.json", json.dumps(value))


def image_seeds(out):
    d = os.path.join(FIX, "images")
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        if name.endswith(".md") or os.path.getsize(p) > 40_000:
            continue
        with open(p, "rb") as f:
            write(out, "image", name, f.read())
    src = os.path.join(d, "chelsea.png")
    tmp = os.path.join(out, "image")
    made = [
        ("rgb.bmp", ["-resize", "16x12!"]),
        ("rgba.bmp", ["-resize", "9x7!", "-alpha", "set", "-channel", "A", "-evaluate", "set", "50%"]),
        ("lzw.tiff", ["-resize", "16x12!", "-compress", "lzw"]),
        ("gray16.tiff", ["-resize", "12x9!", "-colorspace", "gray", "-depth", "16"]),
        ("float.tiff", ["-resize", "8x6!", "-define", "quantum:format=floating-point", "-depth", "32"]),
        ("lossless.webp", ["-resize", "16x12!", "-define", "webp:lossless=true"]),
        ("alpha.webp", ["-resize", "16x12!", "-alpha", "set", "-channel", "A", "-evaluate", "set", "40%"]),
        ("progressive.jpg", ["-resize", "24x16!", "-interlace", "JPEG", "-quality", "80"]),
        ("gray.jpg", ["-resize", "16x16!", "-colorspace", "gray"]),
        ("gray16.png", ["-resize", "12x9!", "-colorspace", "gray", "-depth", "16"]),
        ("interlaced.png", ["-resize", "13x11!", "-interlace", "PNG"]),
        ("small.gif", ["-resize", "10x8!", "-colors", "16"]),
    ]
    for name, args in made:
        convert = os.environ.get("CONVERT", "convert")
        subprocess.run([convert, src, *args, os.path.join(tmp, name)], check=True)


def text_seeds(out):
    with open(os.path.join(FIX, "tokens.json"), encoding="utf-8") as f:
        for i, case in enumerate(json.load(f)):
            write(out, "tokenizer", f"text_{i:02}.txt", case["text"])
    with open(os.path.join(FIX, "templates.json"), encoding="utf-8") as f:
        templates = json.load(f)
    write(out, "tokenizer", "templates_cifar.txt", "# cifar\n" + "\n".join(templates["cifar"]) + "\n\n")
    write(out, "tokenizer", "labels.txt", "a {} here\ncat\ndog\n  \ncat\n{} and {}\n")


def tokenizer_json_seeds(out):
    with open(os.path.join(FIX, "tokenizer.json"), encoding="utf-8") as f:
        full = json.load(f)
    # CLIP's vocab is 256 bytes, the same with </w>, then one token per merge in merge order, so
    # a prefix of both is a consistent (smaller) tokenizer. The special tokens get the next ids.
    k = 120
    vocab = {t: i for t, i in full["model"]["vocab"].items() if i < 512 + k}
    start, end = 512 + k, 513 + k
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = start, end
    tiny = dict(full)
    tiny["model"] = dict(full["model"], vocab=vocab, merges=full["model"]["merges"][:k])
    tiny["added_tokens"] = [dict(t, id=start if "start" in t["content"] else end) for t in full["added_tokens"]]
    tiny["post_processor"] = dict(full["post_processor"], sep=["<|endoftext|>", end], cls=["<|startoftext|>", start])
    write(out, "tokenizer_json", "clip_prefix.json", json.dumps(tiny, ensure_ascii=False))
    word_level = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": {"type": "Lowercase"}, "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[S]", "type_id": 0}},
                                                                     {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"[S]": {"id": "[S]", "ids": [0], "tokens": ["[S]"]}}},
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": {"[S]": 0, "[UNK]": 1, "a": 2, "photo": 3, "of": 4, "cat": 5},
                  "unk_token": "[UNK]"},
    }
    write(out, "tokenizer_json", "word_level.json", json.dumps(word_level))


def main():
    out = sys.argv[1]
    safetensors_seeds(out)
    trainer_state_seeds(out)
    config_seeds(out)
    image_seeds(out)
    text_seeds(out)
    tokenizer_json_seeds(out)


if __name__ == "__main__":
    main()
