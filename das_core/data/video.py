"""Video folder data sets: a folder of clips (or BUSV frame folders) -> ``(T, C, H, W)`` items.

Each clip is decoded once (``decode.decode_video`` or ``busv.decode_frame_folder``), resampled
to ``num_frames`` frames ``round(linspace(0, n-1, T))`` (short clips repeat frames), resized to
``size`` (whole frame, area averaging), converted to grayscale (default) or RGB, and stored in
the on-disk ``ClipCache`` as uint8, so later epochs read a small ``.npz`` instead of decoding.

Labels: see ``clips`` (manifest / folders / prefix, uncertain clips). Splits: see ``splits``;
a manifest ``split`` column or a BUSV split file is used as given unless ``num_folds`` is set.

Licences: ``train_licences=["CC BY 4.0", "CC BY 2.0"]`` lets only clips with one of those licences
into ``train``; every other clip (another licence, or none listed) is kept for ``val``/``test``, and
the trainable clips are held out only as far as val and test still need them (``splits``, the
``trainable`` rules). The licence of each clip comes from ``licence_manifest`` (default: ``manifest``
when given, else the first of ``manifest.csv``, ``labels.csv``, ``inventory.csv`` in the root, e.g.
the POCUS inventory); ``meta(i)["licence"]`` gives it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from das_core.errors import DataError

from .arrays import SizeLike, parse_size
from .base import SequenceDataset
from .busv import decode_frame_folder, discover_busv, frame_files, is_busv_layout
from .cache import ClipCache, cache_key
from .clips import Clip, discover_files, read_licences, same_licence
from .decode import decode_video
from .paths import PathLike
from .splits import SPLITS, make_splits

__all__ = ["VideoFolderDataset"]


class VideoFolderDataset(SequenceDataset):
    """A labelled folder of ultrasound clips.

    Args:
        root: the folder.
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        name: registry name shown in messages.
        num_frames: T (default 32).
        size: frame size, int or ``(H, W)`` (default 64).
        grayscale: C = 1 (default) or RGB C = 3.
        layout: ``"auto"`` (BUSV if the root holds frame folders and no videos), ``"files"``
            or ``"busv"``.
        manifest, label_from, include_uncertain, group_column, group_regex: see ``clips``.
        split_file: BUSV JSON split file (see ``busv``).
        classes: class names in label order; default: sorted label names.
        val_fraction, test_fraction, seed, num_folds, fold: see ``splits``.
        cache: keep decoded clips on disk (default True).
        cache_dir: cache folder; default ``$DAS_CACHE_DIR`` or ``~/.cache/das_explorer``.
        decode_timeout: seconds allowed to decode one clip.
        max_decoded_bytes: the decode cap per clip (default ``$DAS_DECODE_BUDGET_MB`` or 1 GiB; see ``budget``).
        task: short task text (default ``"multi-class"`` or ``"binary-class"``).
        train_licences: licences whose clips may be trained on (see the module docstring); None: all clips.
        licence_manifest: CSV with a file and a licence column (default: see the module docstring).
    """

    kind = "video"

    def __init__(self, root: PathLike, split: str = "train", *, name: str = "video-folder",
                 num_frames: int = 32, size: SizeLike = 64, grayscale: bool = True,
                 layout: str = "auto", manifest: Optional[PathLike] = None, label_from: str = "auto",
                 include_uncertain: bool = False, group_column: Optional[str] = None,
                 group_regex: Optional[str] = None, split_file: Optional[PathLike] = None,
                 classes: Optional[Sequence[str]] = None, val_fraction: float = 0.15,
                 test_fraction: float = 0.2, seed: int = 0, num_folds: Optional[int] = None,
                 fold: Optional[int] = None, cache: bool = True, cache_dir: Optional[PathLike] = None,
                 decode_timeout: float = 120.0, task: Optional[str] = None,
                 max_decoded_bytes: Optional[int] = None, train_licences: Optional[Sequence[str]] = None,
                 licence_manifest: Optional[PathLike] = None) -> None:
        self.root = _folder_root(root, name=name)
        self.name = name
        self.split = split
        _check_split(split, name=name)
        self._set_decode_options(num_frames=num_frames, size=size, grayscale=grayscale,
                                 decode_timeout=decode_timeout, max_decoded_bytes=max_decoded_bytes)
        self.layout = _resolve_layout(self.root, layout=layout, name=name)
        clips, given = _find_clips(self.root, layout=self.layout, split_file=split_file, manifest=manifest,
                                   label_from=label_from, include_uncertain=include_uncertain,
                                   group_column=group_column, group_regex=group_regex)
        self.classes = _class_names(clips, classes=classes, name=name)
        to_int = {c: i for i, c in enumerate(self.classes)}
        all_labels = [to_int[c.label] for c in clips]
        self.task = task or ("binary-class" if len(self.classes) == 2 else "multi-class")
        self.train_licences = _licence_list(train_licences, name)
        trainable = _trainable(clips, train_licences=self.train_licences, root=self.root,
                               licence_manifest=licence_manifest, manifest=manifest, name=name)
        idx = _split_indices(clips, labels=all_labels, split=split, given=given, trainable=trainable,
                             train_licences=self.train_licences, val_fraction=val_fraction,
                             test_fraction=test_fraction, seed=seed, num_folds=num_folds, fold=fold, name=name)
        self.clips: List[Clip] = [clips[int(i)] for i in idx]
        self.labels: List[int] = [all_labels[int(i)] for i in idx]
        self._cache = _open_cache(cache=cache, cache_dir=cache_dir)
        self._info: Dict[int, Dict[str, Any]] = {}

    def _set_decode_options(self, *, num_frames: int, size: SizeLike, grayscale: bool, decode_timeout: float,
                            max_decoded_bytes: Optional[int]) -> None:
        """Check ``num_frames`` and store the per-clip decode options (T, size, channels, timeout, cap)."""
        if num_frames is None or int(num_frames) < 1:
            raise DataError(f"num_frames={num_frames!r} for {self.name} must be a positive int; pass e.g. "
                            f"num_frames=32.")
        self.num_frames = int(num_frames)
        self.size = parse_size(size)
        self.grayscale = bool(grayscale)
        self.decode_timeout = float(decode_timeout)
        self.max_decoded_bytes = max_decoded_bytes

    def __len__(self) -> int:
        return len(self.clips)

    def _decode(self, i: int):
        clip = self.clips[i]
        opts = {"num_frames": self.num_frames, "size": list(self.size) if self.size else None,
                "grayscale": self.grayscale}
        key = None
        if self._cache is not None:
            extra = {}
            if clip.path.is_dir():
                fs = frame_files(clip.path)
                extra = {"n_files": len(fs), "last": fs[-1].name if fs else ""}
            key = cache_key(clip.path, **opts, **extra)
            hit = self._cache.get(key)
            if hit is not None:
                frames, info = hit
                return torch.from_numpy(frames), info
        if clip.path.is_dir():
            frames, info = decode_frame_folder(clip.path, self.num_frames, self.size, self.grayscale)
        else:
            frames, info = decode_video(clip.path, self.num_frames, self.size, self.grayscale,
                                        timeout_s=self.decode_timeout, max_decoded_bytes=self.max_decoded_bytes)
        if self._cache is not None and key is not None:
            try:
                self._cache.put(key, frames.numpy(), info)
            except OSError:
                pass  # a read-only or full cache folder only costs speed
        return frames, info

    def __getitem__(self, i: int):
        i = self._check_index(i)
        frames, info = self._decode(i)  # uint8 (T, C, H, W)
        self._info[i] = info
        x = frames.to(torch.float32).div_(255.0)
        return x, int(self.labels[i])

    def meta(self, i: int) -> Dict[str, Any]:
        """``source``, ``original_frames``, ``spacing`` (None), ``fps``, ``label_name``, ``uncertain``,
        ``frame_indices`` (decoded frames used), ``original_size``, ``group``, ``relative_path``.
        Decodes the clip (through the cache) when it was not loaded yet."""
        i = self._check_index(i)
        info = self._info.get(i)
        if info is None:
            _, info = self._decode(i)
            self._info[i] = info
        c = self.clips[i]
        return {"source": str(c.path), "relative_path": c.rel, "original_frames": info.get("original_frames"),
                "spacing": None, "fps": info.get("fps"), "original_size": info.get("original_size"),
                "frame_indices": info.get("frame_indices"), "label_name": c.label,
                "uncertain": c.uncertain, "group": c.group, "split": self.split, "licence": c.licence}


def _licence_list(value, name: str) -> Optional[List[str]]:
    """``train_licences`` as a list of licence texts, None when not set.

    A single string is refused rather than guessed at: it is a plain value, which a checkpoint's metadata
    may carry into ``evaluate`` (``engine.evaluate.data_request``), and the licence list decides which
    files are read for licences."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise DataError(f"train_licences={value!r} for {name} must be a list of licences; pass e.g. "
                        f"train_licences=['CC BY 4.0', 'CC BY 2.0'] (--train-licences 'CC BY 4.0' 'CC BY 2.0').")
    out = [str(v).strip() for v in value]
    if not out or not all(out):
        raise DataError(f"train_licences={value!r} for {name} names no licence; pass e.g. "
                        f"train_licences=['CC BY 4.0', 'CC BY 2.0'].")
    return out


