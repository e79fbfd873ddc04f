"""A word-level tokenizer trained offline from task instructions, saved with the model.

No tokenizer can be downloaded here, and the benchmarks' instructions use a few hundred words, so
each model carries its own small vocabulary (``tokenizer.json``, the Hugging Face ``tokenizers``
format), trained on the instructions of every benchmark (:func:`task_instructions`): a model
trained on one suite can still tell apart every task of the others. Unknown words map to
``[UNK]``; text is lower-cased and split on whitespace and punctuation.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

PAD, UNK, BOS, IMAGE = "[PAD]", "[UNK]", "[BOS]", "<image>"
SPECIAL = (PAD, UNK, BOS, IMAGE)  # ids 0..3 in this order
BOS_ID, IMAGE_ID = SPECIAL.index(BOS), SPECIAL.index(IMAGE)
FILE = "tokenizer.json"


def libero_instructions() -> list[str]:
    """Every LIBERO task's words (task names with ``_`` as spaces), all four suites."""
    from ptrim.envs.libero_setup import task_names

    suites = ("libero_spatial", "libero_object", "libero_goal", "libero_10")
    return [name.replace("_", " ") for s in suites for name in task_names(s)]


def task_instructions() -> list[str]:
    """The instructions of every task of every benchmark: LIBERO's four suites, Meta-World's 50
    tasks and our ManiSkill3 tasks (a vocabulary of LIBERO's words alone read "open the door"
    and "open the window" both as "open the [UNK]")."""
    from ptrim.envs.maniskill import INSTRUCTIONS as MANISKILL
    from ptrim.envs.metaworld import INSTRUCTIONS as METAWORLD

    return libero_instructions() + list(METAWORLD.values()) + list(MANISKILL.values())


class InstructionTokenizer:
    """Text → ids ``[B, L]`` with an attention mask, right-padded with ``[PAD]`` (id 0)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tok = tokenizer
        for i, token in enumerate(SPECIAL):
            if tokenizer.token_to_id(token) != i:
                raise ValueError(f"tokenizer must map {token!r} to id {i}")

    @classmethod
    def train(cls, texts: Iterable[str]) -> InstructionTokenizer:
        tok = Tokenizer(models.WordLevel(unk_token=UNK))
        tok.normalizer = normalizers.Lowercase()
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        tok.train_from_iterator(
            list(texts), trainers.WordLevelTrainer(special_tokens=list(SPECIAL))
        )
        return cls(tok)

    @classmethod
    def load(cls, directory: str | Path) -> InstructionTokenizer:
        return cls(Tokenizer.from_file(str(Path(directory) / FILE)))

    def save(self, directory: str | Path) -> None:
        self._tok.save(str(Path(directory) / FILE))

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size()

    def vocab(self) -> dict[str, int]:
        """Word → id, special tokens included."""
        return self._tok.get_vocab()

    def __call__(self, texts: list[str], max_length: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ids, mask)``, both ``[B, L]`` with ``L`` the longest text (at most ``max_length``)."""
        encoded = [e.ids[:max_length] for e in self._tok.encode_batch(list(texts))]
        length = max(1, max(map(len, encoded)))
        ids = torch.zeros(len(encoded), length, dtype=torch.long)
        mask = torch.zeros(len(encoded), length, dtype=torch.long)
        for i, e in enumerate(encoded):
            ids[i, : len(e)] = torch.tensor(e, dtype=torch.long)
            mask[i, : len(e)] = 1
        return ids, mask

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids)
