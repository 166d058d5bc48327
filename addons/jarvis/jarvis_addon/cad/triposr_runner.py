# Module constructors take the config sections' keys as they are (upstream's names), so: no
# __init__ docstrings, and as many arguments as the config has. F is torch's own convention.
# ruff: noqa: D107, PLR0917, N812
"""TripoSR image → mesh, our own implementation of the published architecture (runs in .venv-triposr).

TripoSR (Stability AI / Tripo AI, MIT; arXiv 2403.02151) is an LRM: a DINO ViT-B/16 turns the
image into tokens; learned triplane tokens (3 planes of `plane_size`² cells) go through a 1D
transformer that cross-attends to the image tokens; a transposed convolution doubles the planes'
resolution; a NeRF MLP decodes the concatenated plane features at a 3D point into density and
colour. The mesh is marching cubes on a density grid. Module and parameter names follow TripoSR's
`config.yaml` and `model.ckpt` layout (a plain state dict), so published weights load with
`strict=True`. The upstream code is not used or copied.

This file is standalone (torch, transformers<5, einops, PyYAML, scikit-image, trimesh, Pillow,
numpy; no jarvis_addon imports), because the add-on's own venv has no CPU torch: the add-on runs
`<triposr python> triposr_runner.py`, one JSON request on stdin, one JSON answer as the last line
of stdout: `{"ok": true, ...}` or `{"ok": false, "error": <code>, "message": ...}`.

Safety: `*_cls` names in the config are matched against an allow-list (never imported); the
checkpoint's sha256 must equal the configured value before it is read; it is read with
`torch.load(weights_only=True)` (no code objects) or safetensors; nothing is downloaded (the ViT is
built from a config, `HF_HUB_OFFLINE=1`). rembg is not used: background removal is skipped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
import re
import sys
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

# Config `*_cls` values TripoSR publishes, and the only ones accepted.
ALLOWED_CLASSES: dict[str, str] = {
    "image_tokenizer_cls": "tsr.models.tokenizers.image.DINOSingleImageTokenizer",
    "tokenizer_cls": "tsr.models.tokenizers.triplane.Triplane1DTokenizer",
    "backbone_cls": "tsr.models.transformer.transformer_1d.Transformer1D",
    "post_processor_cls": "tsr.models.network_utils.TriplaneUpsampleNetwork",
    "decoder_cls": "tsr.models.network_utils.NeRFMLP",
    "renderer_cls": "tsr.models.nerf_renderer.TriplaneNeRFRenderer",
}
# facebook/dino-vitb16's config.json (what upstream downloads from the hub; here it is data).
DINO_VITB16: dict[str, Any] = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "image_size": 224,
    "patch_size": 16,
    "num_channels": 3,
    "qkv_bias": True,
}
CHUNK = 8192  # points per decoder call when querying the density grid


class RunnerError(Exception):
    """A failure with a stable code the add-on maps to its typed errors."""

    def __init__(self, code: str, message: str) -> None:
        """Code: weights_missing | weights_invalid | config_invalid | image_invalid | ..."""
        super().__init__(message)
        self.code = code


# --- config -----------------------------------------------------------------------------------


def _resolve(node: Any, root: dict[str, Any]) -> Any:
    """OmegaConf-style `${a.b}` interpolation (the only feature TripoSR's config uses)."""
    if isinstance(node, dict):
        return {k: _resolve(v, root) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, root) for v in node]
    if isinstance(node, str) and (m := re.fullmatch(r"\$\{([\w.]+)\}", node.strip())):
        value: Any = root
        for part in m.group(1).split("."):
            if not isinstance(value, dict) or part not in value:
                raise RunnerError("config_invalid", f"config: cannot resolve {node}")
            value = value[part]
        return _resolve(value, root)
    return node


