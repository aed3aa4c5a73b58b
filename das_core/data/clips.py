"""Find the clips of a video folder and their labels (CSV manifest, sub-folders or file-name prefix).

Label sources (``label_from``):
  * ``"manifest"``: a CSV with a header and columns ``file`` and ``label`` (``path``/``filename``
    and ``class`` are accepted too); ``file`` is relative to the data root. Optional columns:
    a group column (``group_column=``, e.g. a patient id) and ``split`` (train/val/test, used
    as given). Every clip in the folder must have a row with a label, and every row's file
    must exist, else ``DataError``.
  * ``"folder"``: the first folder below the root is the class (``root/<class>/clip.mp4``).
  * ``"prefix"``: the file-name part before the first ``-`` or ``_`` (POCUS: ``Cov``, ``Pneu``,
    ``Reg``, ``Vir``). Prefixes are compared case-insensitively and named by their most
    frequent spelling (so ``pneu-radiopaeda.mp4`` is ``Pneu``).
  * ``"auto"`` (default): ``manifest`` when ``manifest=`` is given or the root holds
    ``manifest.csv`` / ``labels.csv``; else ``folder`` when every clip sits exactly one folder
    deep and there are at least two such folders; else ``prefix``.

Uncertain labels: a clip whose path has a folder named like ``*uncertain*`` or whose name looks
like ``A_or_B_...`` (POCUS ``linear/label_uncertain/Vir_or_Pneu_prospective_file4.mp4``) is
excluded by default; ``include_uncertain=True`` keeps it with the label its prefix/folder/
manifest gives (``Vir`` for the POCUS clip) and marks it ``uncertain`` in ``meta``.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from das_core.errors import DataError

from .decode import is_video_file

__all__ = ["Clip", "discover_files", "prefix_of", "is_uncertain", "read_licences", "same_licence"]

_UNCERTAIN_NAME = re.compile(r"^[A-Za-z]+_or_[A-Za-z]+", re.IGNORECASE)


@dataclass
class Clip:
    """One clip: a video file or (BUSV) a folder of frame images."""

    path: Path
    rel: str  # path relative to the data root, posix style; the clip's id
    label: Optional[str]
    group: Optional[str] = None
    split: Optional[str] = None
    uncertain: bool = False
    licence: Optional[str] = None  # from a licence CSV (``read_licences``), where one is used


def prefix_of(name: str) -> str:
    """File-name prefix before the first ``-`` or ``_`` (extension stripped)."""
    stem = Path(name).stem
    return re.split(r"[-_]", stem, maxsplit=1)[0]


def is_uncertain(rel: str) -> bool:
    """True for ``*uncertain*`` folders or ``A_or_B`` file names."""
    parts = rel.split("/")
    if any("uncertain" in p.lower() for p in parts[:-1]):
        return True
    return bool(_UNCERTAIN_NAME.match(Path(parts[-1]).stem))


def _read_manifest(path: Path, group_column: Optional[str]) -> Dict[str, Dict[str, str]]:
    if not path.is_file():
        raise DataError(f"manifest {path.name} does not exist; pass manifest=<csv with columns file,label>.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"manifest {path.name} cannot be read as CSV ({type(e).__name__}); "
                        f"save it as UTF-8 CSV with columns file,label.") from None
    if not rows:
        raise DataError(f"manifest {path.name} has no rows; add one row file,label per clip.")
    cols = {c.strip().lower(): c for c in rows[0].keys() if c is not None}
    fcol = next((cols[c] for c in ("file", "path", "filename") if c in cols), None)
    lcol = next((cols[c] for c in ("label", "class") if c in cols), None)
    if fcol is None or lcol is None:
        raise DataError(f"manifest {path.name} needs columns file and label (it has {list(rows[0].keys())}); "
                        f"rename its header.")
    gcol = None
    if group_column is not None:
        gcol = cols.get(group_column.strip().lower())
        if gcol is None:
            raise DataError(f"manifest {path.name} has no group column {group_column!r}; "
                            f"pass one of {list(rows[0].keys())}.")
    scol = cols.get("split")
    out: Dict[str, Dict[str, str]] = {}
    for row in rows:
        f = (row.get(fcol) or "").strip().replace("\\", "/")
        if not f:
            continue
        out[f] = {"label": (row.get(lcol) or "").strip(),
                  "group": (row.get(gcol) or "").strip() if gcol else "",
                  "split": (row.get(scol) or "").strip().lower() if scol else ""}
    return out


def _read_rows(path: Path, what: str) -> list:
    if not path.is_file():
        raise DataError(f"{what} {path.name} does not exist; pass a CSV file that exists.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{what} {path.name} cannot be read as CSV ({type(e).__name__}); "
                        f"save it as UTF-8 CSV.") from None


def read_licences(path: Path) -> Dict[str, str]:
    """Relative clip path -> licence text, from a CSV with a file column and a licence column.

    Raises:
        DataError: the file is missing or unreadable, or has no file or no licence column.
    """
    path = Path(path)
    rows = _read_rows(path, "licence manifest")
    header = [c for c in (rows[0].keys() if rows else []) if c is not None]
    cols = {c.strip().lower(): c for c in header}
    fcol = next((cols[c] for c in ("file", "path", "filename", "local_path") if c in cols), None)
    lcol = next((cols[c] for c in ("licence", "license") if c in cols), None)
    if lcol is None:
        raise DataError(f"manifest {path.name} has no licence column (it has {header}), so train_licences cannot "
                        f"tell which clips may be trained on; add a 'licence' column or pass another licence_manifest.")
    if fcol is None:
        raise DataError(f"manifest {path.name} has no file column (it has {header}); name the column of relative "
                        f"clip paths 'file'.")
    out: Dict[str, str] = {}
    for row in rows:
        f = (row.get(fcol) or "").strip().replace("\\", "/")
        while f.startswith("./"):
            f = f[2:]
        if f:
            out[f] = (row.get(lcol) or "").strip()
    return out


def same_licence(a: Optional[str], b: Optional[str]) -> bool:
    """Licence texts compared case- and whitespace-insensitively ("CC BY 4.0" == "cc by  4.0", != "CC BY-NC 4.0")."""
    if a is None or b is None:
        return False
    return " ".join(a.split()).lower() == " ".join(b.split()).lower()


def _video_files(root: Path) -> List[Path]:
    """The video files under the folder ``root`` (recursively, by relative path); DataError when none."""
    if not root.is_dir():
        raise DataError(f"video folder {str(root)!r} does not exist; pass root=<folder of videos>.")
    files = sorted((p for p in root.rglob("*") if p.is_file() and is_video_file(p)),
                   key=lambda p: p.relative_to(root).as_posix())
    if not files:
        raise DataError(f"no video files (mp4/avi/mov/mpeg/gif) found under {root.name}; "
                        f"check the folder or pass another root.")
    return files


def _label_source(*, root: Path, rels: List[str], manifest: Optional[Path], label_from: str,
                  group_column: Optional[str]) -> Tuple[str, Optional[Path]]:
    """``(label_from, manifest)`` with ``"auto"`` and a default manifest resolved (module docstring); checked."""
    if manifest is None and label_from in ("auto", "manifest"):
        manifest = next((root / n for n in ("manifest.csv", "labels.csv") if (root / n).is_file()), None)
    if label_from == "auto":
        if manifest is not None:
            label_from = "manifest"
        else:
            depth1 = all(r.count("/") == 1 for r in rels)
            label_from = "folder" if depth1 and len({r.split("/")[0] for r in rels}) >= 2 else "prefix"
    if label_from not in ("manifest", "folder", "prefix"):
        raise DataError(f"label_from={label_from!r} is unknown; pass 'auto', 'manifest', 'folder' or 'prefix'.")
    if group_column is not None and label_from != "manifest":
        raise DataError("group_column needs a manifest CSV; pass manifest=<csv> or use group_regex instead.")
    return label_from, manifest


def _manifest_rows(*, root: Path, manifest: Optional[Path], group_column: Optional[str]
                   ) -> Dict[str, Dict[str, str]]:
    """The manifest's rows by relative path (``_read_manifest``); DataError when missing or a row's file is."""
    if manifest is None:
        raise DataError(f"label_from='manifest' but {root.name} has no manifest.csv; pass manifest=<csv>.")
    manifest = Path(manifest)
    rows = _read_manifest(manifest, group_column)
    for f in rows:
        if not (root / f).is_file():
            raise DataError(f"manifest {manifest.name} lists {f!r}, which is not in {root.name}; "
                            f"fix the path or remove the row.")
    return rows


def _manifest_label(*, rel: str, rows: Dict[str, Dict[str, str]], manifest: Path
                    ) -> Tuple[str, Optional[str], Optional[str]]:
    """``(label, group, split)`` of clip ``rel`` from the manifest rows; DataError when unlabelled or bad split."""
    row = rows.get(rel)
    if row is None or not row["label"]:
        raise DataError(f"{rel} has no label in manifest {Path(manifest).name}; add a row "
                        f"'{rel},<label>' or remove the file.")
    split = row["split"] or None
    if split is not None and split not in ("train", "val", "test"):
        raise DataError(f"manifest {Path(manifest).name} gives split {split!r} for {rel}; "
                        f"use train, val or test.")
    return row["label"], row["group"] or None, split


def _folder_label(rel: str) -> str:
    """The class folder of clip ``rel`` (its first path part); DataError when it sits in the root."""
    label = rel.split("/")[0] if "/" in rel else None
    if label is None:
        raise DataError(f"{rel} is not inside a class folder; move it to <root>/<class>/ or use a manifest.")
    return label


def _prefix_label(*, path: Path, rel: str) -> str:
    """The file-name prefix of clip ``path`` (``prefix_of``); DataError when it is empty."""
    label = prefix_of(path.name)
    if not label:
        raise DataError(f"{rel} has no label prefix before '-' or '_'; rename it or use a manifest.")
    return label


def _regex_group(rx: re.Pattern, rel: str) -> str:
    """The group ``rx`` gives clip ``rel``: its first capture group, else the whole match, else ``rel`` itself."""
    m = rx.search(rel)
    return (m.group(1) if m.groups() else m.group(0)) if m else rel


def _make_clip(*, path: Path, rel: str, uncertain: bool, label_from: str, rows: Dict[str, Dict[str, str]],
               manifest: Optional[Path], rx: Optional[re.Pattern]) -> Clip:
    """The ``Clip`` of one file, labelled by ``label_from``; grouped by ``rx`` when given (over the manifest)."""
    split = None
    group = None
    if label_from == "manifest":
        label, group, split = _manifest_label(rel=rel, rows=rows, manifest=manifest)
    elif label_from == "folder":
        label = _folder_label(rel)
    else:
        label = _prefix_label(path=path, rel=rel)
    if rx is not None:
        group = _regex_group(rx, rel)
    return Clip(path, rel, label, group, split, uncertain)


def _canonical_prefixes(clips: List[Clip]) -> None:
    """Rename each clip's label to the most frequent spelling of it, compared case-insensitively (in place)."""
    spell: Dict[str, Counter] = {}
    for c in clips:
        spell.setdefault(c.label.lower(), Counter())[c.label] += 1
    canon = {k: v.most_common(1)[0][0] for k, v in spell.items()}
    for c in clips:
        c.label = canon[c.label.lower()]


