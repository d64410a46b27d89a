"""A folder of N real photos of mixed sizes and formats, for `webclip index` benchmarks.

    ~/.cache/refenv/bin/python tests/reference/make_photo_folder.py --out /tmp/photos2000 [--count 2000]

The photos are scikit-image's permissively licensed ones (astronaut, chelsea, coffee, rocket,
motorcycle, cat, …): each output is a random crop (40–100 % of the side), resized to a random
long side of 256–2048 px, mirrored half the time, saved as JPEG (quality 70–95) or, one in five,
PNG — so decoding costs vary as in a real collection. Seeded: the same folder every time.
"""
import argparse
import random
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

NAMES = ["astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "cat", "hubble_deep_field",
         "immunohistochemistry", "retina", "skin", "coins", "camera", "page", "moon"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--count", type=int, default=2000)
    a = ap.parse_args()
    rng = random.Random(0)
    photos = []
    for n in NAMES:
        try:
            x = getattr(data, n)()
        except Exception:
            continue
        if isinstance(x, tuple):
            x = x[0]
        x = np.asarray(x)
        if x.ndim == 2:
            x = np.stack([x] * 3, axis=-1)
        photos.append((n, Image.fromarray(x[..., :3].astype(np.uint8))))
    a.out.mkdir(parents=True, exist_ok=True)
    for i in range(a.count):
        name, im = photos[i % len(photos)]
        w, h = im.size
        f = rng.uniform(0.4, 1.0)
        cw, ch = max(16, int(w * f)), max(16, int(h * rng.uniform(0.4, 1.0)))
        x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
        crop = im.crop((x0, y0, x0 + cw, y0 + ch))
        side = rng.randint(256, 2048)
        s = side / max(cw, ch)
        crop = crop.resize((max(8, int(cw * s)), max(8, int(ch * s))), Image.BILINEAR)
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        sub = a.out / f"{i // 500:02d}"
        sub.mkdir(exist_ok=True)
        if i % 5 == 4:
            crop.save(sub / f"{i:05d}_{name}.png")
        else:
            crop.save(sub / f"{i:05d}_{name}.jpg", quality=rng.randint(70, 95))
    print(f"{a.count} photos from {len(photos)} originals in {a.out}")


if __name__ == "__main__":
    main()