def _licence_source(root: Path, licence_manifest, manifest, name: str) -> Path:
    """The CSV the clips' licences are read from (see the module docstring)."""
    if licence_manifest is not None:
        return Path(licence_manifest)
    if manifest is not None:
        return Path(manifest)
    found = next((root / n for n in ("manifest.csv", "labels.csv", "inventory.csv") if (root / n).is_file()), None)
    if found is None:
        raise DataError(f"train_licences for {name} needs a CSV of each clip's licence and {root.name} has none; "
                        f"pass licence_manifest=<csv with columns file,licence>.")
    return found


def _folder_root(root: Optional[PathLike], *, name: str) -> Path:
    """``root`` as an existing folder (``~`` expanded); DataError when it is None or not a folder."""
    if root is None:
        raise DataError(f"{name} needs a folder of videos; pass root=<folder>.")
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise DataError(f"video folder {str(folder)!r} does not exist; pass root=<folder of videos>.")
    return folder


def _check_split(split: str, *, name: str) -> None:
    """DataError unless ``split`` is one of ``SPLITS`` or ``"all"``."""
    if split not in SPLITS + ("all",):
        raise DataError(f"split={split!r} for {name} is unknown; pass one of 'train', 'val', 'test', 'all'.")


def _resolve_layout(root: Path, *, layout: str, name: str) -> str:
    """``"files"`` or ``"busv"``: ``layout`` with ``"auto"`` decided by the folder; DataError for another value."""
    if layout == "auto":
        layout = "busv" if is_busv_layout(root) else "files"
    if layout not in ("files", "busv"):
        raise DataError(f"layout={layout!r} for {name} is unknown; pass 'auto', 'files' or 'busv'.")
    return layout


