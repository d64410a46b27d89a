#!/usr/bin/env python3
"""HF transformers on a folder the browser trainer exported (tests/e2e/train.test.mjs).

The browser test fine-tunes the tiny-legacy fixture for 8 steps on the CPU backend in a worker
(deterministic: no dropout, fixed data order), exports the HF folder and, with
WEBCLIP_KEEP_EXPORT=DIR, writes it to DIR. This script loads that folder with
`CLIPModel.from_pretrained` and `CLIPProcessor`'s pieces and writes the embeddings of the test's
photos and captions to tests/fixtures/expected/page_export.json; the browser test then checks
that the page's embeddings of its own export equal transformers' (and so that the export is a
folder transformers loads and reads the same way).

    WEBCLIP_KEEP_EXPORT=/tmp/page-export node --test tests/e2e/train.test.mjs
    ~/.cache/refenv/bin/python tests/reference/check_export.py /tmp/page-export
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from PIL import Image
from transformers import CLIPModel, PreTrainedTokenizerFast
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "horse.png"]
TEXTS = ["a photo of a cat.", "a cup of coffee.", "an astronaut in a white space suit.", "a brown horse in a field."]


def main() -> None:
    folder = Path(sys.argv[1])
    model = CLIPModel.from_pretrained(folder, torch_dtype=torch.float32).eval()
    proc = CLIPImageProcessorPil.from_pretrained(folder)
    tok = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    images = [Image.open(ROOT / "tests/fixtures/images" / p).convert("RGB") for p in PHOTOS]
    with torch.no_grad():
        pix = proc(images=images, return_tensors="pt")["pixel_values"]
        img = model.get_image_features(pixel_values=pix).pooler_output
        ids = [tok(t)["input_ids"] for t in TEXTS]
        txt = torch.cat([model.get_text_features(input_ids=torch.tensor([i])).pooler_output for i in ids])
    out = {
        "source": "tests/e2e/train.test.mjs: tiny-legacy fine-tuned 8 steps in the page (CPU, worker), exported",
        "photos": PHOTOS,
        "texts": TEXTS,
        "image_embeds": img.tolist(),
        "text_embeds": txt.tolist(),
        "logit_scale": float(model.logit_scale),
    }
    dest = ROOT / "tests/fixtures/expected/page_export.json"
    dest.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
