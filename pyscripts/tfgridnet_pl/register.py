"""Register the recipe's classes in ESPnet's enhancement task (at import time).

Importing this module adds every entry of :data:`REGISTRY` to the matching ``ClassChoices`` of
``espnet2.tasks.enh``, so that a YAML naming them (``separator: tfgridnet_pl``,
``wrapper: progressive``, ``name: hybrid``) loads in ``pyscripts/enh_train.py``,
``pyscripts/enh_inference.py`` and anything else that builds the model after this import.

To add a class, add one line to :data:`REGISTRY`: ``(choices, name, "module:Class")``. ``choices``
is the attribute of ``espnet2.tasks.enh`` (``separator_choices``, ``loss_wrapper_choices``,
``criterion_choices``, ...); the class must subclass that choice's base type (``AbsSeparator``,
``AbsLossWrapper``, ``AbsEnhLoss``), which ESPnet's typeguard checks enforce anyway. Names must be
lower case (ESPnet looks them up as given, but lower-cases its own keys).
"""

from __future__ import annotations

import importlib

import espnet2.tasks.enh as enh_task

# (choices attribute of espnet2.tasks.enh, name in YAML, "module:Class")
REGISTRY: list[tuple[str, str, str]] = [
    ("separator_choices", "tfgridnet_pl", "tfgridnet_pl.model.separator:TFGridNetPL"),
    ("loss_wrapper_choices", "progressive", "tfgridnet_pl.model.pl_wrapper:ProgressiveLossWrapper"),
    ("criterion_choices", "hybrid", "tfgridnet_pl.model.hybrid_loss:HybridLoss"),
    ("criterion_choices", "pesq", "tfgridnet_pl.model.quality_criterion:QualityCriterion"),
    ("preprocessor_choices", "dns_mixing", "tfgridnet_pl.data.dns_mixing:DNSMixingPreprocessor"),
]

# ESPnet's EnhancementTask.build_preprocess_fn only knows its own preprocessors by name; ours are
# built from preprocessor_conf alone (no extra CLI options), and every other name goes to ESPnet.
OWN_PREPROCESSORS = {name for attr, name, _ in REGISTRY if attr == "preprocessor_choices"}


def _load(target: str) -> type:
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def register(entries: list[tuple[str, str, str]] | None = None) -> dict[str, type]:
    """Add ``entries`` (default :data:`REGISTRY`) to ESPnet's enh task; return ``{name: class}``.

    Idempotent. Raises ValueError for a mixed-case name, a class of the wrong base type, or a name
    that ESPnet (or an earlier entry) already uses for another class.
    """
    added = {}
    for choices_attr, name, target in REGISTRY if entries is None else entries:
        choices = getattr(enh_task, choices_attr)
        cls = _load(target)
        if name != name.lower():
            raise ValueError(f"register: {name!r} ({target}) must be lower case for ESPnet's ClassChoices")
        if choices.base_type is not None and not issubclass(cls, choices.base_type):
            base = choices.base_type.__name__
            raise ValueError(f"register: {target} must subclass {base} for {choices_attr}")
        known = choices.classes.get(name)
        if known is not None and known is not cls:
            where = f"{known.__module__}.{known.__name__}"
            raise ValueError(f"register: {choices_attr} already has {name!r} = {where}")
        choices.classes[name] = cls
        added[name] = cls
    return added


def _patch_build_preprocess_fn() -> None:
    task = enh_task.EnhancementTask
    if getattr(task.build_preprocess_fn, "_tfgridnet_pl", False):
        return
    stock = task.build_preprocess_fn.__func__

    def build_preprocess_fn(cls, args, train: bool):
        name = getattr(args, "preprocessor", None)
        if name in OWN_PREPROCESSORS:
            conf = args.preprocessor_conf or {}
            return enh_task.preprocessor_choices.get_class(name)(train=train, **conf)
        return stock(cls, args, train)

    build_preprocess_fn._tfgridnet_pl = True
    task.build_preprocess_fn = classmethod(build_preprocess_fn)


REGISTERED = register()
_patch_build_preprocess_fn()
