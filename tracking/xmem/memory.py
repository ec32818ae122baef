"""XMem's memory: working memory, long-term memory and the transfer between them (consolidation).

Keys are shared by every object; values are kept per *object group* (objects that entered memory on the
same frame). A group's values always cover the **last** ``n`` keys of its store (suffix alignment), so a
group that entered late simply has fewer values. Reads are top-k softmax over an anisotropic L2 similarity;
read counts ("usage") decide which working-memory elements become long-term prototypes and which
long-term elements are dropped when the long-term store is full. That bounds memory on any clip length.
"""

from __future__ import annotations

import math

import torch

from tracking.xmem.config import XMemConfig


def similarity(
    mem_key: torch.Tensor, mem_shrinkage: torch.Tensor | None, query_key: torch.Tensor,
    query_selection: torch.Tensor | None, query_major: bool = False,
) -> torch.Tensor:
    """Negative shrunk, selection-weighted squared L2 distance, ``B x N(memory) x HW(query)``.

    ``-(sum_c e_c (k_c - q_c)^2) * s / sqrt(C)`` expanded into matrix products, in the reference's order.
    ``query_major`` returns ``B x HW x N`` instead (same values; top-k along the contiguous axis is ~4x faster).
    """
    ck = mem_key.shape[1]
    mk = mem_key.flatten(2)
    qk = query_key.flatten(2)
    qe = query_selection.flatten(2) if query_selection is not None else None
    if query_major:
        mk_t = mk
        qk, mk = qk.transpose(1, 2), mk.transpose(1, 2)  # qk: B x HW x C, mk: B x N x C
        if qe is not None:
            qe = qe.transpose(1, 2)
            sim = -(qe @ mk_t.pow(2)) + 2 * ((qk * qe) @ mk_t) - (qe * qk.pow(2)).sum(2, keepdim=True)
        else:
            sim = -mk.pow(2).sum(2).unsqueeze(1) + 2 * (qk @ mk_t)
        shrink = mem_shrinkage.flatten(1).unsqueeze(1) if mem_shrinkage is not None else None
    else:
        mk = mk.transpose(1, 2)
        if qe is not None:
            sim = -(mk.pow(2) @ qe) + 2 * (mk @ (qk * qe)) - (qe * qk.pow(2)).sum(1, keepdim=True)
        else:
            sim = -mk.pow(2).sum(2, keepdim=True) + 2 * (mk @ qk)
        shrink = mem_shrinkage.flatten(1).unsqueeze(2) if mem_shrinkage is not None else None
    if shrink is not None:
        return sim * shrink / math.sqrt(ck)
    return sim / math.sqrt(ck)