def _find_clips(root: Path, *, layout: str, split_file: Optional[PathLike], manifest: Optional[PathLike],
                label_from: str, include_uncertain: bool, group_column: Optional[str],
                group_regex: Optional[str]) -> Tuple[List[Clip], bool]:
    """``(clips, given)``: the labelled clips of the folder and whether every one comes with its split."""
    if layout == "busv":
        return discover_busv(root, Path(split_file) if split_file else None)
    clips = discover_files(root, manifest=Path(manifest) if manifest else None,
                           label_from=label_from, include_uncertain=include_uncertain,
                           group_column=group_column, group_regex=group_regex)
    return clips, all(c.split for c in clips)


def _class_names(clips: List[Clip], *, classes: Optional[Sequence[str]], name: str) -> List[str]:
    """Class names in label order: ``classes`` (which must hold every label) or the sorted labels."""
    names = sorted({c.label for c in clips})
    if classes is None:
        return names
    out = [str(c) for c in classes]
    missing = sorted(set(names) - set(out))
    if missing:
        raise DataError(f"{name} has labels {missing} that are not in classes={out}; "
                        f"add them to classes.")
    return out


def _trainable(clips: List[Clip], *, train_licences: Optional[List[str]], root: Path, licence_manifest,
               manifest, name: str) -> Optional[List[bool]]:
    """Per clip, whether its licence is one of ``train_licences`` (sets ``clip.licence``); None when not set."""
    if train_licences is None:
        return None
    source = _licence_source(root, licence_manifest, manifest, name)
    licences = read_licences(source)
    for c in clips:
        c.licence = licences.get(c.rel)
    trainable = [any(same_licence(c.licence, t) for t in train_licences) for c in clips]
    if not any(trainable):
        raise DataError(f"no clip of {name} has one of the licences {train_licences} in {source.name}; "
                        f"check the spelling against its licence column.")
    return trainable


