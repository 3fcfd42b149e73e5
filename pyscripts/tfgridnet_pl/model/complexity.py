"""Parameters and multiply-accumulates (MACs) of an enhancement model, as ESPnet builds it.

The model is built from a training YAML (a ``conf/tuning`` file or an experiment's ``config.yaml``)
through ``EnhancementTask``, with ESPnet's own defaults for every key the YAML leaves out, so the
numbers are those of the model that is trained.

MACs are counted with ``torch.utils.flop_counter.FlopCounterMode`` over one second of audio
(MACs = FLOPs / 2). The CPU LSTM runs as one fused oneDNN (mkldnn) kernel that the counter does not
see, so LSTMs are counted with the closed formula of :func:`lstm_macs`, which equals what the counter
finds with oneDNN off (checked in tests/test_complexity.py). What is counted: convolutions and matrix
products (LSTM gates, linear layers, attention); not the STFT, normalisations or activations.
Two graphs are measured: training mode (with PL's intermediate heads) and eval mode (what decoding runs).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import tfgridnet_pl.register  # noqa: F401  (our separator, wrapper and criterion, for the YAML's names)


def lstm_macs(lstm: nn.LSTM, x: torch.Tensor) -> int:
    """MACs of ``lstm`` on input ``x``: ``batch * steps * directions * sum_l 4 H (I_l + H)``.

    Per step and direction, each of the 4 gates multiplies the layer input (``I_l`` values) and the
    previous hidden state (``H``) by its weights. Bias additions are not counted (as for ``addmm``).
    """
    if lstm.proj_size:
        raise ValueError("lstm_macs: LSTMs with proj_size are not supported")
    if x.dim() == 2:  # unbatched [L, I]
        batch, steps = 1, x.shape[0]
    else:
        batch, steps = (x.shape[0], x.shape[1]) if lstm.batch_first else (x.shape[1], x.shape[0])
    hidden, dirs = lstm.hidden_size, 2 if lstm.bidirectional else 1
    per_step = sum(
        4 * hidden * ((lstm.input_size if layer == 0 else hidden * dirs) + hidden)
        for layer in range(lstm.num_layers)
    )
    return batch * steps * dirs * per_step


def count_macs(fn: Callable[[], object], model: nn.Module) -> tuple[int, dict[str, int]]:
    """Run ``fn()`` (a forward pass of ``model``) without gradients; return (MACs, MACs per op).

    Matrix products and convolutions are counted by ``FlopCounterMode``. The fused oneDNN CPU
    LSTM kernel is invisible to it, so every ``nn.LSTM`` of ``model`` whose call the counter did
    not see is counted with :func:`lstm_macs` (op name ``lstm``). This equals the count with oneDNN
    switched off (``torch.backends.mkldnn.flags(enabled=False)``, as tests/test_complexity.py
    checks), at a fraction of the time.
    """
    calls: list[tuple[str, int]] = []
    names = {module: name for name, module in model.named_modules()}
    hooks = [
        module.register_forward_hook(
            lambda mod, inputs, _out: calls.append((names[mod], lstm_macs(mod, inputs[0])))
        )
        for module in model.modules()
        if isinstance(module, nn.LSTM)
    ]
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            fn()
    finally:
        for hook in hooks:
            hook.remove()
    counts = counter.get_flop_counts()
    by_op: dict[str, int] = {}
    for op, flops in counts.get("Global", {}).items():
        name = str(op).replace("aten.", "")
        by_op[name] = by_op.get(name, 0) + flops // 2
    total = counter.get_total_flops() // 2
    for name, macs in calls:
        seen = any(key.endswith(f".{name}") and sum(ops.values()) for key, ops in counts.items())
        if not seen:
            by_op["lstm"] = by_op.get("lstm", 0) + macs
            total += macs
    return total, by_op


def build_enh_model(config: str | os.PathLike) -> torch.nn.Module:
    """Build the ESPnet enhancement model that ``config`` describes (no weights loaded).

    ``config`` is a training YAML (keys it leaves out take ESPnet's defaults, as with
    ``enh_train --config``) or the ``config.yaml`` that ESPnet saves in an experiment folder.
    """
    import argparse

    import yaml
    from espnet2.tasks.enh import EnhancementTask

    config = Path(config)
    if not config.is_file():
        raise FileNotFoundError(f"{config}: no such config file")
    conf = yaml.safe_load(config.read_text(encoding="utf-8"))
    if not isinstance(conf, dict):
        raise ValueError(f"{config}: expected a YAML mapping of training options")
    defaults = vars(EnhancementTask.get_parser().parse_args([]))
    args = argparse.Namespace(**{**defaults, **conf})
    try:
        return EnhancementTask.build_model(args)
    except (KeyError, TypeError, ValueError) as e:  # unknown class names, bad or missing *_conf keys
        raise ValueError(f"{config}: cannot build the model: {e}") from e


def model_complexity(model: torch.nn.Module, fs: int = 16000, seconds: float = 1.0) -> dict:
    """Parameters and GMAC per second of audio of ``model`` (an ESPnetEnhancementModel)."""
    n_samples = int(round(fs * seconds))
    speech = torch.randn(1, n_samples) * 0.1
    lengths = torch.tensor([n_samples])
    separator = model.separator
    training_only = getattr(separator, "training_only_parameters", lambda: iter(()))
    params = sum(p.numel() for p in model.parameters())
    params_train_only = sum(p.numel() for p in training_only())
    was_training = model.training
    try:
        model.train()
        macs_train, ops_train = count_macs(lambda: model.forward_enhance(speech, lengths), model)
        model.eval()
        macs_inf, ops_inf = count_macs(lambda: model.forward_enhance(speech, lengths), model)
    finally:
        model.train(was_training)
    return {
        "params": params,
        "params_inference": params - params_train_only,
        "gmacs_per_s_train": macs_train / 1e9 / seconds,
        "gmacs_per_s_inference": macs_inf / 1e9 / seconds,
        "gmacs_per_s_by_op_train": {k: v / 1e9 / seconds for k, v in sorted(ops_train.items())},
        "gmacs_per_s_by_op_inference": {k: v / 1e9 / seconds for k, v in sorted(ops_inf.items())},
        "fs": fs,
    }


def config_complexity(config: str | os.PathLike, fs: int = 16000) -> dict:
    """:func:`model_complexity` of the model built from ``config``, with ``config`` recorded."""
    result = model_complexity(build_enh_model(config), fs=fs)
    result["config"] = str(config)
    return result


def summary_line(result: dict) -> str:
    """One line for logs: parameters (training / inference) and GMAC/s of both graphs."""
    return (
        f"{result['config']}: {result['params'] / 1e6:.3f} M params "
        f"({result['params_inference'] / 1e6:.3f} M at inference), "
        f"{result['gmacs_per_s_train']:.2f} GMAC/s training graph, "
        f"{result['gmacs_per_s_inference']:.2f} GMAC/s inference graph"
    )
