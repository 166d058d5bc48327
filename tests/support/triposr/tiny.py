"""Make a tiny random-weight TripoSR checkpoint with the runner's own modules (TripoSR venv only).

    <triposr python> tiny.py OUT_DIR IMAGE [--resolution N] [--threshold T]

Writes OUT_DIR/config.yaml (the published `*_cls` names, small sizes) and OUT_DIR/model.ckpt
(`torch.save(state_dict)`, as upstream's). The weights are random with one exception: the
decoder's density bias is shifted so that, for IMAGE, the threshold falls at the median of the
density grid — random weights otherwise give no surface at all, and the test must get a mesh out
of the real meshing code. Also writes OUT_DIR/evil.ckpt, a torch pickle whose unpickling would run
code (creating OUT_DIR/pwned), for the weights_only test. Prints the checkpoint's sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
from pathlib import Path
import sys

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "addons/jarvis/jarvis_addon/cad"))
import triposr_runner as runner

TINY = {
    "cond_image_size": 32,
    "image_tokenizer_cls": runner.ALLOWED_CLASSES["image_tokenizer_cls"],
    "image_tokenizer": {
        "pretrained_model_name_or_path": "facebook/dino-vitb16",
        "vit_config": {
            "hidden_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "image_size": 32,
            "patch_size": 16,
            "qkv_bias": True,
        },
    },
    "tokenizer_cls": runner.ALLOWED_CLASSES["tokenizer_cls"],
    "tokenizer": {"plane_size": 8, "num_channels": 32},
    "backbone_cls": runner.ALLOWED_CLASSES["backbone_cls"],
    "backbone": {
        "in_channels": "${tokenizer.num_channels}",
        "num_attention_heads": 2,
        "attention_head_dim": 16,
        "num_layers": 1,
        "norm_num_groups": 8,
        "cross_attention_dim": 32,
    },
    "post_processor_cls": runner.ALLOWED_CLASSES["post_processor_cls"],
    "post_processor": {"in_channels": "${tokenizer.num_channels}", "out_channels": 8},
    "decoder_cls": runner.ALLOWED_CLASSES["decoder_cls"],
    "decoder": {"in_channels": 24, "n_neurons": 16, "n_hidden_layers": 2, "activation": "silu"},
    "renderer_cls": runner.ALLOWED_CLASSES["renderer_cls"],
    "renderer": {
        "radius": 0.87,
        "feature_reduction": "concat",
        "density_activation": "trunc_exp",
        "density_bias": -1.0,
        "num_samples_per_ray": 16,
    },
}


class Evil:
    """Unpickling this creates a file: what weights_only=True must refuse."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("image", type=Path)
    parser.add_argument("--resolution", type=int, default=24)
    parser.add_argument("--threshold", type=float, default=25.0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = runner._resolve(TINY, TINY)
    model = runner.TSR(cfg).eval()
    image, _ = runner.load_image(args.image, model.cond_image_size)
    with torch.no_grad():
        code = model(image)[0]
        r = model.renderer.radius
        axis = torch.linspace(-r, r, args.resolution)
        grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
        density, _ = model.renderer.query(model.decoder, grid, code)
        # exp(raw + b) == threshold at the median: shift b by log(threshold / median).
        model.decoder.layers[-1].bias[0] += math.log(args.threshold / float(density.median()))
    (args.out / "config.yaml").write_text(yaml.safe_dump(TINY, sort_keys=False))
    ckpt = args.out / "model.ckpt"
    torch.save(model.state_dict(), ckpt)
    torch.save(
        {"weights": torch.zeros(1), "payload": Evil(str(args.out / "pwned"))},
        args.out / "evil.ckpt",
    )
    sys.stdout.write(hashlib.sha256(ckpt.read_bytes()).hexdigest() + "\n")


if __name__ == "__main__":
    main()
