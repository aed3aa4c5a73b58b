"""Command-line flags generated from the settings dataclasses, and back.

`add_dataclass_args(parser, TrainConfig)` adds one flag per field (`--batch-size` for `batch_size`,
or the field's `metadata["flag"]`), typed from the annotation, with the field's help and default
in the help text. Flags default to "not given" (argparse.SUPPRESS), so `given(args, TrainConfig)`
returns only what the user typed: those values override a `--config` file or the dataclass's own
defaults, which stay the only defaults. `to_argv(config)` turns a config back into the flags that
re-create it (the command lines in the checkpoint manifest).

The data flags (`--frames`, `--size`, `--moving/--fixed`, `--train-licences`, ...) fill `dataset_options`.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import typing
from typing import Any, Iterable

from .errors import ConfigError

__all__ = ["option", "add_dataclass_args", "given", "add_data_args", "dataset_options_from_args", "to_argv", "key_values"]

# flag -> dataset_options key, for the data options that have their own flag
DATA_FLAGS = {"frames": "num_frames", "size": "size", "fold": "fold", "num_folds": "num_folds",
              "num_samples": "num_samples"}
_DATA_HELP = {"frames": "T: frames per sequence (synthetic/video sets)", "size": "frame size H = W (28 or 64 for MedMNIST)",
              "fold": "cross-validation fold (video sets)", "num_folds": "number of folds (video sets)",
              "num_samples": "synthetic: items per data set"}


def option(default: Any, help: str, **meta: Any):
    """A dataclass field whose metadata carries its CLI help (and optional `flag`, `choices`, `cli=False`), as
    `add_dataclass_args` reads them; a list or dict default is copied for each instance."""
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata={"help": help, **meta})
    return dataclasses.field(default=default, metadata={"help": help, **meta})


def _flag(f: dataclasses.Field) -> str:
    return "--" + f.metadata.get("flag", f.name.replace("_", "-"))


def _base_type(tp) -> Any:
    """int for Optional[int], etc."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if typing.get_origin(tp) is typing.Union and len(args) == 1 else tp


