#!/usr/bin/env python3
"""A full-size checkpoint folder with random weights, as transformers writes it, for load-time
and memory measurements (`./build.sh bench-gpu`, the page's streaming figures in the README).
Nothing here is a test fixture: the folders are hundreds of MB to GB and are made when needed.

    python tests/reference/make_random.py --arch vit-b32|vit-l14|siglip-b16 OUT_DIR

Writes `model.safetensors` (f32), `config.json`, and the repo's fixture tokenizer (CLIP's real
BPE vocab for CLIP; the small multilingual fixture tokenizer for SigLIP, whose ids all fall inside
SigLIP's 32k vocabulary). Seeded: the same command writes the same weights.
"""

import argparse
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="vit-b32", choices=["vit-b32", "vit-l14", "siglip-b16"])
    ap.add_argument("out")
    a = ap.parse_args()

    import torch
    from transformers import CLIPConfig, CLIPModel, SiglipConfig, SiglipModel

    torch.manual_seed(0)
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    ids = dict(bos_token_id=49406, eos_token_id=49407, pad_token_id=1)
    if a.arch == "vit-b32":
        model = CLIPModel(CLIPConfig(text_config=ids, vision_config={}, projection_dim=512))
    elif a.arch == "vit-l14":
        model = CLIPModel(
            CLIPConfig(
                text_config=dict(ids, hidden_size=768, intermediate_size=3072, num_attention_heads=12),
                vision_config=dict(
                    hidden_size=1024, intermediate_size=4096, num_attention_heads=16, num_hidden_layers=24,
                    patch_size=14,
                ),
                projection_dim=768,
            )
        )
    else:
        model = SiglipModel(SiglipConfig())
    model.eval().save_pretrained(out, safe_serialization=True)
    if a.arch.startswith("siglip"):
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(FIXTURES / "siglip" / f, out / f)
    else:
        shutil.copy(FIXTURES / "tokenizer.json", out / "tokenizer.json")
    size = (out / "model.safetensors").stat().st_size
    print(f"{out}: {a.arch}, model.safetensors {size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
