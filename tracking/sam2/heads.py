"""SAM 2.1's prompt encoder and mask decoder (two-way transformer, high-res skip features, object-score head).

Keys follow the checkpoints: ``sam_prompt_encoder.*`` and ``sam_mask_decoder.*``. Boxes reach the prompt encoder
as two points labelled 2 and 3 (the video predictor's convention), so there is no separate box path.
"""

from __future__ import annotations

import torch
from torch import nn

from tracking.sam2.layers import MLP, LayerNorm2d, RandomFourierEncoding, attention


class Attention(nn.Module):
    """Multi-head attention with an optional internal down-projection and a different key/value width."""

    def __init__(self, dim: int, num_heads: int, downsample_rate: int = 1, kv_in_dim: int | None = None):
        super().__init__()
        self.internal_dim = dim // downsample_rate
        self.num_heads = num_heads
        kv_dim = dim if kv_in_dim is None else kv_in_dim
        self.q_proj = nn.Linear(dim, self.internal_dim)
        self.k_proj = nn.Linear(kv_dim, self.internal_dim)
        self.v_proj = nn.Linear(kv_dim, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def _merge(self, x: torch.Tensor) -> torch.Tensor:
        b, h, n, c = x.shape
        return x.transpose(1, 2).reshape(b, n, h * c)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q, k, v = self._heads(self.q_proj(q)), self._heads(self.k_proj(k)), self._heads(self.v_proj(v))
        return self.out_proj(self._merge(attention(q, k, v)))


class TwoWayBlock(nn.Module):
    """Token self-attention, token->image attention, MLP, image->token attention (post-norm)."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, skip_first_layer_pe: bool):
        super().__init__()
        self.self_attn = Attention(dim, num_heads)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn_token_to_image = Attention(dim, num_heads, downsample_rate=2)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_dim, dim, 2)
        self.norm3 = nn.LayerNorm(dim)
        self.norm4 = nn.LayerNorm(dim)
        self.cross_attn_image_to_token = Attention(dim, num_heads, downsample_rate=2)
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(self, queries, keys, query_pe, key_pe):  # noqa: ANN001, ANN201 - tensors
        if self.skip_first_layer_pe:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)
        q, k = queries + query_pe, keys + key_pe
        queries = self.norm2(queries + self.cross_attn_token_to_image(q, k, keys))
        queries = self.norm3(queries + self.mlp(queries))
        q, k = queries + query_pe, keys + key_pe
        keys = self.norm4(keys + self.cross_attn_image_to_token(k, q, queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    """Two blocks then a final token->image attention; returns (tokens, image tokens)."""

    def __init__(self, dim: int = 256, depth: int = 2, num_heads: int = 8, mlp_dim: int = 2048):
        super().__init__()
        self.layers = nn.ModuleList(TwoWayBlock(dim, num_heads, mlp_dim, i == 0) for i in range(depth))
        self.final_attn_token_to_image = Attention(dim, num_heads, downsample_rate=2)
        self.norm_final_attn = nn.LayerNorm(dim)

    def forward(self, image: torch.Tensor, image_pe: torch.Tensor, tokens: torch.Tensor):  # noqa: ANN201
        keys = image.flatten(2).permute(0, 2, 1)
        key_pe = image_pe.flatten(2).permute(0, 2, 1)
        queries = tokens
        for layer in self.layers:
            queries, keys = layer(queries, keys, tokens, key_pe)
        attn = self.final_attn_token_to_image(queries + tokens, keys + key_pe, keys)
        return self.norm_final_attn(queries + attn), keys


class PromptEncoder(nn.Module):
    """Points (labels -1 pad, 0 neg, 1 pos, 2/3 box corners) -> sparse tokens; a mask (or none) -> dense map."""

    def __init__(self, dim: int = 256, grid: int = 64, image_size: int = 1024, mask_in_chans: int = 16):
        super().__init__()
        self.grid = grid
        self.image_size = image_size
        self.pe_layer = RandomFourierEncoding(dim // 2)
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, dim) for _ in range(4))
        self.not_a_point_embed = nn.Embedding(1, dim)
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            nn.GELU(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            nn.GELU(),
            nn.Conv2d(mask_in_chans, dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, dim)

    @property
    def mask_input_size(self) -> tuple[int, int]:
        return (4 * self.grid, 4 * self.grid)

    def dense_pe(self) -> torch.Tensor:
        """Position encoding of the image-embedding grid, ``1 x C x 64 x 64``."""
        return self.pe_layer.grid(self.grid, self.grid).unsqueeze(0)

    def embed_points(self, points: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``B x N x 2`` points in 1024-pixel space (+ one padding point appended) -> ``B x (N+1) x C``."""
        points = points + 0.5  # centre of the pixel
        pad_point = torch.zeros((points.shape[0], 1, 2), device=points.device)
        pad_label = -torch.ones((labels.shape[0], 1), device=labels.device)
        points = torch.cat([points, pad_point], dim=1)
        labels = torch.cat([labels, pad_label], dim=1)
        emb = self.pe_layer.points(points, (self.image_size, self.image_size))
        emb[labels == -1] = 0.0
        emb[labels == -1] += self.not_a_point_embed.weight
        for value in range(4):
            emb[labels == value] += self.point_embeddings[value].weight
        return emb

    def forward(self, points: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor | None):  # noqa: ANN201
        sparse = self.embed_points(points, labels)
        if masks is not None:
            dense = self.mask_downscaling(masks)
        else:
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(points.shape[0], -1, self.grid, self.grid)
        return sparse, dense


class MaskDecoder(nn.Module):
    """Image embedding + prompt tokens -> 4 mask logits (256x256), IoU predictions, output tokens, object score."""

    def __init__(
        self,
        dim: int = 256,
        num_multimask_outputs: int = 3,
        stability_delta: float = 0.05,
        stability_thresh: float = 0.98,
    ):
        super().__init__()
        self.transformer = TwoWayTransformer(dim)
        self.iou_token = nn.Embedding(1, dim)
        self.num_mask_tokens = num_multimask_outputs + 1
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, dim)
        self.obj_score_token = nn.Embedding(1, dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(dim // 4, dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        self.conv_s0 = nn.Conv2d(dim, dim // 8, kernel_size=1)
        self.conv_s1 = nn.Conv2d(dim, dim // 4, kernel_size=1)
        self.output_hypernetworks_mlps = nn.ModuleList(MLP(dim, dim, dim // 8, 3) for _ in range(self.num_mask_tokens))
        self.iou_prediction_head = MLP(dim, 256, self.num_mask_tokens, 3, sigmoid_output=True)
        self.pred_obj_score_head = MLP(dim, dim, 1, 3)
        self.stability_delta = stability_delta
        self.stability_thresh = stability_thresh

    def forward(
        self,
        image: torch.Tensor,
        image_pe: torch.Tensor,
        sparse: torch.Tensor,
        dense: torch.Tensor,
        high_res: list[torch.Tensor],
        multimask: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns ``(masks, ious, output token, object score logits)``.

        ``multimask``: the three ambiguity masks and the multimask tokens; otherwise the single-mask token's
        output, replaced by the best multimask output when its stability score is low. The returned token is
        the one the object pointer is made from.
        """
        masks, ious, tokens, obj_score = self._predict(image, image_pe, sparse, dense, high_res)
        if multimask:
            return masks[:, 1:], ious[:, 1:], tokens[:, 1:], obj_score
        masks, ious = self._stable_single_mask(masks, ious)
        return masks, ious, tokens[:, 0:1], obj_score

    def _predict(self, image, image_pe, sparse, dense, high_res):  # noqa: ANN001, ANN202
        out_tokens = torch.cat([self.obj_score_token.weight, self.iou_token.weight, self.mask_tokens.weight], dim=0)
        out_tokens = out_tokens.unsqueeze(0).expand(sparse.size(0), -1, -1)
        tokens = torch.cat((out_tokens, sparse), dim=1)
        src = image + dense
        pos = torch.repeat_interleave(image_pe, tokens.shape[0], dim=0)
        b, c, h, w = src.shape
        hs, src = self.transformer(src, pos, tokens)
        iou_token = hs[:, 1, :]
        mask_tokens = hs[:, 2 : 2 + self.num_mask_tokens, :]
        src = src.transpose(1, 2).view(b, c, h, w)
        dc1, ln1, act1, dc2, act2 = self.output_upscaling
        feat_s0, feat_s1 = high_res
        up = act1(ln1(dc1(src) + feat_s1))
        up = act2(dc2(up) + feat_s0)
        hyper = torch.stack([mlp(mask_tokens[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], 1)
        b, c, h, w = up.shape
        masks = (hyper @ up.view(b, c, h * w)).view(b, -1, h, w)
        return masks, self.iou_prediction_head(iou_token), mask_tokens, self.pred_obj_score_head(hs[:, 0, :])

    def _stable_single_mask(self, masks: torch.Tensor, ious: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token 0's mask, or the best of tokens 1-3 by IoU when token 0's mask is unstable around logit 0."""
        multi, multi_iou = masks[:, 1:], ious[:, 1:]
        best = torch.argmax(multi_iou, dim=-1)
        rows = torch.arange(multi_iou.size(0), device=ious.device)
        best_mask, best_iou = multi[rows, best].unsqueeze(1), multi_iou[rows, best].unsqueeze(1)
        single, single_iou = masks[:, 0:1], ious[:, 0:1]
        flat = single.flatten(-2)
        inter = torch.sum(flat > self.stability_delta, dim=-1).float()
        union = torch.sum(flat > -self.stability_delta, dim=-1).float()
        stable = torch.where(union > 0, inter / union, 1.0) >= self.stability_thresh
        mask = torch.where(stable[..., None, None].expand_as(single), single, best_mask)
        iou = torch.where(stable.expand_as(single_iou), single_iou, best_iou)
        return mask, iou
