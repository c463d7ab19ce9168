"""Prefix sharing: two token sequences that begin alike, packed into one row so their common start is computed once.

A preference pair is prompt + chosen and prompt + rejected; the prompt is most of each. Packed, the row holds the
common start once, then each sequence's own tail (from its last common token on: that token's output predicts the
first token where they differ, which is another label in each sequence). An attention mask keeps the second tail
from seeing the first, and position ids restart after the common start, so every token sees exactly what it would
see in its own sequence (Wang et al., 2024, "Accelerating Direct Preference Optimization with Prefix Sharing").

`pack` builds the row and the index that maps each original next-token position to its packed position; the
model's per-position outputs are read back into the original [sequences, positions] layout with `unpack`.
"""

from __future__ import annotations

import torch


def common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens a and b share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def pack_two(first: list[int], second: list[int], first_scored: list[int], second_scored: list[int]) -> dict:
    """One packed row for two sequences: {"ids", "positions", "labels", "shared", "split", "first_at", "second_at",
    "first_valid", "second_valid"}.

    `first_scored[i]` says whether token i of `first` is scored (a completion token); likewise `second_scored`.
    "labels"[p] is the token packed position p predicts, or -100 where nothing scored is predicted there; the first
    `shared` positions are common, and "split" is where the second tail starts (it attends to the common positions
    and to its own);
    "first_at"[i] / "second_at"[i] is the packed position whose output predicts token i + 1 of each sequence, and
    "first_valid"[i] / "second_valid"[i] whether that token is scored.
    """
    if not first or not second:
        raise ValueError("pack_two needs two non-empty sequences")
    # the common start, less its last token: that token's output predicts a different next token in each sequence
    shared = max(0, common_prefix(first, second) - 1)
    split = len(first)
    ids = first + second[shared:]
    positions = list(range(len(first))) + list(range(shared, len(second)))
    labels = [-100] * len(ids)
    first_at = list(range(len(first) - 1))
    second_at = [i if i < shared else split + i - shared for i in range(len(second) - 1)]
    for at, seq, scored in ((first_at, first, first_scored), (second_at, second, second_scored)):
        for i, p in enumerate(at):
            if scored[i + 1]:
                labels[p] = seq[i + 1]
    return {"ids": ids, "positions": positions, "labels": labels, "shared": shared, "split": split,
            "first_at": first_at, "second_at": second_at,
            "first_valid": [bool(x) for x in first_scored[1:]], "second_valid": [bool(x) for x in second_scored[1:]]}


def attention_mask(rows: list[dict], length: int) -> torch.Tensor:
    """Boolean [rows, 1, length, length] mask, True where a query position may attend to a key position: causal,
    except that the second tail does not see the first; padding positions attend to themselves only."""
    mask = torch.zeros(len(rows), 1, length, length, dtype=torch.bool)
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    for r, row in enumerate(rows):
        n, shared, split = len(row["ids"]), row["shared"], row["split"]
        mask[r, 0, :n, :n] = causal[:n, :n]
        mask[r, 0, split:n, shared:split] = False
        pad = torch.arange(n, length)
        mask[r, 0, pad, pad] = True
    return mask


def collate(rows: list[dict], pad_token_id: int, width: int) -> dict:
    """Packed rows as tensors, right-padded: {"input_ids", "attention_mask" (4-D boolean), "position_ids",
    "labels", "index", "valid"}. "index" [2 * rows, width - 1] holds flat packed positions in the unshared
    layout: every row's first sequence, then every row's second (TRL's chosen-then-rejected batch); "valid" marks
    the positions that hold one. `width` is the unshared batch's padded sequence length."""
    length = max(len(row["ids"]) for row in rows)
    n = len(rows)
    input_ids = torch.full((n, length), pad_token_id, dtype=torch.long)
    position_ids = torch.zeros((n, length), dtype=torch.long)
    labels = torch.full((n, length), -100, dtype=torch.long)
    index = torch.zeros((2 * n, width - 1), dtype=torch.long)
    valid = torch.zeros((2 * n, width - 1), dtype=torch.bool)
    for r, row in enumerate(rows):
        k = len(row["ids"])
        input_ids[r, :k] = torch.tensor(row["ids"])
        position_ids[r, :k] = torch.tensor(row["positions"])
        labels[r, :k] = torch.tensor(row["labels"])
        for out_row, side in ((r, "first"), (n + r, "second")):
            at = torch.tensor(row[f"{side}_at"][: width - 1], dtype=torch.long)
            index[out_row, : len(at)] = r * length + at
            valid[out_row, : len(at)] = torch.tensor(row[f"{side}_valid"][: width - 1], dtype=torch.bool)
    return {"input_ids": input_ids, "attention_mask": attention_mask(rows, length), "position_ids": position_ids,
            "labels": labels, "index": index, "valid": valid}


def unpack(per_position: torch.Tensor | None, packed: dict) -> torch.Tensor | None:
    """A packed [rows, length] output read back into the unshared [2 * rows, width - 1] layout, zero (False)
    where no scored token is predicted; differentiable (a position two sequences share gets both gradients)."""
    if per_position is None:
        return None
    values = per_position.reshape(-1)[packed["index"]]
    valid = packed["valid"].to(values.device)
    return values & valid if values.dtype == torch.bool else values * valid.to(values.dtype)


def mask_for(model, mask: torch.Tensor) -> torch.Tensor:
    """The boolean packed mask in the form `model`'s attention takes: as is for SDPA, additive (0 or the weights'
    dtype's minimum) for eager attention."""
    if model.config._attn_implementation != "eager":
        return mask
    dtype = next(model.parameters()).dtype
    return torch.zeros(mask.shape, dtype=dtype).masked_fill(~mask, torch.finfo(dtype).min)
