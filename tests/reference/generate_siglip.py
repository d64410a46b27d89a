#!/usr/bin/env python3
"""Generate webclip's SigLIP parity fixtures from the reference implementation.

HF transformers (SiglipModel, SiglipImageProcessorPil, the fast tokenizer) and the tokenizers
library are the reference. Writes into tests/fixtures/:

  siglip/tokenizer.json         a multilingual SentencePiece-style BPE tokenizer (Metaspace,
                                byte fallback, `$A <eos>`), trained here with the tokenizers
                                library on the text below (English, Korean, Japanese, Chinese,
                                Spanish, Russian, Arabic, emoji): real SigLIP vocabularies are not
                                redistributable from here, and the code path is the same
  siglip/tokenizer_config.json  its pad token, as HF folders carry it
  models/siglip-*/              small random SiglipModel checkpoints (f32 full config; bf16
                                minimal config with a bilinear hub-style processor)
  expected/siglip-*.json        ids (padded to 64 as the processor pads), embeddings
                                (get_image_features / get_text_features), sigmoid zero-shot
                                probabilities with template ensembling
  expected/siglip_training.json the sigmoid loss, raw gradients and parameters after three
                                AdamW steps (OpenCLIP's recipe, as training.json for CLIP) on
                                siglip-tiny (two modes) and on tiny-legacy (CLIP) given a bias
  expected/siglip_shapes.json   every key and shape of SigLIP B/16 and SigLIP 2 B/16 (vocab
                                256000) as transformers builds them (on the meta device: no
                                weights), for the architecture test of the full-size models

Run from the repository root (after generate.py, whose photos it reads):

    ~/.cache/refenv/bin/python tests/reference/generate_siglip.py
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, SiglipConfig, SiglipModel
from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

sys.path.insert(0, str(Path(__file__).parent))
from generate import FIX, l2n, log, parity_images, pil_open  # noqa: E402

SIG = FIX / "siglip"
CONTEXT = 64

# Training text for the tokenizer (written for this file; several scripts so that merges exist
# in each, and characters outside it fall back to bytes).
CORPUS = """
a photo of a cat. a photo of a dog. a photo of an astronaut. a cup of coffee. a rocket launch.
a horse in a field. the quick brown fox jumps over the lazy dog. a black and white photo.
a blurry photo of the small cat. a good photo of the big dog. an astronaut in a white suit.
고양이 사진. 강아지 사진. 우주비행사의 사진. 커피 한 잔. 로켓 발사. 들판의 말.
이것은 고양이의 사진입니다. 이것은 강아지의 사진입니다. 흑백 사진. 작은 고양이. 큰 개.
猫の写真。犬の写真。宇宙飛行士の写真。一杯のコーヒー。ロケットの打ち上げ。野原の馬。
これは猫の写真です。これは犬の写真です。白黒写真。小さな猫。大きな犬。
猫的照片。狗的照片。宇航员的照片。一杯咖啡。火箭发射。田野里的马。这是一张猫的照片。
una foto de un gato. una foto de un perro. una foto de un astronauta. una taza de café.
el lanzamiento de un cohete. un caballo en el campo. una foto en blanco y negro.
фотография кошки. фотография собаки. чашка кофе. запуск ракеты. лошадь в поле.
صورة قطة. صورة كلب. فنجان قهوة. إطلاق صاروخ. حصان في الحقل.
🐱 🐶 🚀 ☕ 🐴 👩‍🚀 emoji 😀
"""

TEXTS = [
    "a photo of a cat.",
    "고양이 사진",
    "이것은 강아지의 사진입니다.",
    "猫の写真です",
    "一杯咖啡",
    "una foto de un caballo",
    "emoji 🐱🚀 test 👩‍🚀",
    "Ünïcödé ﬁ ligature ＦＵＬＬ width",
    "",
    ("the quick brown fox jumps over the lazy dog. " * 230)[:10_000],
]
LABELS = ["cat", "dog", "astronaut", "coffee", "rocket launch", "horse", "고양이", "강아지"]
TEMPLATES = {
    "default": ["a photo of a {}."],
    "ko": ["{}의 사진", "{} 사진", "이것은 {}의 사진입니다."],
}


def build_tokenizer() -> Path:
    SIG.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace()])
    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    trainer = trainers.BpeTrainer(vocab_size=1200, special_tokens=specials, min_frequency=1, show_progress=False)
    tok.train_from_iterator([line for line in CORPUS.splitlines() if line.strip()] * 3, trainer)
    # Byte-fallback pieces, as SentencePiece vocabularies (Gemma's) hold them.
    data = json.loads(tok.to_str())
    vocab = data["model"]["vocab"]
    for b in range(256):
        piece = f"<0x{b:02X}>"
        if piece not in vocab:
            vocab[piece] = len(vocab)
    tok = Tokenizer.from_str(json.dumps(data))
    tok.post_processor = processors.TemplateProcessing(
        single="$A <eos>", pair="$A <eos> $B <eos>", special_tokens=[("<eos>", tok.token_to_id("<eos>"))]
    )
    path = SIG / "tokenizer.json"
    tok.save(str(path))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "pad_token": "<pad>",
        "eos_token": "<eos>",
        "bos_token": "<bos>",
        "unk_token": "<unk>",
        "model_max_length": CONTEXT,
    }
    (SIG / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    log("tokenizer vocab", tok.get_vocab_size())
    return path


def link(out: Path, name: str):
    p = out / name
    if p.exists() or p.is_symlink():
        p.unlink()
    p.symlink_to(os.path.relpath(SIG / name, out))


def siglip_model(text: dict, vision: dict, seed: int) -> SiglipModel:
    torch.manual_seed(seed)
    model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision)).eval()
    # As for CLIP (generate.py): perturb every parameter so that a swapped bias, a missing gain,
    # a transposed matrix or a wrong q|k|v split changes the numbers.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                p.fill_(math.log(100.0))  # trained SigLIPs sit near here (exp ≈ 100–120)
            elif name == "logit_bias":
                p.fill_(0.0)  # set per model below
            elif p.ndim == 1:
                base = 1.0 if "norm" in name else 0.0
                p.copy_(base + 0.1 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) * (0.6 / math.sqrt(p.shape[-1])))
    return model


def sigmoid_zero_shot(img, encode_text, labels, templates, scale, bias):
    cols = []
    for label in labels:
        e = l2n(encode_text([t.replace("{}", label) for t in templates]))
        cols.append(l2n(e.mean(0)))
    w = torch.stack(cols)
    return torch.sigmoid(math.exp(scale) * l2n(img) @ w.T + bias)


def case(name, text, vision, seed, dtype, config_fn, pre, tok):
    model = siglip_model(text, vision, seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).to(torch.float32))
    kw = {k: v for k, v in pre.items() if k not in ("image_processor_type", "processor_class")}
    proc = SiglipImageProcessorPil(**kw)
    images = parity_images()

    def enc_txt(texts):
        batch = tok(texts, padding="max_length", max_length=CONTEXT, truncation=True, return_tensors="pt")
        return model.get_text_features(input_ids=batch["input_ids"]).pooler_output

    with torch.no_grad():
        pix = torch.stack([torch.from_numpy(proc(pil_open(FIX / "images" / f), return_tensors="np")["pixel_values"][0])
                           for f in images])
        img = model.get_image_features(pixel_values=pix).pooler_output
        # Random towers put every image near the same labels; a bias at minus the median scaled
        # similarity spreads the sigmoid probabilities over (0, 1) so that the test sees them.
        w = l2n(enc_txt([f"a photo of a {l}." for l in LABELS]))
        cos = l2n(img) @ w.T
        bias = -float(model.logit_scale.exp()[0]) * float(cos.median())
        model.logit_bias.fill_(bias)
        model.logit_bias.copy_(model.logit_bias.to(dtype).to(torch.float32))
    scale, bias = float(model.logit_scale.detach()[0]), float(model.logit_bias.detach()[0])

    out = FIX / "models" / name
    out.mkdir(parents=True, exist_ok=True)
    import safetensors.torch

    sd = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(sd, out / "model.safetensors", metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(config_fn(model.config), indent=2) + "\n")
    (out / "preprocessor_config.json").write_text(json.dumps(pre, indent=2) + "\n")
    link(out, "tokenizer.json")
    link(out, "tokenizer_config.json")

    with torch.no_grad():
        txt = enc_txt(TEXTS)
        zs = {k: sigmoid_zero_shot(img, enc_txt, LABELS, t, scale, bias).tolist() for k, t in TEMPLATES.items()}
        # The same numbers the way SiglipModel scores one prompt per label (no ensembling).
        prompts = [f"a photo of a {l}." for l in LABELS]
        ids = tok(prompts, padding="max_length", max_length=CONTEXT, truncation=True, return_tensors="pt")
        logits = model(input_ids=ids["input_ids"], pixel_values=pix).logits_per_image
        direct = torch.sigmoid(logits).tolist()
    ids = tok(TEXTS, padding="max_length", max_length=CONTEXT, truncation=True)["input_ids"]
    return {
        "model": name,
        "logit_scale": scale,
        "logit_bias": bias,
        "images": images,
        "pixel_chelsea": pix[images.index("chelsea.png")].flatten()[:64].tolist(),
        "image_embeds": img.tolist(),
        "texts": TEXTS,
        "text_ids": ids,
        "text_ids_unpadded": [tok(t, truncation=True, max_length=CONTEXT)["input_ids"] for t in TEXTS],
        "text_embeds": txt.tolist(),
        "labels": LABELS,
        "templates": TEMPLATES,
        "zeroshot": zs,
        "zeroshot_direct": direct,
    }


def shapes():
    out = {}
    for name, cfg in [
        ("siglip-base-patch16-224", SiglipConfig()),
        ("siglip2-base-patch16-224", SiglipConfig(text_config={"vocab_size": 256000})),
    ]:
        with torch.device("meta"):
            m = SiglipModel(cfg)
        out[name] = {k: list(v.shape) for k, v in m.state_dict().items()}
    return out


TRAIN_FILES = ["chelsea.png", "coffee.png", "astronaut.png", "horse.png"]
TRAIN_TEXTS = ["a photo of a cat", "커피 한 잔", "宇宙飛行士の写真", "un caballo"]
TRAIN_HP = dict(lr=1e-3, weight_decay=0.2, beta1=0.9, beta2=0.98, eps=1e-6, warmup=1, steps=3, grad_clip=1.0)
SIGLIP_WATCH = [
    "logit_scale",
    "logit_bias",
    "text_model.head.weight",
    "text_model.final_layer_norm.bias",
    "vision_model.head.probe",
    "vision_model.head.attention.in_proj_weight",
    "vision_model.head.attention.out_proj.bias",
    "vision_model.head.mlp.fc1.bias",
    "vision_model.embeddings.patch_embedding.bias",
    "vision_model.post_layernorm.weight",
    "text_model.encoder.layers.1.self_attn.q_proj.weight",
]
CLIP_WATCH = ["logit_scale", "visual_projection.weight", "text_projection.weight"]


def sigmoid_loss(img, txt, scale, bias):
    """SigLIP's loss written out (HF SiglipModel's, the paper's)."""
    logits = l2n(txt) @ l2n(img).T * scale.exp() + bias
    z = 2 * torch.eye(len(img)) - 1
    return -torch.nn.functional.logsigmoid(z * logits).sum() / len(img)


