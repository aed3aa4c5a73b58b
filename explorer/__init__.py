"""The app's helpers: everything DAS Explorer shows is computed here, without a browser.

    samples     the sequence the app works on (data sets, uploads, feature curves)
    methods     every registered sampler run on one sample; the tau0 sweep
    catalogue   checkpoints (shipped and trained here), benchmark result sets, speed tables
    figures     plotly figures and image helpers, one colour per method (a package: one module per family of
                figures, the palette and shared layout in figures.theme)
    saliency    where the model looked: Grad-CAM maps of the backbone on picked frames (grad-cam)
    jobs        background training runs (start, queue, stop, list); `launcher` is their process

The pages (`app.py`, `pages/`) only lay out what these return. This package is empty on import so
that the job launcher (`python -m explorer.launcher`) starts without torch.
"""
