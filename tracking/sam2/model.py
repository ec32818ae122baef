"""The SAM 2.1 network: image encoder, prompt encoder + mask decoder, memory encoder and memory attention.

One ``Sam2Model`` holds every parameter of an official ``sam2.1_hiera_*.pt`` under the same key (the file is
``{"model": state_dict}``). Its methods are the per-frame steps the video tracker composes:

* :meth:`encode_image` - a 1024x1024 normalised image -> the three FPN levels (the two finest already projected
  by ``conv_s0``/``conv_s1``) and the stride-16 level's position encoding;
* :meth:`decode` - prompts (+ memory-conditioned features) -> mask logits, IoU, object pointer, object score;
* :meth:`encode_memory` - features + the predicted mask -> a spatial memory;
* :meth:`attend_memory` - current features + memories + object pointers -> memory-conditioned features.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from tracking.sam2.heads import MaskDecoder, PromptEncoder
from tracking.sam2.image_encoder import HieraConfig, ImageEncoder
from tracking.sam2.layers import MLP, SinePositionEncoding, sine_1d
from tracking.sam2.memory_modules import MemoryAttention, MemoryEncoder

NO_OBJ_SCORE = -1024.0  # mask logit given to every pixel of an object judged absent
IMAGE_SIZE = 1024
HIDDEN_DIM = 256
MEM_DIM = 64

SIZES: dict[str, HieraConfig] = {
    "tiny": HieraConfig(96, 1, (1, 2, 7, 2), (5, 7, 9), (8, 4, 14, 7), (7, 7)),
    "small": HieraConfig(96, 1, (1, 2, 11, 2), (7, 10, 13), (8, 4, 14, 7), (7, 7)),
    "base_plus": HieraConfig(112, 2, (2, 3, 16, 3), (12, 16, 20), (8, 4, 14, 7), (14, 14)),
    "large": HieraConfig(144, 2, (2, 6, 36, 4), (23, 33, 43), (8, 4, 16, 8), (7, 7)),
}


@dataclass(frozen=True)
class Sam2Config:
    """Model-level settings of SAM 2.1 as the official video predictor runs it (yaml + predictor overrides)."""

    size: str = "tiny"
    num_maskmem: int = 7  # 1 slot for conditioning frames + 6 recent frames
    max_obj_ptrs: int = 16
    sigmoid_scale_for_mem_enc: float = 20.0
    sigmoid_bias_for_mem_enc: float = -10.0
    multimask_min_pt_num: int = 0
    multimask_max_pt_num: int = 1
    stability_delta: float = 0.05
    stability_thresh: float = 0.98

    @property
    def hiera(self) -> HieraConfig:
        if self.size not in SIZES:
            raise ValueError(f"unknown SAM 2.1 size {self.size!r}; use one of: {', '.join(SIZES)}")
        return SIZES[self.size]


@dataclass
class FrameFeatures:
    """One frame's encoder output: stride-16 features and their position encoding, plus the two skip levels."""

    feat: torch.Tensor  # 1 x 256 x 64 x 64
    pos: torch.Tensor  # 1 x 256 x 64 x 64
    high_res: list[torch.Tensor] = field(default_factory=list)  # [1 x 32 x 256 x 256, 1 x 64 x 128 x 128]


@dataclass
class DecoderOutput:
    """What the SAM heads give for one object on one frame."""

    multimasks: torch.Tensor  # B x M x 256 x 256 logits (M = 3 or 1)
    ious: torch.Tensor  # B x M
    masks: torch.Tensor  # B x 1 x 256 x 256, the chosen mask
    obj_ptr: torch.Tensor  # B x 256
    object_score: torch.Tensor  # B x 1