def siglip_trains(mode, key):
    if mode == "all":
        return True
    return key.startswith(("vision_model.head.", "text_model.head.")) or key in ("logit_scale", "logit_bias")


def training_reference(tok):
    from generate import CLIPImageProcessorPil, CLIPModel, build_tokenizer, cosine_lr  # noqa: F401
    from transformers import CLIPTokenizerFast

    hp = TRAIN_HP
    out = {"files": TRAIN_FILES, "texts": TRAIN_TEXTS, "hyper": hp, "cases": {}}
    imgs = [pil_open(FIX / "images" / f) for f in TRAIN_FILES]
    sdir = FIX / "models" / "siglip-tiny"
    cdir = FIX / "models" / "tiny-legacy"
    for case_name in ["siglip:all", "siglip:projections", "clip-sigmoid:all"]:
        kind, mode = case_name.split(":")
        if kind == "siglip":
            model = SiglipModel.from_pretrained(sdir).eval()
            pixels = torch.from_numpy(SiglipImageProcessorPil.from_pretrained(sdir)(imgs, return_tensors="np")["pixel_values"])
            ids = tok(TRAIN_TEXTS, padding="max_length", max_length=CONTEXT, truncation=True, return_tensors="pt")["input_ids"]
            bias = model.logit_bias
            watch = SIGLIP_WATCH

            def features():
                return (model.get_image_features(pixel_values=pixels).pooler_output,
                        model.get_text_features(input_ids=ids).pooler_output)
        else:
            model = CLIPModel.from_pretrained(cdir).eval()
            pixels = torch.from_numpy(CLIPImageProcessorPil.from_pretrained(cdir)(imgs, return_tensors="np")["pixel_values"])
            ctok = CLIPTokenizerFast(tokenizer_file=str(FIX / "tokenizer.json"))
            batch = ctok(TRAIN_TEXTS, padding=True, return_tensors="pt")
            bias = torch.nn.Parameter(torch.tensor([-10.0]))  # webclip's SIGMOID_BIAS_INIT
            watch = CLIP_WATCH

            def features():
                return (model.get_image_features(pixel_values=pixels).pooler_output,
                        model.get_text_features(input_ids=batch["input_ids"],
                                                attention_mask=batch["attention_mask"]).pooler_output)
        named = dict(model.named_parameters())
        if kind != "siglip":
            named["logit_bias"] = bias
        for k, p in named.items():
            p.requires_grad_(siglip_trains(mode, k))
        decay = [p for k, p in named.items() if p.requires_grad and p.ndim >= 2]
        no_decay = [p for k, p in named.items() if p.requires_grad and p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": hp["weight_decay"]},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"])
        case = {"losses": [], "lrs": [], "grad_norms": [], "logit_bias": [], "logit_scale": []}
        for step in range(hp["steps"]):
            lr = cosine_lr(hp["lr"], step, hp["warmup"], hp["steps"])
            for g in opt.param_groups:
                g["lr"] = lr
            img, txt = features()
            loss = sigmoid_loss(img, txt, model.logit_scale, bias)
            if kind == "siglip" and step == 0:
                hf = model(input_ids=ids, pixel_values=pixels, return_loss=True).loss
                assert abs(hf.item() - loss.item()) < 1e-5 * abs(hf.item()), (hf.item(), loss.item())
            opt.zero_grad()
            loss.backward()
            if step == 0:
                case["grads"] = {k: named[k].grad.flatten().tolist() for k in watch if named[k].grad is not None}
            norm = torch.nn.utils.clip_grad_norm_([p for p in named.values() if p.requires_grad], hp["grad_clip"])
            opt.step()
            if kind != "siglip":
                with torch.no_grad():
                    model.logit_scale.clamp_(0, math.log(100))
            case["losses"].append(loss.item())
            case["lrs"].append(lr)
            case["grad_norms"].append(norm.item())
            case["logit_bias"].append(float(bias.detach()[0]))
            case["logit_scale"].append(float(model.logit_scale.detach().flatten()[0]))
        case["params"] = {k: named[k].detach().flatten().tolist() for k in watch if k != "logit_bias" or kind == "siglip"}
        out["cases"][case_name] = case
    return out


