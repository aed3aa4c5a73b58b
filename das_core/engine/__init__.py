"""The training engine, in small parts:

    config.py           TrainConfig: every setting of a run and its default
    setup.py            device, seeds, data, ModelSpec, loss and loaders
    loop.py             one training epoch; the evaluation pass
    early_stopping.py   EarlyStopping: best epoch and when to stop (state_dict for resume)
    checkpointing.py    best.pt / last.pt per epoch, resume, test metrics into best.pt
    trainer.py          fit(config): the phases in order, and the summary
    evaluate.py         evaluate_checkpoint(path)
"""

from .config import TrainConfig
from .early_stopping import EarlyStopping
from .evaluate import evaluate_checkpoint
from .trainer import fit
from .loop import StopTraining, evaluate_model
from .setup import build_model_for, load_splits, model_spec_for, resolve_device

__all__ = ["TrainConfig", "fit", "evaluate_checkpoint", "evaluate_model", "EarlyStopping", "StopTraining",
           "build_model_for", "model_spec_for", "load_splits", "resolve_device"]