def load_config(path: Path) -> dict[str, Any]:
    """Read config.yaml and check every `*_cls` against the allow-list."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise RunnerError("config_invalid", f"cannot read {path.name}: {err}") from None
    if not isinstance(raw, dict):
        raise RunnerError("config_invalid", f"{path.name} is not a mapping")
    cfg: dict[str, Any] = _resolve(raw, raw)
    for key, allowed in ALLOWED_CLASSES.items():
        if cfg.get(key) != allowed:
            raise RunnerError(
                "config_invalid", f"{path.name}: {key} must be {allowed}, not {cfg.get(key)!r}"
            )
        if not isinstance(cfg.get(key.removesuffix("_cls")), dict):
            raise RunnerError("config_invalid", f"{path.name}: section {key[:-4]} is missing")
    extra = sorted(k for k in cfg if k.endswith("_cls") and k not in ALLOWED_CLASSES)
    if extra:
        raise RunnerError("config_invalid", f"{path.name}: unknown class entries {extra}")
    return cfg


def _section(cfg: dict[str, Any], name: str, defaults: dict[str, Any]) -> dict[str, Any]:
    given = dict(cfg[name])
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise RunnerError("config_invalid", f"config: unknown {name} keys {unknown}")
    return {**defaults, **given}


# --- modules (names as in TripoSR's state dict) -------------------------------------------------


class DINOSingleImageTokenizer(nn.Module):
    """ViT (DINO ViT-B/16 in the published model) → patch tokens, channels first."""

    def __init__(
        self,
        pretrained_model_name_or_path: str,
        vit_config: dict[str, Any] | None,
        enable_gradient_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        from transformers import ViTConfig, ViTModel

        if vit_config is None:
            if pretrained_model_name_or_path != "facebook/dino-vitb16":
                raise RunnerError(
                    "config_invalid",
                    f"image tokenizer {pretrained_model_name_or_path!r} is not known offline; "
                    "give image_tokenizer.vit_config",
                )
            vit_config = DINO_VITB16
        self.model = ViTModel(ViTConfig(**vit_config))  # type: ignore[no-untyped-call]
        # Non-persistent buffers, as upstream: not in the state dict.
        self.image_mean: torch.Tensor
        self.image_std: torch.Tensor
        self.register_buffer(
            "image_mean",
            torch.tensor([0.485, 0.456, 0.406]).reshape(1, 1, 3, 1, 1),
            persistent=False,
        )
        self.register_buffer(
            "image_std",
            torch.tensor([0.229, 0.224, 0.225]).reshape(1, 1, 3, 1, 1),
            persistent=False,
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, N, C, H, W) in [0, 1] → (B, N, hidden, tokens)."""
        batch, views = images.shape[:2]
        images = (images - self.image_mean) / self.image_std
        out = self.model(images.flatten(0, 1), interpolate_pos_encoding=True)
        local: torch.Tensor = out.last_hidden_state.permute(0, 2, 1)
        return local.reshape(batch, views, *local.shape[1:])