def discover_files(root: Path, *, manifest: Optional[Path] = None, label_from: str = "auto",
                   include_uncertain: bool = False, group_column: Optional[str] = None,
                   group_regex: Optional[str] = None) -> List[Clip]:
    """List the video files under ``root`` (recursively, sorted) with their labels.

    Args:
        root: the folder.
        manifest: CSV with columns file,label (see module docstring); auto-detected if None.
        label_from: ``"auto"``, ``"manifest"``, ``"folder"`` or ``"prefix"``.
        include_uncertain: keep clips with uncertain labels (see module docstring).
        group_column: manifest column with a group (patient) id.
        group_regex: regex applied to the relative path; group = first capture group (or the
            whole match); clips that do not match form their own group.

    Returns:
        Clips sorted by relative path.
    """
    root = Path(root)
    files = _video_files(root)
    rels = [p.relative_to(root).as_posix() for p in files]
    label_from, manifest = _label_source(root=root, rels=rels, manifest=manifest, label_from=label_from,
                                         group_column=group_column)
    rows: Dict[str, Dict[str, str]] = {}
    if label_from == "manifest":
        rows = _manifest_rows(root=root, manifest=manifest, group_column=group_column)
    rx = re.compile(group_regex) if group_regex else None
    clips: List[Clip] = []
    for p, rel in zip(files, rels):
        uncertain = is_uncertain(rel)
        if uncertain and not include_uncertain:
            continue
        clips.append(_make_clip(path=p, rel=rel, uncertain=uncertain, label_from=label_from, rows=rows,
                                manifest=manifest, rx=rx))
    if label_from == "prefix":
        _canonical_prefixes(clips)
    if not clips:
        raise DataError(f"every clip under {root.name} was excluded (uncertain labels); "
                        f"pass include_uncertain=True.")
    return clips
