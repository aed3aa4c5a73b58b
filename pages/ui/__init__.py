"""Layout helpers and caches shared by the pages (`explorer` computes, these only lay out and cache), one
job per module:

- `keys`: every widget and session key, one class per page (`Compare.HEADS == "cmp_heads"`); a page sets
  another page's widget only through the owner's function (`choose_compare_das`, `data_picker.select_sample`).
- `session`: the plain session keys the pages share and the rules that keep widget values: across page
  switches (`keep`), among the current options (`valid_choice`); the display window chosen per study.
- `guards`: the loopback guard (a network goes through the login proxy of `explorer.network`), the signed-in
  user, errors shown as one sentence.
- `caches`: the data sets, samples and models shared by every session.
- `data_picker`: the sidebar's data set / sample picker.
- `upload`: the session's uploaded study (uploader, forget, the models' input size).
- `captions`: a sample in one line of Markdown.
- `hu_window`: the CT window level / width in Hounsfield units.
- `timing`: `Timer`, the render time the pages show.

Cache policy: models and data sets are `st.cache_resource` (shared, not copied); samples and derived
arrays are `st.cache_data` (keyed by their arguments). An uploaded study is decoded once and kept in
this session's `st.session_state` only (`session.STUDY`), never in a cache other sessions could reach.

Importing any of them (every page does) sets torch's threads once per server process
(`explorer.methods.use_app_threads`).
"""

from __future__ import annotations

from pathlib import Path

from explorer import methods

__all__ = ["ROOT"]

ROOT = Path(__file__).resolve().parents[2]  # the repository root
methods.use_app_threads()  # once per server process: half the cores for torch (see explorer.methods.app_threads)