class Triplane1DTokenizer(nn.Module):
    """Learned triplane embeddings, flattened to one token sequence."""

    def __init__(self, plane_size: int, num_channels: int) -> None:
        super().__init__()
        self.plane_size = plane_size
        self.num_channels = num_channels
        self.embeddings = nn.Parameter(
            torch.randn(3, num_channels, plane_size, plane_size) / math.sqrt(num_channels)
        )

    def forward(self, batch_size: int) -> torch.Tensor:
        """(B, C, 3·P·P)."""
        tokens = self.embeddings.flatten(2).permute(1, 0, 2).reshape(self.num_channels, -1)
        return tokens.unsqueeze(0).expand(batch_size, -1, -1)

    def detokenize(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, C, 3·P·P) → (B, 3, C, P, P)."""
        batch, channels, count = tokens.shape
        p = self.plane_size
        if count != 3 * p * p or channels != self.num_channels:
            raise RunnerError("model_error", f"backbone gave {tuple(tokens.shape)} tokens")
        return tokens.reshape(batch, channels, 3, p, p).permute(0, 2, 1, 3, 4)


class Attention(nn.Module):
    """Multi-head (cross-)attention with to_q/to_k/to_v/to_out.0 projections."""

    def __init__(
        self, query_dim: int, heads: int, dim_head: int, cross_attention_dim: int | None, bias: bool
    ) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_q = nn.Linear(query_dim, inner, bias=bias)
        self.to_k = nn.Linear(cross_attention_dim or query_dim, inner, bias=bias)
        self.to_v = nn.Linear(cross_attention_dim or query_dim, inner, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(inner, query_dim), nn.Dropout(0.0)])

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """X (B, N, D), context (B, M, Dc) or None for self-attention."""
        ctx = x if context is None else context
        b = x.shape[0]

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, t.shape[1], self.heads, -1).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            heads(self.to_q(x)), heads(self.to_k(ctx)), heads(self.to_v(ctx))
        )
        out = out.transpose(1, 2).reshape(b, x.shape[1], -1)
        return self.to_out[1](self.to_out[0](out))  # type: ignore[no-any-return]


class GEGLU(nn.Module):
    """Gated GELU: one projection to twice the width, half of it gates the other."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Project and gate."""
        hidden, gate = self.proj(x).chunk(2, dim=-1)
        out: torch.Tensor = hidden * F.gelu(gate)
        return out


class FeedForward(nn.Module):
    """GEGLU → dropout → linear (`net.0`, `net.2` in the state dict)."""

    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.net = nn.ModuleList(
            [GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the three layers."""
        for layer in self.net:
            x = layer(x)
        return x


class BasicTransformerBlock(nn.Module):
    """Pre-norm self-attention, cross-attention to the image tokens, feed-forward."""

    def __init__(
        self,
        dim: int,
        heads: int,
        dim_head: int,
        cross_attention_dim: int | None,
        attention_bias: bool,
        norm_elementwise_affine: bool,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=norm_elementwise_affine)
        self.attn1 = Attention(dim, heads, dim_head, None, attention_bias)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=norm_elementwise_affine)
        self.attn2 = Attention(dim, heads, dim_head, cross_attention_dim, attention_bias)
        self.norm3 = nn.LayerNorm(dim, elementwise_affine=norm_elementwise_affine)
        self.ff = FeedForward(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Residual self-attention, cross-attention and feed-forward."""
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), context)
        out: torch.Tensor = x + self.ff(self.norm3(x))
        return out


TRANSFORMER_DEFAULTS: dict[str, Any] = {
    "in_channels": None,
    "num_attention_heads": 16,
    "attention_head_dim": 88,
    "num_layers": 1,
    "norm_num_groups": 32,
    "cross_attention_dim": None,
    "attention_bias": False,
    "activation_fn": "geglu",
    "norm_elementwise_affine": True,
    "norm_type": "layer_norm",
    "dropout": 0.0,
    "only_cross_attention": False,
    "double_self_attention": False,
    "upcast_attention": False,
    "gradient_checkpointing": False,
}