def _fields(cls, exclude: Iterable[str]) -> list[tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    skip = set(exclude)
    return [(f, _base_type(hints[f.name])) for f in dataclasses.fields(cls)
            if f.name not in skip and f.metadata.get("cli", True) and "help" in f.metadata]


def _default_text(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return "" if f.default is None else f" (default: {f.default})"
    return ""


def _choices(f: dataclasses.Field):
    """A field's choices: a sequence, or a function returning one (a registry, read when the parser is built)."""
    choices = f.metadata.get("choices")
    return tuple(choices()) if callable(choices) else choices


def add_dataclass_args(parser, cls, *, exclude: Iterable[str] = ()) -> None:
    """One flag per field of `cls` that has help metadata (see the module docstring). A field's metadata may
    also give `choices` (a sequence, or a function returning one, called now: a registry's names), `type` (the
    converter argparse applies, e.g. a name normaliser) and `metavar`."""
    for f, tp in _fields(cls, exclude):
        flag, text = _flag(f), f.metadata["help"] + _default_text(f)
        choices = _choices(f)
        if callable(f.metadata.get("choices")):  # a registry's names: listed in the help, the usage says NAME
            text += "; one of: " + ", ".join(map(str, choices))
        kw: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": text}
        if "metavar" in f.metadata:
            kw["metavar"] = f.metadata["metavar"]
        if tp is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif tp is dict:
            parser.add_argument(flag, action="append", **{**kw, "help": text + "; repeatable", "metavar": "KEY=VALUE"})
        elif typing.get_origin(tp) is list:
            item = typing.get_args(tp)[0] if typing.get_args(tp) else str
            parser.add_argument(flag, nargs="+", type=f.metadata.get("type", item), choices=choices, **kw)
        else:
            parser.add_argument(flag, type=f.metadata.get("type", tp), choices=choices, **kw)


def key_values(items: Iterable[str], flag: str) -> dict:
    """["a=1", "b=x"] -> {"a": 1, "b": "x"} (values parsed as JSON where they are JSON)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"{flag} expects KEY=VALUE, got {item!r}; for example {flag} extent=3.")
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def given(args: argparse.Namespace, cls, *, exclude: Iterable[str] = ()) -> dict:
    """The fields of `cls` the user gave on the command line (dict fields parsed from KEY=VALUE)."""
    out = {}
    for f, tp in _fields(cls, exclude):
        if hasattr(args, f.name):
            v = getattr(args, f.name)
            out[f.name] = key_values(v, _flag(f)) if tp is dict else v
    return out


def add_data_args(parser, *, dataset: bool = False) -> None:
    """The flags that fill `dataset_options` (and `--dataset`/`--root` where the command has no config)."""
    if dataset:
        from .data import dataset_names
        from .data.registry import dataset_key

        names = dataset_names()  # the registry when the parser is built: a data set registered before counts
        parser.add_argument("--dataset", default=None, type=dataset_key, choices=names, metavar="NAME",
                            help="data set name (default: the checkpoint's own); one of: " + ", ".join(names))
        parser.add_argument("--root", default=None, help="data folder or file, where the data set needs one (never "
                                                         "taken from the checkpoint)")
    for flag, text in _DATA_HELP.items():
        parser.add_argument("--" + flag.replace("_", "-"), dest=flag, type=int, default=None, help=text)
    mv = parser.add_mutually_exclusive_group()
    mv.add_argument("--moving", dest="moving", action="store_true", default=None,
                    help="synthetic: the informative structure moves between samples")
    mv.add_argument("--fixed", dest="moving", action="store_false", help="synthetic: the structure stays at fixed frames")
    parser.add_argument("--train-licences", dest="train_licences", nargs="+", default=None, metavar="LICENCE",
                        help="video sets: only clips with one of these licences (the manifest's licence column, "
                             "e.g. \"CC BY 4.0\") enter train; the others are kept for val/test")
    parser.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                        help="any other load_dataset option (JSON value), repeatable")


def dataset_options_from_args(args: argparse.Namespace) -> dict:
    """The `dataset_options` of the data flags (unset ones are left out)."""
    opts = {key: getattr(args, flag) for flag, key in DATA_FLAGS.items() if getattr(args, flag, None) is not None}
    if getattr(args, "moving", None) is not None:
        opts["moving"] = args.moving
    if getattr(args, "train_licences", None):
        opts["train_licences"] = list(args.train_licences)
    opts.update(key_values(getattr(args, "data_option", []), "--data-option"))
    return opts


def to_argv(config, *, exclude: Iterable[str] = ()) -> list[str]:
    """The flags that re-create `config` from the dataclass's defaults (fields equal to their default are left out)."""
    argv: list[str] = []
    default = type(config)()
    for f, tp in _fields(type(config), exclude):
        v = getattr(config, f.name)
        if v == getattr(default, f.name) or v is None:
            continue
        if tp is bool:
            argv.append(_flag(f) if v else "--no-" + _flag(f)[2:])
        elif tp is dict:
            for k, item in v.items():
                argv += [_flag(f), f"{k}={json.dumps(item)}"]
        elif isinstance(v, list):
            argv += [_flag(f), *map(str, v)]
        else:
            argv += [_flag(f), f"{v:g}" if isinstance(v, float) else str(v)]
    options = dict(getattr(config, "dataset_options", None) or {})
    for flag, key in DATA_FLAGS.items():
        if key in options:
            argv += ["--" + flag.replace("_", "-"), str(options.pop(key))]
    if "moving" in options:
        argv.append("--moving" if options.pop("moving") else "--fixed")
    licences = options.pop("train_licences", None)
    if isinstance(licences, list) and licences and all(isinstance(v, str) for v in licences):
        argv += ["--train-licences", *licences]
    elif licences is not None:
        options["train_licences"] = licences
    for k, item in options.items():
        argv += ["--data-option", f"{k}={json.dumps(item)}"]
    return argv

