"""faiss on a `webclip index` folder returns what `webclip search` returns.

    ~/.cache/refenv/bin/python tests/reference/check_index_faiss.py --index INDEX \
        [--webclip target/release/webclip] [--text "a dog" --text "a red circle" ...]

Reads the index the way clip-retrieval / autofaiss do — every `img_emb/img_emb_{k}.npy` with
numpy and `metadata/metadata_{k}.parquet` with pyarrow, in partition order — builds an exact
faiss inner-product index (`IndexFlatIP`; the embeddings are L2-normalised, so inner product is
cosine), embeds each query text with `webclip embed` (the index's model, from index.json), and
checks faiss's top-1 path against `webclip search --top-k 1`. Exit 1 on a mismatch.
"""
import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pyarrow.parquet as pq


def load_index(d: Path):
    part = lambda p: int(re.search(r"_(\d+)\.", p.name).group(1))
    embs = sorted((d / "img_emb").glob("img_emb_*.npy"), key=part)
    metas = sorted((d / "metadata").glob("metadata_*.parquet"), key=part)
    assert [part(p) for p in embs] == [part(p) for p in metas], "embeddings and metadata partitions differ"
    x = [np.load(p).astype(np.float32) for p in embs]
    paths = []
    for p, e in zip(metas, x):
        t = pq.read_table(p)
        assert t.num_rows == e.shape[0], f"{p}: {t.num_rows} rows for {e.shape[0]} embeddings"
        paths += t.column("image_path").to_pylist()
    return np.concatenate(x), paths


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", required=True, type=Path)
    ap.add_argument("--webclip", default=str(Path.home() / ".cache/webclip/target/release/webclip"))
    ap.add_argument("--text", action="append", default=None)
    a = ap.parse_args()
    texts = a.text or ["a photo of a cat", "a red circle", "an astronaut", "a cup of coffee"]
    info = json.loads((a.index / "index.json").read_text())
    x, paths = load_index(a.index)
    norms = np.linalg.norm(x, axis=1)
    assert np.allclose(norms, 1, atol=2e-3), f"embeddings not L2-normalised: {norms.min()}..{norms.max()}"
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    out = subprocess.run(
        [a.webclip, "-q", "--device", "cpu", "embed", "--model", info["model_path"], "--json"]
        + sum((["--text", t] for t in texts), []),
        check=True, capture_output=True, text=True).stdout
    q = np.array(json.loads(out)["text_embeds"], dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    scores, ids = index.search(q, 1)
    bad = 0
    for t, s, i in zip(texts, scores[:, 0], ids[:, 0]):
        hit = json.loads(subprocess.run(
            [a.webclip, "-q", "--device", "cpu", "search", "--index", str(a.index), "--text", t, "--top-k", "1",
             "--json"], check=True, capture_output=True, text=True).stdout)[0]
        same = hit["image_path"] == paths[i]
        bad += not same
        print(f"{'ok ' if same else 'BAD'} {t!r}: faiss {paths[i]} ({s:.4f}), webclip {hit['image_path']} ({hit['score']:.4f})")
    print(f"{len(paths)} embeddings, dim {x.shape[1]}, {len(texts) - bad}/{len(texts)} top-1 agree")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