class Transformer1D(nn.Module):
    """GroupNorm → proj_in → transformer blocks → proj_out, residual over the token sequence."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        if (
            cfg["activation_fn"] != "geglu"
            or cfg["norm_type"] != "layer_norm"
            or cfg["only_cross_attention"]
            or cfg["double_self_attention"]
        ):
            raise RunnerError(
                "config_invalid", "backbone: only TripoSR's published variant is supported"
            )
        channels = int(cfg["in_channels"])
        inner = int(cfg["num_attention_heads"]) * int(cfg["attention_head_dim"])
        self.norm = nn.GroupNorm(int(cfg["norm_num_groups"]), channels, eps=1e-6, affine=True)
        self.proj_in = nn.Linear(channels, inner)
        self.transformer_blocks = nn.ModuleList(
            BasicTransformerBlock(
                inner,
                int(cfg["num_attention_heads"]),
                int(cfg["attention_head_dim"]),
                cfg["cross_attention_dim"],
                bool(cfg["attention_bias"]),
                bool(cfg["norm_elementwise_affine"]),
            )
            for _ in range(int(cfg["num_layers"]))
        )
        self.proj_out = nn.Linear(inner, channels)

    def forward(self, tokens: torch.Tensor, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        """(B, C, N) tokens attending to (B, M, Dc) image tokens → (B, C, N)."""
        residual = tokens
        x = self.proj_in(self.norm(tokens).permute(0, 2, 1))
        for block in self.transformer_blocks:
            x = block(x, encoder_hidden_states)
        out: torch.Tensor = self.proj_out(x).permute(0, 2, 1).contiguous() + residual
        return out


class TriplaneUpsampleNetwork(nn.Module):
    """A 2x2 stride-2 transposed convolution per plane (32² → 64² in the published model)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.upsample = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)

    def forward(self, planes: torch.Tensor) -> torch.Tensor:
        """(B, 3, Ci, P, P) → (B, 3, Co, 2P, 2P)."""
        b = planes.shape[0]
        up: torch.Tensor = self.upsample(planes.flatten(0, 1))
        return up.reshape(b, 3, *up.shape[1:])


ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "silu": nn.SiLU}


class NeRFMLP(nn.Module):
    """Plane features at a point → (density, rgb logits); `layers.<i>` as an nn.Sequential."""

    def __init__(
        self,
        in_channels: int,
        n_neurons: int,
        n_hidden_layers: int,
        activation: str = "relu",
        bias: bool = True,
        weight_init: str | None = None,
        bias_init: str | None = None,
    ) -> None:
        super().__init__()  # the *_init fields only matter for training; weights are loaded
        if activation not in ACTIVATIONS:
            raise RunnerError("config_invalid", f"decoder: activation {activation!r} not supported")
        act = ACTIVATIONS[activation]
        layers: list[nn.Module] = [nn.Linear(in_channels, n_neurons, bias=bias), act()]
        for _ in range(n_hidden_layers - 1):
            layers += [nn.Linear(n_neurons, n_neurons, bias=bias), act()]
        layers.append(nn.Linear(n_neurons, 4, bias=bias))
        self.layers = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, Cin) → (N, 4)."""
        return self.layers(features)  # type: ignore[no-any-return]


class TriplaneNeRFRenderer:
    """Only what meshing needs: sample the planes at points and decode them (no parameters)."""

    def __init__(
        self,
        radius: float,
        feature_reduction: str = "concat",
        density_activation: str = "trunc_exp",
        density_bias: float = -1.0,
        num_samples_per_ray: int = 128,
        randomized: bool = False,
    ) -> None:
        if feature_reduction not in ("concat", "mean") or density_activation not in (
            "trunc_exp",
            "exp",
        ):
            raise RunnerError(
                "config_invalid", "renderer: unsupported feature_reduction or density_activation"
            )
        self.radius = float(radius)
        self.feature_reduction = feature_reduction
        self.density_bias = float(density_bias)

    def query(
        self, decoder: NeRFMLP, positions: torch.Tensor, planes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Positions (N, 3) in [-radius, radius], planes (3, C, H, W) → density (N,), rgb (N, 3)."""
        densities, colours = [], []
        for start in range(0, positions.shape[0], CHUNK):
            x = positions[start : start + CHUNK] / self.radius  # to grid_sample's [-1, 1]
            idx = torch.stack((x[:, [0, 1]], x[:, [0, 2]], x[:, [1, 2]]))  # (3, N, 2): xy, xz, yz
            out = F.grid_sample(planes, idx.unsqueeze(1), align_corners=False, mode="bilinear")
            out = out.squeeze(2)  # (3, C, N)
            feats = (
                out.permute(2, 0, 1).flatten(1)
                if self.feature_reduction == "concat"
                else out.mean(0).T
            )
            raw = decoder(feats)
            densities.append(torch.exp(raw[:, 0] + self.density_bias))  # trunc_exp forward is exp
            colours.append(torch.sigmoid(raw[:, 1:4]))
        return torch.cat(densities), torch.cat(colours)