def _split_indices(clips: List[Clip], *, labels: List[int], split: str, given: bool,
                   trainable: Optional[List[bool]], train_licences: Optional[List[str]], val_fraction: float,
                   test_fraction: float, seed: int, num_folds: Optional[int], fold: Optional[int],
                   name: str) -> np.ndarray:
    """Positions in ``clips`` of ``split``: every clip, the given split, or the one ``make_splits`` makes."""
    if split == "all":
        return np.arange(len(clips))
    if given and num_folds is None:
        return _given_split_indices(clips, labels=labels, split=split, trainable=trainable,
                                    train_licences=train_licences, val_fraction=val_fraction, seed=seed, name=name)
    groups = [c.group or c.rel for c in clips] if any(c.group for c in clips) else None
    return make_splits(labels, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
                       groups=groups, num_folds=num_folds, fold=fold, name=name, trainable=trainable)[split]


def _given_split_indices(clips: List[Clip], *, labels: List[int], split: str, trainable: Optional[List[bool]],
                         train_licences: Optional[List[str]], val_fraction: float, seed: int,
                         name: str) -> np.ndarray:
    """Positions of ``split`` as the clips give it; val cut from train when no clip is given as val."""
    if trainable is not None:
        _check_given_train(clips, trainable=trainable, train_licences=train_licences)
    if not any(c.split == "val" for c in clips) and split in ("train", "val"):
        train_pos = np.array([i for i, c in enumerate(clips) if c.split == "train"], dtype=np.int64)
        sub = make_splits([labels[i] for i in train_pos], val_fraction=val_fraction,
                          test_fraction=0.0, seed=seed, name=name)
        return train_pos[sub["val" if split == "val" else "train"]]
    return np.array([i for i, c in enumerate(clips) if c.split == split], dtype=np.int64)


def _check_given_train(clips: List[Clip], *, trainable: List[bool], train_licences: Optional[List[str]]) -> None:
    """DataError when the given split puts a clip in train that ``train_licences`` keeps out of it."""
    bad = next((c for c, ok in zip(clips, trainable) if c.split == "train" and not ok), None)
    if bad is not None:
        raise DataError(f"the given split puts {bad.rel} (licence {bad.licence!r}) in train, which "
                        f"train_licences={train_licences} forbids; move it to val/test or pass "
                        f"num_folds.")


def _open_cache(*, cache: bool, cache_dir: Optional[PathLike]) -> Optional[ClipCache]:
    """The on-disk clip cache (stale temp files cleaned), or None when ``cache`` is off."""
    if not cache:
        return None
    clip_cache = ClipCache(cache_dir)
    clip_cache.clean_stale_temp()  # leftovers of writes a crash or a kill cut short (older than an hour)
    return clip_cache
