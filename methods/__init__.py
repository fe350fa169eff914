"""Method registry. A new method is one file plus one line in ``_REGISTRY``.

Example:
    >>> 'reptile' in registered()
    True
    >>> get_method("nope")
    Traceback (most recent call last):
    ...
    methods.UnknownMethodError: unknown method 'nope'; registered methods: adalora, d2nwg, dylora, fourierft, full-ft, ghn3, icis, llo-vae, lora, lt-di, lt-di-lora, lv-di, lv-di-lora, mc-di, mc-di-lora, meta-baseline, meta-diff, meta-hypernetwork, mv-di, mv-di-lora, ocd, ref-centroid, ref-target-head, ref-target-lora, reptile, tw-di
"""
from __future__ import annotations

import importlib

# name -> "module:Class" (imported lazily so a method's heavy deps load only when used)
_REGISTRY = {
    "reptile": "methods.reptile:Reptile",
    "meta-baseline": "methods.meta_baseline:MetaBaseline",
    "mc-di": "methods.mcdi:McDi",
    "mv-di": "methods.mcdi:MvDi",
    "tw-di": "methods.mcdi:TwDi",
    "lt-di": "methods.mcdi:LtDi",
    "lv-di": "methods.mcdi:LvDi",
    "ocd": "methods.ocd:OCD",
    "llo-vae": "methods.vae:LLOVAE",
    "icis": "methods.icis:ICIS",
    "d2nwg": "methods.d2nwg:D2NWG",
    "meta-hypernetwork": "methods.hypernet:MetaHypernetwork",
    "meta-diff": "methods.metadiff:MetaDiff",
    "ghn3": "methods.ghn3:GHN3",
    # Table 5 (GLUE): single-task gradient fine-tuning, and LoRA generation by diffusion
    "full-ft": "methods.llm.finetuners:FullFT",
    "lora": "methods.llm.finetuners:LoRA",
    "adalora": "methods.llm.finetuners:AdaLoRA",
    "dylora": "methods.llm.finetuners:DyLoRA",
    "fourierft": "methods.llm.finetuners:FourierFT",
    "mc-di-lora": "methods.llm.lora_diffusion:McDiLoRA",
    "mv-di-lora": "methods.llm.lora_diffusion:MvDiLoRA",
    "lt-di-lora": "methods.llm.lora_diffusion:LtDiLoRA",
    "lv-di-lora": "methods.llm.lora_diffusion:LvDiLoRA",
    # reference rows (labelled as such in the tables; not methods of the papers)
    "ref-target-head": "methods.references:TargetHeadReference",
    "ref-target-lora": "methods.llm.target_lora:TargetLoRAReference",
    "ref-centroid": "methods.references:CentroidReference",
}


class UnknownMethodError(KeyError):
    """A name that is not registered; its message (unquoted, unlike a KeyError's) lists the registered ones.

    Example:
        >>> err = UnknownMethodError("unknown method 'x'")
        >>> isinstance(err, KeyError), str(err)
        (True, "unknown method 'x'")
    """

    def __str__(self) -> str:
        return self.args[0]


def registered(modality: str | None = None) -> list:
    """Names of all registered methods, or of those for ``modality`` ("images": few-shot episodes,
    "text": GLUE tasks of Table 5).

    Example:
        >>> "lora" in registered("text"), "lora" in registered("images")
        (True, False)
    """
    names = sorted(_REGISTRY)
    return names if modality is None else [n for n in names if get_method(n).MODALITY == modality]


def is_reference(name: str) -> bool:
    """Whether a registered row is a reference row (labelled so; never "best", never in a claim).

    Example:
        >>> is_reference("ref-centroid"), is_reference("mc-di")
        (True, False)
    """
    return name in _REGISTRY and get_method(name).REFERENCE


def get_method(name: str):
    """The method class registered as ``name``; an unknown name lists the registered ones.

    Example:
        >>> get_method("reptile").__name__, get_method("lora").paper
        ('Reptile', 'LoRA (Hu et al., 2022)')
    """
    if name not in _REGISTRY:
        raise UnknownMethodError(f"unknown method {name!r}; registered methods: {', '.join(registered())}")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)