class TSR(nn.Module):
    """The whole model; attribute names are the state dict's top-level prefixes."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        it = _section(
            cfg,
            "image_tokenizer",
            {
                "pretrained_model_name_or_path": "facebook/dino-vitb16",
                "vit_config": None,
                "enable_gradient_checkpointing": False,
            },
        )
        self.cond_image_size = int(cfg.get("cond_image_size", 512))
        self.image_tokenizer = DINOSingleImageTokenizer(**it)
        self.tokenizer = Triplane1DTokenizer(
            **_section(cfg, "tokenizer", {"plane_size": 32, "num_channels": 1024})
        )
        self.backbone = Transformer1D(_section(cfg, "backbone", TRANSFORMER_DEFAULTS))
        self.post_processor = TriplaneUpsampleNetwork(
            **_section(cfg, "post_processor", {"in_channels": 1024, "out_channels": 40})
        )
        self.decoder = NeRFMLP(
            **_section(
                cfg,
                "decoder",
                {
                    "in_channels": 120,
                    "n_neurons": 64,
                    "n_hidden_layers": 9,
                    "activation": "relu",
                    "bias": True,
                    "weight_init": None,
                    "bias_init": None,
                },
            )
        )
        self.renderer = TriplaneNeRFRenderer(
            **_section(
                cfg,
                "renderer",
                {
                    "radius": 0.87,
                    "feature_reduction": "concat",
                    "density_activation": "trunc_exp",
                    "density_bias": -1.0,
                    "num_samples_per_ray": 128,
                    "randomized": False,
                },
            )
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3) in [0, 1] → scene codes (B, 3, C, 2P, 2P)."""
        b = image.shape[0]
        image_tokens = self.image_tokenizer(
            image.permute(0, 3, 1, 2).unsqueeze(1)
        )  # (B, 1, Ct, Nt)
        image_tokens = image_tokens.permute(0, 1, 3, 2).flatten(1, 2)  # (B, Nt, Ct)
        tokens = self.backbone(self.tokenizer(b), encoder_hidden_states=image_tokens)
        return self.post_processor(self.tokenizer.detokenize(tokens))  # type: ignore[no-any-return]


# --- loading ----------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    """Streamed: the real checkpoint is 1.7 GB."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def find_files(weights: Path) -> tuple[Path, Path]:
    """A directory with config.yaml and model.ckpt (or model.safetensors), or the checkpoint itself."""
    if weights.is_dir():
        folder = weights
        ckpt = next(
            (folder / n for n in ("model.ckpt", "model.safetensors") if (folder / n).is_file()),
            None,
        )
        if ckpt is None:
            raise RunnerError("weights_missing", f"no model.ckpt or model.safetensors in {weights}")
    elif weights.is_file():
        folder, ckpt = weights.parent, weights
    else:
        raise RunnerError("weights_missing", f"TripoSR weights not found at {weights}")
    config = folder / "config.yaml"
    if not config.is_file():
        raise RunnerError("weights_missing", f"no config.yaml next to the checkpoint in {folder}")
    return config, ckpt