def main():
    tok_path = build_tokenizer()
    tok = AutoTokenizer.from_pretrained(SIG)
    assert tok.pad_token == "<pad>", tok.pad_token
    vocab = Tokenizer.from_file(str(tok_path)).get_vocab_size()

    pre = {"do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
           "image_processor_type": "SiglipImageProcessor", "image_std": [0.5, 0.5, 0.5],
           "processor_class": "SiglipProcessor", "resample": 3, "rescale_factor": 0.00392156862745098,
           "size": {"height": 48, "width": 48}}
    exp = case(
        "siglip-tiny",
        dict(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
             projection_size=48),
        dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, image_size=48,
             patch_size=16),
        11, torch.float32, lambda c: c.to_dict(), pre, tok,
    )
    (FIX / "expected" / "siglip-tiny.json").write_text(json.dumps(exp, ensure_ascii=False) + "\n")

    def minimal(c):
        t, v = c.text_config, c.vision_config
        return {
            "architectures": ["SiglipModel"],
            "model_type": "siglip",
            "text_config": {"model_type": "siglip_text_model", "vocab_size": t.vocab_size,
                            "hidden_size": t.hidden_size, "intermediate_size": t.intermediate_size,
                            "num_hidden_layers": t.num_hidden_layers, "num_attention_heads": t.num_attention_heads},
            "vision_config": {"model_type": "siglip_vision_model", "hidden_size": v.hidden_size,
                              "intermediate_size": v.intermediate_size, "num_hidden_layers": v.num_hidden_layers,
                              "num_attention_heads": v.num_attention_heads, "image_size": v.image_size,
                              "patch_size": v.patch_size},
        }

    pre2 = dict(pre, resample=2, size={"height": 64, "width": 64})
    exp = case(
        "siglip-min-bf16",
        dict(vocab_size=vocab, hidden_size=40, intermediate_size=80, num_hidden_layers=3, num_attention_heads=5),
        dict(hidden_size=40, intermediate_size=72, num_hidden_layers=2, num_attention_heads=2, image_size=64,
             patch_size=16),
        12, torch.bfloat16, minimal, pre2, tok,
    )
    (FIX / "expected" / "siglip-min-bf16.json").write_text(json.dumps(exp, ensure_ascii=False) + "\n")

    (FIX / "expected" / "siglip_shapes.json").write_text(json.dumps(shapes()) + "\n")
    log("siglip training reference")
    (FIX / "expected" / "siglip_training.json").write_text(json.dumps(training_reference(tok), ensure_ascii=False) + "\n")
    log("siglip done")


if __name__ == "__main__":
    main()