class Sam2Model(nn.Module):
    """All SAM 2.1 parameters, named as in the official checkpoints, and the per-frame steps."""

    def __init__(self, config: Sam2Config | None = None):
        super().__init__()
        self.config = config or Sam2Config()
        self.image_encoder = ImageEncoder(self.config.hiera)
        self.mask_downsample = nn.Conv2d(1, 1, kernel_size=4, stride=4)
        self.memory_attention = MemoryAttention(HIDDEN_DIM, 4, MEM_DIM)
        self.memory_encoder = MemoryEncoder(HIDDEN_DIM, MEM_DIM)
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(self.config.num_maskmem, 1, 1, MEM_DIM))
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, HIDDEN_DIM))
        self.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, HIDDEN_DIM))
        self.no_obj_ptr = nn.Parameter(torch.zeros(1, HIDDEN_DIM))
        self.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, MEM_DIM))
        self.sam_prompt_encoder = PromptEncoder(HIDDEN_DIM, IMAGE_SIZE // 16, IMAGE_SIZE)
        self.sam_mask_decoder = MaskDecoder(
            HIDDEN_DIM, stability_delta=self.config.stability_delta, stability_thresh=self.config.stability_thresh
        )
        self.obj_ptr_proj = MLP(HIDDEN_DIM, HIDDEN_DIM, HIDDEN_DIM, 3)
        self.obj_ptr_tpos_proj = nn.Linear(HIDDEN_DIM, MEM_DIM)
        self.feature_position = SinePositionEncoding(HIDDEN_DIM)

    @property
    def device(self) -> torch.device:
        return self.no_mem_embed.device

    def autocast(self) -> torch.autocast:
        """The precision the network runs in: float32 on the CPU, bf16 (else fp16) autocast on CUDA."""
        if self.device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.autocast("cuda", dtype=dtype)
        return torch.autocast("cpu", enabled=False)

    def encode_image(self, image: torch.Tensor) -> FrameFeatures:
        """``1 x 3 x 1024 x 1024`` normalised image -> :class:`FrameFeatures`."""
        s0, s1, s2 = self.image_encoder(image)
        dec = self.sam_mask_decoder
        pos = self.feature_position(s2).to(s2.dtype)
        return FrameFeatures(feat=s2, pos=pos, high_res=[dec.conv_s0(s0), dec.conv_s1(s1)])

    def use_multimask(self, num_points: int) -> bool:
        """Three candidate masks for 0 or 1 prompt points (a box counts as two), one mask otherwise."""
        return self.config.multimask_min_pt_num <= num_points <= self.config.multimask_max_pt_num

    def decode(
        self,
        pix_feat: torch.Tensor,
        high_res: list[torch.Tensor],
        points: torch.Tensor | None,
        labels: torch.Tensor | None,
        mask_input: torch.Tensor | None,
        multimask: bool,
    ) -> DecoderOutput:
        """Run the prompt encoder and mask decoder; an object scored absent gets :data:`NO_OBJ_SCORE` logits.

        ``points`` are ``B x N x 2`` in 1024-pixel space; ``mask_input`` is ``B x 1 x 256 x 256`` logits.
        """
        b = pix_feat.size(0)
        if points is None or labels is None:
            points = torch.zeros(b, 1, 2, device=pix_feat.device)
            labels = -torch.ones(b, 1, dtype=torch.int32, device=pix_feat.device)
        if mask_input is not None and mask_input.shape[-2:] != self.sam_prompt_encoder.mask_input_size:
            mask_input = F.interpolate(
                mask_input.float(),
                size=self.sam_prompt_encoder.mask_input_size,
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )
        sparse, dense = self.sam_prompt_encoder(points, labels, mask_input)
        multimasks, ious, tokens, score = self.sam_mask_decoder(
            pix_feat, self.sam_prompt_encoder.dense_pe(), sparse, dense, high_res, multimask
        )
        present = score > 0
        multimasks = torch.where(present[:, None, None], multimasks, NO_OBJ_SCORE).float()
        token = tokens[:, 0]
        if multimask:
            best = torch.argmax(ious, dim=-1)
            rows = torch.arange(b, device=pix_feat.device)
            masks = multimasks[rows, best].unsqueeze(1)
            token = tokens[rows, best]
        else:
            masks = multimasks
        weight = present.float()
        obj_ptr = weight * self.obj_ptr_proj(token) + (1 - weight) * self.no_obj_ptr
        return DecoderOutput(multimasks, ious, masks, obj_ptr, score)

    def encode_memory(
        self, feat: torch.Tensor, low_res_masks: torch.Tensor, object_score: torch.Tensor, binarize: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Spatial memory ``B x 64 x 64 x 64`` (float32) and its position encoding from the raw stride-16 features.

        The 256x256 mask logits are upsampled to 1024x1024; clicked frames' masks are binarised, tracked ones go
        through a sigmoid; both are then scaled to [-10, 10]. An absent object adds ``no_obj_embed_spatial``.
        """
        high = F.interpolate(low_res_masks, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
        mask = (high > 0).float() if binarize else torch.sigmoid(high)
        mask = mask * self.config.sigmoid_scale_for_mem_enc + self.config.sigmoid_bias_for_mem_enc
        features, pos = self.memory_encoder(feat, mask)
        absent = 1 - (object_score > 0).float()
        no_obj = self.no_obj_embed_spatial[..., None, None].expand(*features.shape)
        features = features + absent[..., None, None] * no_obj
        return features, pos

    def no_memory(self, feat: torch.Tensor) -> torch.Tensor:
        """The features of a frame segmented from prompts alone: ``feat + no_mem_embed``."""
        return feat + self.no_mem_embed.view(1, -1, 1, 1)

    def attend_memory(
        self,
        features: FrameFeatures,
        memories: list[tuple[torch.Tensor, torch.Tensor, int]],
        pointers: list[tuple[int, torch.Tensor]],
        t_diff_max: int,
    ) -> torch.Tensor:
        """Memory-conditioned stride-16 features ``B x 256 x 64 x 64``.

        ``memories``: ``(features B x 64 x 64 x 64, position encoding, temporal index into maskmem_tpos_enc)``;
        ``pointers``: ``(signed temporal distance, obj_ptr B x 256)``; distances are divided by ``t_diff_max``.
        """
        b, c, h, w = features.feat.shape
        mem, mem_pos = [], []
        for feats, pos, tpos in memories:
            mem.append(feats.to(features.feat.device).flatten(2).permute(2, 0, 1))
            mem_pos.append(pos.flatten(2).permute(2, 0, 1) + self.maskmem_tpos_enc[tpos])
        num_ptr_tokens = 0
        if pointers:
            distances = torch.tensor([d for d, _ in pointers], device=features.feat.device)
            ptrs = torch.stack([p for _, p in pointers], dim=0)  # P x B x 256
            ptr_pos = self.obj_ptr_tpos_proj(sine_1d(distances / t_diff_max, HIDDEN_DIM))
            ptr_pos = ptr_pos.unsqueeze(1).expand(-1, b, MEM_DIM)
            split = HIDDEN_DIM // MEM_DIM
            ptrs = ptrs.reshape(-1, b, split, MEM_DIM).permute(0, 2, 1, 3).flatten(0, 1)
            mem.append(ptrs)
            mem_pos.append(ptr_pos.repeat_interleave(split, dim=0))
            num_ptr_tokens = ptrs.shape[0]
        curr = features.feat.flatten(2).permute(2, 0, 1)
        curr_pos = features.pos.flatten(2).permute(2, 0, 1)
        # bfloat16 spatial memories are promoted by the float32 pointers, as in the reference; without pointers
        # (an object tracked before its only prompted frame) the promotion is made explicit
        memory = torch.cat(mem, dim=0).to(curr.dtype)
        out = self.memory_attention(curr, curr_pos, memory, torch.cat(mem_pos, dim=0), num_ptr_tokens)
        return out.permute(1, 2, 0).view(b, c, h, w)
