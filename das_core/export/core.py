"""`export_study`: run checkpoints on one study and write the "take it away" folder.

    <out>/picks.csv     one row per method and pick: method, checkpoint, rank, frame, model_frame, score
    <out>/picks.json    the same plus tau, each model's spec and run, the study, the settings, the date
    <out>/picks.png     the picked frames, one labelled row per checkpoint
    <out>/sequence.mp4  the study frame by frame, each method's picks marked (H.264)
    <out>/sequence.gif  the same as a looping GIF
    <out>/report.html   one self-contained page (images embedded)

The files are written into a temporary sibling folder (`.<out name>.*.tmp`), which is renamed whole to
<out> once every file is written (`das_core.atomic.atomic_dir`): <out> holds a complete export or none
(an earlier export there is replaced whole; a folder holding anything else is refused). On a failure the
temporary folder is removed and the error is one sentence (a full disk: "No space left on <out>: free
space or choose another folder."). The study itself is never copied.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import shutil
from pathlib import Path
from typing import Optional, Sequence, Union

import torch

from .. import __version__
from ..atomic import atomic_dir, atomic_write
from ..errors import ConfigError, DASError, DataError, DiskFullError, disk_full
from .cine import write_gif, write_mp4
from .draw import attention_image, picks_image
from .picks import ExportModel, SampleRun, load_export_models, run_models
from .report import png_bytes, report_html
from .settings import ARTEFACTS, ExportSettings
from .study import Study, study_from_file, study_from_tensor
from .tables import picks_csv, picks_document

__all__ = ["export_study", "check_settings", "settings_from", "prepare_out_dir", "write_export"]

Source = Union[str, os.PathLike, torch.Tensor, Study]
CheckpointLike = Union[str, os.PathLike, ExportModel]


def check_settings(settings: ExportSettings) -> ExportSettings:
    """ConfigError (one sentence) for a setting out of range; returns `settings`."""
    for name, low in (("volume_fps", 0.1), ("min_size", 1), ("max_size", 16), ("tile", 8), ("tiles_per_row", 1),
                      ("gif_max_frames", 1)):
        v = getattr(settings, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= low:
            raise ConfigError(f"Export setting {name} must be a number >= {low}, got {v!r}.")
    if settings.max_size < settings.min_size:
        raise ConfigError(f"Export setting max_size ({settings.max_size}) is below min_size ({settings.min_size}).")
    w = settings.window
    if w is not None and (len(w) != 2 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in w)
                          or not w[1] > 0):
        raise ConfigError(f"Export setting window must be two numbers LEVEL WIDTH with WIDTH > 0 (on the study's "
                          f"[0, 1] values, e.g. 0.5 0.3), got {w!r}.")
    return settings


def prepare_out_dir(out_dir: Union[str, os.PathLike], *, create: bool = True) -> Path:
    """The output folder, created where missing unless `create` is False (then only its parent is);
    ConfigError when it is a file or cannot be made, DiskFullError when the disk is full."""
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder; choose a folder for the export.")
    try:
        (out if create else out.parent).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        full = disk_full(err, out.parent)
        if full is not None:
            raise full from None
        raise ConfigError(f"The output folder {out} cannot be created ({err.strerror or type(err).__name__}); "
                          f"choose a writable folder.") from None
    return out


def _check_replaceable(out: Path) -> None:
    """ConfigError when folder `out` holds anything but the files of an export (renaming a new export onto
    it would remove them)."""
    try:
        others = sorted(p.name for p in out.iterdir() if p.name not in ARTEFACTS) if out.is_dir() else []
    except OSError as err:
        raise ConfigError(f"The output folder {out} cannot be read ({err.strerror or type(err).__name__}); "
                          f"choose a writable folder.") from None
    if others:
        raise ConfigError(f"The output folder {out} already holds other files ({', '.join(others[:3])}"
                          f"{', ...' if len(others) > 3 else ''}); choose a new or empty folder for the export.")


def _study(source: Source) -> Study:
    if isinstance(source, Study):
        return source
    if isinstance(source, torch.Tensor):
        return study_from_tensor(source)
    if isinstance(source, (str, os.PathLike)):
        return study_from_file(source)
    raise DataError(f"An export reads a file path, a (T, C, H, W) tensor or a Study, got {type(source).__name__}.")


def _models(checkpoints: Sequence[CheckpointLike]) -> list[ExportModel]:
    paths = [c for c in checkpoints if not isinstance(c, ExportModel)]
    loaded = iter(load_export_models(paths)) if paths else iter(())
    return [c if isinstance(c, ExportModel) else next(loaded) for c in checkpoints]


def write_export(out: Path, study: Study, results: Sequence[SampleRun], settings: ExportSettings,
                 created: str) -> dict[str, Path]:
    """Write every artefact of an export into `out` (each atomically; `export_study` gives it a temporary
    folder that becomes the export folder once all are written).

    Args:
        out: an existing folder.
        study: the study.
        results: the methods' picks (`run_models`).
        settings: the export settings.
        created: the export's date (ISO 8601).

    Returns:
        artefact name ("picks.csv", ...) -> its path.
    """
    written: dict[str, Path] = {}

    def text(name: str, content: str) -> None:
        with atomic_write(out / name, "w") as fh:
            fh.write(content)
        written[name] = out / name

    def binary(name: str, content: bytes) -> None:
        with atomic_write(out / name, "wb") as fh:
            fh.write(content)
        written[name] = out / name

    text("picks.csv", picks_csv(results))
    text("picks.json", json.dumps(picks_document(study, results, settings, created), indent=2) + "\n")
    picks_png = png_bytes(picks_image(study, results, tile=settings.tile, per_row=settings.tiles_per_row,
                                        window=settings.window))
    binary("picks.png", picks_png)
    written["sequence.mp4"] = write_mp4(out / "sequence.mp4", study, results, settings)
    written["sequence.gif"] = write_gif(out / "sequence.gif", study, results, settings)
    attention = attention_image(results, study.frame_word)
    versions = {"das_core": __version__, "torch": str(torch.__version__)}
    text("report.html", report_html(study, results, settings, picks_png=picks_png,
                                    attention_png=png_bytes(attention) if attention is not None else None,
                                    created=created, versions=versions))
    return written


def export_study(checkpoints: Sequence[CheckpointLike], source: Source, out_dir: Union[str, os.PathLike], *,
                 settings: Optional[ExportSettings] = None) -> dict[str, Path]:
    """Run each checkpoint on one study and write picks.csv, picks.json, picks.png, sequence.mp4,
    sequence.gif and report.html into `out_dir`.

    Args:
        checkpoints: checkpoint files (loaded with `das_core.load_model`) or `ExportModel`s (a model
            already in memory, e.g. the app's); one row per entry, in this order.
        source: a file `das_core.data.load_sequence` reads (volume, video, DICOM), a sequence
            (T, C, H, W) in [0, 1], or a `Study` (e.g. `study_from_dataset(name, index)`). Each model
            gets it resampled to its own T and frame size.
        out_dir: the export folder: written as a temporary sibling folder, then renamed to this name (an
            earlier export there is replaced whole; a folder holding other files is refused).
        settings: `ExportSettings` (default: its defaults).

    Returns:
        artefact name -> path written.

    Raises:
        DASError: one sentence for a missing or foreign checkpoint, a checkpoint for another channel
            count, an unreadable input, an --out that is a file or holds other files, a full disk
            (`DiskFullError`) or a write that failed; no export folder or temporary folder is left then.
    """
    settings = check_settings(settings or ExportSettings())
    out = prepare_out_dir(out_dir, create=False)
    _check_replaceable(out)
    models = _models(list(checkpoints))
    if not models:
        raise ConfigError("No checkpoint given; pass at least one checkpoint file.")
    study = _study(source)
    results = run_models(models, study, settings)
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    try:
        with atomic_dir(out) as tmp:
            written = write_export(tmp, study, results, settings, created)
    except Exception as err:  # atomic_dir removed the temporary folder
        if disk_full(err, out) is not None or _nearly_full(out.parent):  # ffmpeg's own errors do not say why
            raise DiskFullError(out) from err
        if isinstance(err, DASError):
            raise
        reason = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
        raise ConfigError(f"The export could not be written to {out} ({reason}); choose a writable folder "
                          f"with free space.") from err
    return {name: out / Path(path).name for name, path in written.items()}


def _nearly_full(folder: Path, margin: int = 1 << 20) -> bool:
    """True when `folder`'s file system has less than `margin` bytes free."""
    try:
        return shutil.disk_usage(folder).free < margin
    except OSError:
        return False


def settings_from(**values) -> ExportSettings:
    """`ExportSettings` of the given fields (unknown names: ConfigError)."""
    names = {f.name for f in dataclasses.fields(ExportSettings)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"Unknown export setting(s) {', '.join(unknown)}; choose from {', '.join(sorted(names))}.")
    return check_settings(ExportSettings(**values))