class SparseAffinity:
    """A top-k affinity kept as (indices, weights) ``B x HW x k`` over ``n`` memory elements."""

    def __init__(self, indices: torch.Tensor, weights: torch.Tensor, n: int) -> None:
        self.indices, self.weights, self.n = indices, weights, n

    def usage(self) -> torch.Tensor:
        """Affinity mass per memory element (``B x n``), the dense ``affinity.sum(2)``."""
        out = self.weights.new_zeros(self.indices.shape[0], self.n)
        return out.scatter_add_(1, self.indices.flatten(1), self.weights.flatten(1))

    def read(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` (``n_obj x Cv x n``) weighted by the affinity -> ``n_obj x Cv x HW``, without the dense
        ``n x HW`` matrix product (k << n)."""
        idx, w = self.indices[0], self.weights[0].unsqueeze(1)  # HW x k, HW x 1 x k
        out = []
        for v in values:  # one object at a time bounds the gathered HW x k x Cv tensor
            out.append(torch.bmm(w, v.t()[idx]).squeeze(1).t())
        return torch.stack(out, 0)


def topk_sparse(sim: torch.Tensor, top_k: int) -> SparseAffinity:
    """``topk_softmax`` on a query-major ``B x HW x N`` similarity, without the dense affinity."""
    k = min(top_k, sim.shape[2])
    values, indices = torch.topk(sim, k=k, dim=2)
    weights = values.exp_()
    weights /= weights.sum(dim=2, keepdim=True)
    return SparseAffinity(indices, weights, sim.shape[2])


def topk_softmax(sim: torch.Tensor, top_k: int | None) -> torch.Tensor:
    """Softmax over the memory axis keeping only the ``top_k`` largest entries per query (others 0).

    Like the reference, the top-k values are exponentiated without subtracting their maximum.
    """
    if top_k is None:
        return torch.softmax(sim, dim=1)
    k = min(top_k, sim.shape[1])
    values, indices = torch.topk(sim, k=k, dim=1)
    weights = values.exp_()
    weights /= weights.sum(dim=1, keepdim=True)
    return torch.zeros_like(sim).scatter_(1, indices, weights)


class KeyValueStore:
    """Keys (+ shrinkage, selection, usage) shared by all objects; values per object group, suffix-aligned."""

    def __init__(self, count_usage: bool) -> None:
        self.count_usage = count_usage
        self.key: torch.Tensor | None = None  # 1 x Ck x N
        self.shrinkage: torch.Tensor | None = None  # 1 x 1 x N
        self.selection: torch.Tensor | None = None  # 1 x Ck x N
        self.use_count: torch.Tensor | None = None  # 1 x 1 x N
        self.life_count: torch.Tensor | None = None  # 1 x 1 x N
        self.values: list[torch.Tensor] = []  # per group: n_objects x Cv x N_g (the last N_g keys)
        self.groups: list[list[int]] = []  # per group: 0-based object indices

    @property
    def size(self) -> int:
        return 0 if self.key is None else self.key.shape[-1]

    @property
    def num_groups(self) -> int:
        return len(self.values)

    def engaged(self) -> bool:
        return self.key is not None

    def group_size(self, gi: int) -> int:
        return self.values[gi].shape[-1]

    def add(
        self, key: torch.Tensor, shrinkage: torch.Tensor | None, selection: torch.Tensor | None,
        values: torch.Tensor | list[torch.Tensor | None], objects: list[int] | None,
    ) -> None:
        """Append keys; ``values`` is ``n_obj x Cv x n`` indexed by object (with ``objects``, 0-based) or a
        per-group list (long-term memory, prototypes)."""
        n = key.shape[-1]

        def cat(old: torch.Tensor | None, new: torch.Tensor | None) -> torch.Tensor | None:
            return new if old is None else (old if new is None else torch.cat([old, new], -1))

        self.key = cat(self.key, key)
        self.shrinkage = cat(self.shrinkage, shrinkage)
        self.selection = cat(self.selection, selection)
        if self.count_usage:
            self.use_count = cat(self.use_count, key.new_zeros(1, 1, n, dtype=torch.float32))
            self.life_count = cat(self.life_count, key.new_zeros(1, 1, n, dtype=torch.float32) + 1e-7)

        if objects is not None:
            assert isinstance(values, torch.Tensor)
            remaining = list(objects)
            for gi, group in enumerate(self.groups):
                for obj in group:
                    remaining.remove(obj)
                self.values[gi] = torch.cat([self.values[gi], values[group]], -1)
            if remaining:
                if self.groups and min(remaining) <= max(max(g) for g in self.groups):
                    raise ValueError("objects must enter memory in increasing index order")
                self.values.append(values[remaining])
                self.groups.append(remaining)
        else:
            assert isinstance(values, list)
            for gi, gv in enumerate(values):
                if gv is None:
                    continue
                if gi < self.num_groups:
                    self.values[gi] = torch.cat([self.values[gi], gv], -1)
                else:
                    self.values.append(gv)

    def update_usage(self, usage: torch.Tensor) -> None:
        """Add one read's affinity mass per element; every element ages by one read."""
        if not self.count_usage:
            return
        self.use_count += usage.view_as(self.use_count)
        self.life_count += 1

    def usage(self) -> torch.Tensor:
        """Read count normalised by the number of reads the element lived through (``1 x 1 x N``)."""
        if not self.count_usage:
            raise RuntimeError("usage is not counted in this store")
        return self.use_count / self.life_count

    def slice(
        self, start: int, end: int
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
        """Key, shrinkage, selection and usage of elements ``start:end`` (``end`` <= 0 counts from the end)."""
        sl = slice(start, end if end != 0 else None)
        s = self.shrinkage[:, :, sl] if self.shrinkage is not None else None
        e = self.selection[:, :, sl] if self.selection is not None else None
        return self.key[:, :, sl], s, e, self.usage()[:, :, sl]

    def _keep(self, keep: torch.Tensor) -> None:
        """Keep the elements where the boolean ``keep`` (over all keys) is true; values follow their keys."""
        self.key = self.key[:, :, keep]
        self.shrinkage = self.shrinkage[:, :, keep] if self.shrinkage is not None else None
        self.selection = self.selection[:, :, keep] if self.selection is not None else None
        if self.count_usage:
            self.use_count = self.use_count[:, :, keep]
            self.life_count = self.life_count[:, :, keep]
        for gi in range(self.num_groups):
            self.values[gi] = self.values[gi][:, :, keep[keep.shape[0] - self.group_size(gi) :]]
        self._drop_empty_groups()

    def _drop_empty_groups(self) -> None:
        kept = [(v, g) for v, g in zip(self.values, self.groups or [None] * self.num_groups, strict=True)
                if v.shape[-1] > 0]
        self.values = [v for v, _ in kept]
        if self.groups:
            self.groups = [g for _, g in kept]

    def remove_range(self, start: int, end: int) -> None:
        """Drop keys ``start:end`` (``end`` < 0 counts from the end); each group loses what it holds of them."""
        keep = torch.ones(self.size, dtype=torch.bool, device=self.key.device)
        keep[start : end if end != 0 else None] = False
        self._keep(keep)

    def remove_last(self, n: int) -> None:
        """Drop the last ``n`` elements (the frame just written), e.g. to rewrite it with a corrected mask."""
        self.remove_range(self.size - n, self.size)

    def remove_obsolete(self, max_size: int) -> None:
        """Shrink towards ``max_size`` by dropping the least used elements (ties at the cut all go).

        Without usage counts the oldest elements go.
        """
        if not self.count_usage:
            keep = torch.zeros(self.size, dtype=torch.bool, device=self.key.device)
            keep[self.size - max_size :] = True
            self._keep(keep)
            return
        usage = self.usage().flatten()
        cut = torch.topk(usage, k=self.size - max_size, largest=False, sorted=True).values[-1]
        self._keep(usage > cut)


def _usage(aff: torch.Tensor | SparseAffinity) -> torch.Tensor:
    return aff.usage() if isinstance(aff, SparseAffinity) else aff.sum(dim=2)


def _read(aff: torch.Tensor | SparseAffinity, values: torch.Tensor) -> torch.Tensor:
    return aff.read(values) if isinstance(aff, SparseAffinity) else values @ aff


class MemoryManager:
    """Working + long-term memory and the sensory (hidden) state, with XMem's read and consolidation."""

    def __init__(self, config: XMemConfig, hidden_dim: int, sparse_readout: bool = False) -> None:
        self.config = config
        self.sparse_readout = sparse_readout
        self.hidden_dim = hidden_dim
        self.top_k = config.top_k
        self.long_term = config.enable_long_term
        self.work = KeyValueStore(count_usage=self.long_term)
        self.long = KeyValueStore(count_usage=config.enable_long_term_count_usage) if self.long_term else None
        self.hidden: torch.Tensor | None = None  # 1 x N_objects x Ch x h x w
        self.hw = 0
        self.value_dim = 0

    def match(self, query_key: torch.Tensor, query_selection: torch.Tensor | None) -> torch.Tensor:
        """Read memory for a query frame -> ``N_objects x Cv x h x w`` (objects in group order)."""
        h, w = query_key.shape[-2:]
        work, top_k = self.work, self.top_k
        n_groups = work.num_groups
        sparse = self.sparse_readout
        ax = 2 if sparse else 1  # the memory axis of the similarity

        def softmax(sim: torch.Tensor) -> torch.Tensor | SparseAffinity:
            return topk_sparse(sim, top_k) if sparse else topk_softmax(sim, top_k)

        def tail(sim: torch.Tensor, n: int) -> torch.Tensor:  # the last n memory elements
            return sim.narrow(ax, sim.shape[ax] - n, n)

        if self.long is not None and self.long.engaged():
            long = self.long
            n_long = long.size
            sim = similarity(torch.cat([long.key, work.key], -1), torch.cat([long.shrinkage, work.shrinkage], -1),
                             query_key, query_selection, query_major=sparse)
            long_sim, work_sim = sim.narrow(ax, 0, n_long), sim.narrow(ax, n_long, work.size)
            # group 0 holds every key, so its affinity also gives the usage of every element
            aff0 = softmax(torch.cat([tail(long_sim, long.group_size(0)), work_sim], ax))
            usage = _usage(aff0)
            affinities = [aff0]
            for gi in range(1, n_groups):
                ws = tail(work_sim, work.group_size(gi))
                if gi < long.num_groups:
                    ws = torch.cat([tail(long_sim, long.group_size(gi)), ws], ax)
                affinities.append(softmax(ws))
            values = [
                torch.cat([long.values[gi], gv], -1) if gi < long.num_groups else gv
                for gi, gv in enumerate(work.values)
            ]
            work.update_usage(usage[:, n_long:].flatten())
            long.update_usage(usage[:, :n_long].flatten())
        else:
            sim = similarity(work.key, work.shrinkage, query_key, query_selection, query_major=sparse)
            aff0 = softmax(sim)
            affinities = [aff0]
            for gi in range(1, n_groups):
                affinities.append(softmax(tail(sim, work.group_size(gi))))
            values = work.values
            work.update_usage(_usage(aff0).flatten())

        readout = torch.cat([_read(aff, gv) for aff, gv in zip(affinities, values, strict=True)], 0)
        return readout.view(readout.shape[0], self.value_dim, h, w)

    def add(
        self, key: torch.Tensor, shrinkage: torch.Tensor, value: torch.Tensor, objects: list[int],
        selection: torch.Tensor | None = None,
    ) -> None:
        """Write one frame: key/shrinkage/selection ``1 x C x h x w``, value ``1 x N x Cv x h x w``.

        ``objects`` are the 0-based object indices of ``value``'s channels (all objects so far, in order).
        Consolidates into long-term memory when working memory is full.
        """
        self.hw = key.shape[-2] * key.shape[-1]
        self.value_dim = value.shape[2]
        self.work.add(key.flatten(2), shrinkage.flatten(2), selection.flatten(2) if self.long_term else None,
                      value[0].flatten(2), objects)
        if self.long is None:
            return
        cfg = self.config
        if self.work.size >= cfg.max_mid_term_frames * self.hw:
            if self.long.size >= cfg.max_long_term_elements - cfg.num_prototypes:
                self.long.remove_obsolete(cfg.max_long_term_elements - cfg.num_prototypes)
            self._consolidate()

    def remove_last_frame(self) -> None:
        """Forget the frame written last (working memory keeps the newest frames, so it is the tail)."""
        self.work.remove_last(self.hw)

    def ensure_hidden(self, n_objects: int, like: torch.Tensor) -> None:
        """Grow the sensory state with zeros for objects that just entered."""
        h, w = like.shape[-2:]
        if self.hidden is None:
            self.hidden = like.new_zeros(1, n_objects, self.hidden_dim, h, w, dtype=torch.float32)
        elif self.hidden.shape[1] < n_objects:
            extra = self.hidden.new_zeros(1, n_objects - self.hidden.shape[1], self.hidden_dim, h, w)
            self.hidden = torch.cat([self.hidden, extra], 1)

    def _consolidate(self) -> None:
        """Turn the middle of working memory (all but the first and the newest frames) into prototypes."""
        hw = self.hw
        keep_tail = self.config.min_mid_term_frames * hw - hw  # newest frames that stay in working memory
        work = self.work
        total = work.size
        end = total - keep_tail  # candidates are keys [hw, end)
        n_cand = end - hw
        cand_key, cand_shrinkage, cand_selection, usage = work.slice(hw, end)

        cand_values: list[torch.Tensor | None] = []
        for gv in work.values:
            lo = max(0, gv.shape[-1] - (total - hw))  # this group's first candidate, in its own coordinates
            hi = gv.shape[-1] - keep_tail
            cand_values.append(gv[:, :, lo:hi] if hi > lo else None)

        top = torch.topk(usage.flatten(), k=min(self.config.num_prototypes, n_cand), dim=-1, sorted=True).indices
        partial = any(cv is not None and cv.shape[-1] < n_cand for cv in cand_values)
        if partial:  # positional order makes every group's valid prototypes a suffix (suffix alignment)
            top = torch.sort(top).values
        proto_key = cand_key[:, :, top]
        proto_selection = cand_selection[:, :, top] if cand_selection is not None else None

        # potentiation: each prototype reads the candidates of every group it is valid for
        sim = similarity(cand_key, cand_shrinkage, proto_key, proto_selection)
        proto_values: list[torch.Tensor | None] = []
        proto_shrinkage = None
        for cv in cand_values:
            if cv is None:
                proto_values.append(None)
                continue
            valid = top >= n_cand - cv.shape[-1]
            if not bool(valid.any()):
                proto_values.append(None)
                continue
            aff = topk_softmax(sim[:, n_cand - cv.shape[-1] :, valid], None)
            proto_values.append(cv @ aff)
            if proto_shrinkage is None:
                proto_shrinkage = cand_shrinkage @ aff
        work.remove_range(hw, end)
        self.long.add(proto_key, proto_shrinkage, None, proto_values, objects=None)
