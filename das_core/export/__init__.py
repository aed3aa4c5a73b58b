"""The "take it away" export: a study, the frames each checkpoint picks, and a report, in one folder.

    export_study(checkpoints, source, out_dir, settings=ExportSettings()) -> {artefact: path}

writes picks.csv, picks.json, picks.png, sequence.mp4, sequence.gif and report.html (see
`das_core.export.core`). `python -m das_core export` is its command line. The pieces are public too:

    study.py     Study, study_from_file / study_from_dataset / study_from_tensor (resampling per model)
    picks.py     ExportModel, SampleRun, run_models, probabilities_meaningful (the "foreign model" rule)
    tables.py    picks_rows, picks_csv, picks_document (picks.json)
    draw.py      cine_frame, picks_image, attention_image (numpy + Pillow)
    cine.py      write_mp4, write_gif
    report.py    report_html (self-contained, images as base64 PNG)

This package never imports streamlit, plotly or matplotlib.
"""

from .core import check_settings, export_study, prepare_out_dir, settings_from, write_export
from .picks import ExportModel, SampleRun, load_export_models, probabilities_meaningful, run_models
from .settings import ARTEFACTS, DISCLAIMER, ExportSettings
from .study import Study, dataset_options_for, study_from_dataset, study_from_file, study_from_tensor

__all__ = [
    "export_study", "ExportSettings", "settings_from", "check_settings", "prepare_out_dir", "write_export",
    "ExportModel", "SampleRun", "load_export_models", "run_models", "probabilities_meaningful",
    "Study", "study_from_file", "study_from_dataset", "study_from_tensor", "dataset_options_for",
    "ARTEFACTS", "DISCLAIMER",
]
