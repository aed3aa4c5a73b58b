"""The app's helpers: everything DAS Explorer shows is computed here, without a browser (no module imports
streamlit).

    samples         the sequence the app works on (data sets, uploads, intensity scales, feature curves)
    lineup          the models a page shows: one choice per method, by one rule (Compare, Cohort, export)
    methods         every registered sampler run on one sample; the tau0 sweep
    adaptivity      what the live controls change, and DAS's picks against its blank-input and modal sets
    cohort          every method over a split (picks, hits, predictions, disagreements)
    catalogue       checkpoints (shipped and trained here), benchmark result sets, speed tables
    figures         plotly figures and image helpers, one module per family, the palette in figures.theme
    cohort_figures  the Cohort page's figures
    saliency        where the model looked: Grad-CAM maps of the backbone on picked frames (grad-cam)
    exports         the Compare page's export as bytes to download (das_core.export underneath)
    text            text quoted from a file made safe for Markdown
    jobs            background training runs (start, queue, stop, list); `launcher` is their process
    serve           `python -m explorer.serve`: Streamlit on loopback, heavy imports preloaded
    network, gate, auth   serving on a network behind a login (Caddy, bcrypt users, OpenID Connect)

The pages (`app.py`, `pages/`, their streamlit helpers in `pages/ui/`) only lay out what these return. This
package is empty on import so that the job launcher (`python -m explorer.launcher`) starts without torch.
"""