def read_state_dict(ckpt: Path) -> dict[str, torch.Tensor]:
    """Tensors only: safetensors, or torch.load(weights_only=True), which refuses code objects."""
    import pickle
    import zipfile

    try:
        if ckpt.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(ckpt), device="cpu")
        else:
            try:  # mmap: the 1.7 GB file is not copied into memory twice
                state = torch.load(str(ckpt), map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as err:
                if "mmap" not in str(err):
                    raise
                state = torch.load(str(ckpt), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # weights_only's refusal of anything but tensors and plain containers lands here.
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RunnerError(
            "weights_unsafe", f"the checkpoint holds more than tensors and was refused: {first}"
        ) from None
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile, Exception) as err:  # noqa: BLE001
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RunnerError(
            "weights_invalid", f"cannot read the checkpoint {ckpt.name}: {first[:300]}"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RunnerError("weights_invalid", f"{ckpt.name} is not a state dict of tensors")
    return state


def load_model(weights: Path, expected_sha256: str) -> tuple[TSR, str]:
    """Check the sha256 first, then build from the (allow-listed) config and load strictly."""
    config_path, ckpt = find_files(weights)
    actual = sha256_file(ckpt)
    if actual.lower() != expected_sha256.strip().lower():
        raise RunnerError(
            "weights_invalid",
            f"sha256 of {ckpt.name} is {actual}, not the configured {expected_sha256.strip()}",
        )
    cfg = load_config(config_path)
    try:
        model = TSR(cfg)
    except (TypeError, ValueError) as err:
        raise RunnerError(
            "config_invalid", f"config.yaml does not describe a TripoSR model: {err}"
        ) from None
    state = read_state_dict(ckpt)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise RunnerError(
            "weights_invalid", f"checkpoint does not match config.yaml: {str(err)[:400]}"
        ) from None
    model.eval()
    return model, actual


# --- image and mesh ---------------------------------------------------------------------------


def load_image(path: Path, size: int, foreground_ratio: float = 0.85) -> tuple[torch.Tensor, str]:
    """RGB(A) → (1, size, size, 3) in [0, 1] on TripoSR's grey background.

    With an alpha channel the object is cropped, scaled to `foreground_ratio` of the frame and
    composited on grey 0.5 (what TripoSR does after rembg). Without one the image is used as it is:
    rembg (and its model download) is not part of Jarvis.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            rgba = img.convert("RGBA")
            has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as err:
        raise RunnerError("image_invalid", f"cannot read the image {path.name}: {err}") from None
    arr = np.asarray(rgba, dtype=np.float32) / 255.0
    if has_alpha and arr[..., 3].min() < 1.0:
        ys, xs = np.nonzero(arr[..., 3] > 0.5)
        if len(ys) == 0:
            raise RunnerError("image_invalid", f"the image {path.name} is fully transparent")
        crop = arr[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        side = int(max(crop.shape[:2]) / foreground_ratio) + 1
        canvas = np.zeros((side, side, 4), np.float32)
        y0, x0 = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
        canvas[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
        rgb = canvas[..., :3] * canvas[..., 3:] + (1 - canvas[..., 3:]) * 0.5
        note = "alpha channel used as the mask (cropped, centred, grey background)"
    else:
        rgb = arr[..., :3]
        note = "background not removed (no rembg): use a plain background or an RGBA cut-out"
    tensor = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).unsqueeze(0)
    tensor = F.interpolate(
        tensor, (size, size), mode="bilinear", align_corners=False, antialias=True
    )
    return tensor.permute(0, 2, 3, 1).clamp(0, 1), note


def extract_mesh(
    model: TSR, scene_code: torch.Tensor, resolution: int, threshold: float
) -> tuple[Any, dict[str, Any]]:
    """Density on a resolution³ grid over the renderer's cube, marching cubes, vertex colours.

    The grid is padded with empty space so the surface closes where the object reaches the cube's
    edge (upstream leaves those holes): the mesh is watertight whenever marching cubes gives a
    manifold surface.
    """
    from skimage.measure import marching_cubes
    import trimesh

    radius = model.renderer.radius
    axis = torch.linspace(-radius, radius, resolution)
    grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    with torch.no_grad():
        density, _ = model.renderer.query(model.decoder, grid, scene_code)
    volume = density.reshape(resolution, resolution, resolution).numpy().astype(np.float32)
    stats: dict[str, Any] = {
        "density_min": float(volume.min()),
        "density_max": float(volume.max()),
        "density_median": float(np.median(volume)),
        "inside_fraction": float((volume > threshold).mean()),
    }
    if not volume.min() < threshold < volume.max():
        raise RunnerError(
            "empty_mesh",
            f"no surface at threshold {threshold:g}: density ranges {stats['density_min']:.3g}"
            f" to {stats['density_max']:.3g} (wrong weights, or an image without an object)",
        )
    padded = np.pad(volume, 1, constant_values=min(float(volume.min()), threshold) - 1.0)
    verts, faces, _, _ = marching_cubes(padded, level=threshold)  # type: ignore[no-untyped-call]
    verts = (verts - 1.0) / (resolution - 1) * (2 * radius) - radius
    with torch.no_grad():
        _, colour = model.renderer.query(
            model.decoder, torch.from_numpy(verts.astype(np.float32)), scene_code
        )
    mesh = trimesh.Trimesh(
        vertices=verts,
        faces=faces,
        vertex_colors=(colour.numpy() * 255).astype(np.uint8),
        process=True,
    )
    trimesh.repair.fix_normals(mesh)  # type: ignore[no-untyped-call]
    stats.update(
        vertices=len(mesh.vertices),
        triangles=len(mesh.faces),
        watertight=bool(mesh.is_watertight),
        components=len(mesh.split(only_watertight=False)) if len(mesh.faces) < 2_000_000 else None,
    )
    return mesh, stats


def run(request: dict[str, Any]) -> dict[str, Any]:
    """One image → one GLB (with vertex colours) in out_dir."""
    started = time.monotonic()
    torch.set_num_threads(int(request.get("threads", 1)))
    weights = Path(str(request["weights"]))
    sha = request.get("sha256")
    if not sha:
        raise RunnerError("weights_invalid", "no sha256 configured for the TripoSR checkpoint")
    resolution = int(request.get("resolution", 256))
    threshold = float(request.get("threshold", 25.0))
    if not 8 <= resolution <= 512:
        raise RunnerError("invalid_request", f"resolution {resolution} is outside 8..512")
    model, digest = load_model(weights, str(sha))
    loaded = time.monotonic()
    image, note = load_image(Path(str(request["image"])), model.cond_image_size)
    with torch.no_grad():
        scene_codes = model(image)
    forward = time.monotonic()
    mesh, stats = extract_mesh(model, scene_codes[0], resolution, threshold)
    out = Path(str(request["out"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    mesh.export(str(out))
    return {
        "ok": True,
        "mesh": str(out),
        "weights_sha256": digest,
        "background": note,
        "stats": stats,
        "seconds": {
            "load": round(loaded - started, 3),
            "forward": round(forward - loaded, 3),
            "mesh": round(time.monotonic() - forward, 3),
        },
        "versions": {"torch": torch.__version__, "transformers": _version("transformers")},
    }


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def _request(text: str) -> dict[str, Any]:
    request = json.loads(text)
    if not isinstance(request, dict):
        raise RunnerError("invalid_request", "the request must be a JSON object")
    return request


def main() -> int:
    """JSON request on stdin → JSON answer as the last stdout line; exit 0 either way when answered."""
    try:
        answer = run(_request(sys.stdin.read()))
    except RunnerError as err:
        answer = {"ok": False, "error": err.code, "message": str(err)}
    except MemoryError:
        answer = {"ok": False, "error": "out_of_memory", "message": "the runner ran out of memory"}
    except (KeyError, json.JSONDecodeError) as err:
        answer = {"ok": False, "error": "invalid_request", "message": f"bad runner request: {err}"}
    except RuntimeError as err:
        text = str(err)
        if "can't allocate memory" in text or "not enough memory" in text:
            answer = {"ok": False, "error": "out_of_memory", "message": text.splitlines()[0][:300]}
        else:
            raise
    sys.stdout.write("\n" + json.dumps(answer) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
