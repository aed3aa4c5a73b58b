# DAS Explorer: `make run` sets everything up and starts the app; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
HOST ?= 127.0.0.1
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: install install-test run test test-all e2e speed app-speed bench bench-more-seeds bench-pocus-budget bench-synthetic-fixed bench-moving-real bench-moving-candidates bench-adps-budget bench-medmnist-equal bench-warmup bench-small-cnn bench-report ablation checkpoints pocus-demo clean

# requirements.txt pins torch==2.14.1 / torchvision==0.29.1 (pip takes them from this machine's disk).
$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

$(TEST_STAMP): $(STAMP) requirements-test.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $(TEST_STAMP)

install: $(STAMP)
install-test: $(TEST_STAMP)

# HOST=0.0.0.0 (or any address but 127.0.0.1/localhost/::1) serves on the network behind a login proxy: Caddy on
# HOST:PORT (TLS; CERT=/KEY= for the hospital's certificate, NAME= the name users open) asks explorer/gate.py
# about every request (bcrypt users and/or OIDC sign-on from [das_login] in .streamlit/secrets.toml; see
# `python -m explorer.auth hash USER`); Streamlit itself stays on 127.0.0.1. Refuses to start without a login.
CERT ?=
KEY ?=
NAME ?=
run: install
	@case "$(HOST)" in 127.0.0.1|localhost|::1) \
	    $(PY) -m explorer.serve --server.address $(HOST) --server.port $(PORT) --server.headless true ;; \
	*) $(PY) -m explorer.network --host $(HOST) --port $(PORT) $(if $(CERT),--cert $(CERT)) $(if $(KEY),--key $(KEY)) \
	    $(if $(NAME),--server-name $(NAME)) ;; esac

test: install-test
	$(PY) -m pytest

test-all: install-test
	$(PY) -m pytest -m ""

e2e: install-test
	$(PY) -m pytest -m e2e tests/e2e

# docs/speed.md + docs/speed.json: 28^3 and 64^3 (batch 8) and the CT-like and ultrasound-like studies (batch 1),
# ratios 0.5 and 0.25, one torch thread; about 3 minutes on this 2-core machine. Run it on a quiet machine.
speed: install
	$(PY) -m das_core speed --threads 1

# docs/app-speed.json: the browser test's app timings, 3 rounds (each a fresh server and a fresh headless
# Chromium), and an uploaded study through all six methods; docs/speed.md shows them with their targets.
app-speed: install
	PYTHONPATH=. $(PY) benchmarks/app_timings.py --rounds 3
	$(PY) -m das_core speed --render-only

# The grids behind docs/results*.md (resumable: a rerun skips finished runs). `--workers N` trains N runs
# at once, one process and one torch thread each (WORKERS=1 for a machine with one free core).
WORKERS ?= 2
MNV3 := --backbone mobilenet_v3_small --lr 1e-3 --min-epochs 3 --threads 1 --device cpu --workers $(WORKERS)
MAIN := $(MNV3) --runs-dir runs/bench-main --command-line "make bench (the bench commands in the Makefile; settings per data set below)"
WARMUP := --sampler-option estimator=straight_through --warmup-frames picks --runs-dir runs/bench-mnv3-warmup --out-dir docs/results/mobilenet_warmup --results-md docs/results-mobilenet_warmup.md
SMALL := --backbone small_cnn --threads 1 --device cpu --runs-dir runs/bench --out-dir docs/results/small_cnn --results-md docs/results-small_cnn.md

# docs/results.md, the main grid, one recipe for every method (the all-frames warm-up for all, the same optimizer
# steps): MedMNIST 5 seeds, synthetic moving 5 seeds, POCUS 5 folds x 1 seed (not ranked: full stays near chance
# there). About 1 h 40 min on 2 cores (220 runs). The learned methods with their paper's estimator ("/paper") are in `make bench-moving-real`.
MAIN_METHODS := full uniform random central edge-energy dps adps das pgadps
bench: install
	$(PY) -m das_core bench --datasets vesselmnist3d adrenalmnist3d --methods $(MAIN_METHODS) --ratios 0.5 --seeds 0 1 2 3 4 \
	    --epochs 8 --max-train-batches 45 --patience 4 $(MAIN)
	$(PY) -m das_core bench --datasets pocus-lung --folds 5 --seeds 0 --methods $(MAIN_METHODS) --ratios 0.5 --frames 32 \
	    --size 32 --epochs 8 --patience 3 $(MAIN)
	$(PY) -m das_core bench --datasets synthetic-volumes:moving \
	    --methods $(MAIN_METHODS) --ratios 0.5 0.25 --seeds 0 1 2 3 4 --epochs 8 --max-train-batches 36 --patience 4 $(MAIN)
	$(PY) -m das_core paired --runs-dir runs/bench-main --out-dir docs/results
	$(PY) -m das_core bench --report-only $(MAIN)

# docs/results-moving_real.md: the moving-real families (das_core/data/embedded.py: 10 real slices at a random
# offset in 40 frames), ratio 0.25, every method with one recipe (learned ones also with their paper's, "/paper").
# Tuning family: vesselmnist3d-embedded:distractors (choices read on its validation split only); held out:
# adrenalmnist3d-embedded:distractors and adrenalmnist3d-embedded:speckle (test read once per recipe). Then the
# static controls (own picks vs the modal train set vs the blank-input set) and the paired-difference tables.
MOVING_METHODS := full uniform random central edge-energy dps dps/paper adps adps/paper das das/paper das/learned pgadps \
    pgadps/paper
MOVING := --methods $(MOVING_METHODS) --ratios 0.25 --epochs 8 --max-train-batches 36 --patience 4 $(MNV3) \
    --runs-dir runs/bench-moving-real --out-dir docs/results/moving_real --results-md docs/results-moving_real.md \
    --command-line "make bench-moving-real"
bench-moving-real: install
	$(PY) -m das_core bench --datasets adrenalmnist3d-embedded:distractors adrenalmnist3d-embedded:speckle \
	    --seeds 0 1 2 3 4 $(MOVING)
	$(PY) -m das_core bench --datasets vesselmnist3d-embedded:distractors --seeds 0 1 2 $(MOVING)
	$(PY) -m das_core paired --runs-dir runs/bench-moving-real --out-dir docs/results/moving_real \
	    --tuning vesselmnist3d-embedded-distractors
	$(PY) -m das_core bench --report-only --datasets vesselmnist3d-embedded:distractors $(MOVING)

# docs/results-moving_real_candidates.md: two candidates that make DAS's training picks follow its scores (on the
# held-out speckle family its eval picks hold 0.91 of the block but its training picks only chance:
# benchmarks/speckle_mechanism.py, the page's mechanism.md): das/anneal (noise_end 0.1) and das/standardized
# (score_norm standardize), each the paper's recipe plus one change, chosen against das/paper on the tuning family's
# validation AUC; the held-out families run das/paper, das/anneal (the tuning family's second) and the static and
# heuristic baselines on this machine (das/standardized, last on the tuning family, is not run there), and seeds 5-9
# for the chosen recipe and the best static and heuristic baselines (10 seeds: a run takes under 2 minutes); about 1 h 40 min.
CAND := --ratios 0.25 --epochs 8 --max-train-batches 36 --patience 4 $(MNV3) --runs-dir runs/bench-moving-candidates \
    --out-dir docs/results/moving_real_candidates --results-md docs/results-moving_real_candidates.md \
    --command-line "make bench-moving-candidates"
CAND_RUNS := runs/bench-moving-candidates/adrenalmnist3d-embedded-speckle
bench-moving-candidates: install
	$(PY) -m das_core bench --datasets vesselmnist3d-embedded:distractors --seeds 0 1 2 \
	    --methods das/paper das/anneal das/standardized $(CAND)
	$(PY) -m das_core bench --datasets adrenalmnist3d-embedded:speckle adrenalmnist3d-embedded:distractors --seeds 0 1 2 3 4 \
	    --methods das/anneal das/paper edge-energy central uniform $(CAND)
	$(PY) -m das_core bench --datasets adrenalmnist3d-embedded:speckle adrenalmnist3d-embedded:distractors --seeds 5 6 7 8 9 \
	    --methods das/paper edge-energy central $(CAND)
	PYTHONPATH=. $(PY) benchmarks/speckle_mechanism.py --items 150 --md docs/results/moving_real_candidates/mechanism.md \
	    $(foreach m,das-paper das-anneal edge-energy,$(foreach s,0 1 2 3 4,$(CAND_RUNS)/$(m)-r0.25-s$(s)))
	$(PY) -m das_core paired --runs-dir runs/bench-moving-candidates --out-dir docs/results/moving_real_candidates \
	    --tuning vesselmnist3d-embedded-distractors
	$(PY) -m das_core bench --report-only --datasets vesselmnist3d-embedded:distractors $(CAND)

# docs/results-medmnist_equal.md: VesselMNIST3D and AdrenalMNIST3D at ratio 0.5 with the equal recipe (the warm-up for
# every method), 5 seeds, the static baselines beside DAS (default and /paper), then the paired tables and the static
# controls (about 30 min on 2 cores).
MEDEQ := --runs-dir runs/bench-medmnist-equal --out-dir docs/results/medmnist_equal --results-md docs/results-medmnist_equal.md \
    --command-line "make bench-medmnist-equal"
bench-medmnist-equal: install
	$(PY) -m das_core bench --datasets vesselmnist3d adrenalmnist3d --methods full uniform central edge-energy das das/paper \
	    --ratios 0.5 --seeds 0 1 2 3 4 --epochs 8 --max-train-batches 45 --patience 4 $(MNV3) $(MEDEQ)
	$(PY) -m das_core paired --runs-dir runs/bench-medmnist-equal --out-dir docs/results/medmnist_equal \
	    --tuning vesselmnist3d-embedded-distractors --chosen das=das/paper
	$(PY) -m das_core bench --report-only --datasets vesselmnist3d $(MNV3) $(MEDEQ)

# docs/results-main_seeds5_9.md: the main grid's recipe on seeds 5-9 of VesselMNIST3D and AdrenalMNIST3D (all nine
# methods), run on another machine than seeds 0-4 (whose run folders are not kept), then docs/results/main_10_seeds/:
# both grids' committed rows pooled by seed (`paired --from-csv`), 10 seeds per cell; the best static baseline chosen
# on the validation AUC of the runs that record it (seeds 5-9). About 1 h on 2 cores.
MORE := --runs-dir runs/bench-main-b --out-dir docs/results/main_seeds5_9 --results-md docs/results-main_seeds5_9.md \
    --command-line "make bench-more-seeds"
bench-more-seeds: install
	$(PY) -m das_core bench --datasets vesselmnist3d adrenalmnist3d --methods $(MAIN_METHODS) --ratios 0.5 --seeds 5 6 7 8 9 \
	    --epochs 8 --max-train-batches 45 --patience 4 $(MNV3) $(MORE)
	$(PY) -m das_core paired --runs-dir runs/bench-main-b --out-dir docs/results/main_seeds5_9
	$(PY) -m das_core bench --report-only $(MNV3) $(MORE)
	$(PY) -m das_core paired --from-csv docs/results/results.csv docs/results/main_seeds5_9/results.csv \
	    --datasets vesselmnist3d adrenalmnist3d --out-dir docs/results/main_10_seeds

# docs/results-pocus_budget.md: POCUS at a budget where the full sequence leaves chance (the main grid's 8 epochs do
# not: balanced accuracy 0.30 on four classes). The budget was chosen on the folds' validation splits only, full's
# mean best-epoch validation balanced accuracy over 5 folds: MobileNetV3-Small lr 1e-3 against small_cnn lr 2e-3, 24
# epochs each (`scripts/pocus_budget.py`, record in docs/results/pocus_budget/budget_choice.md); every method then runs
# the chosen recipe.
bench-pocus-budget: install
	$(PY) scripts/pocus_budget.py search --workers $(WORKERS)
	$(PY) -m das_core bench --datasets pocus-lung --folds 5 --seeds 0 --methods $(MAIN_METHODS) --ratios 0.5 --frames 32 \
	    --size 32 --epochs 24 --patience 8 --min-epochs 3 --threads 1 --device cpu --workers $(WORKERS) \
	    $$($(PY) scripts/pocus_budget.py flags) $(POCUSB)
	$(PY) -m das_core paired --runs-dir runs/bench-pocus --out-dir docs/results/pocus_budget
	$(PY) -m das_core bench --report-only $(POCUSB)
POCUSB := --runs-dir runs/bench-pocus --out-dir docs/results/pocus_budget --results-md docs/results-pocus_budget.md \
    --command-line "make bench-pocus-budget"

# docs/results-synthetic_fixed.md: the synthetic set with the informative slice at a fixed place (slice 11 of 28, which
# uniform picks miss and a static sampler can learn), ratio 0.25, all nine methods with the main grid's recipe, 5 seeds
# (about 15 min on 2 cores): the control where adaptivity has nothing to add.
FIXED := --runs-dir runs/bench-fixed --out-dir docs/results/synthetic_fixed --results-md docs/results-synthetic_fixed.md \
    --command-line "make bench-synthetic-fixed"
bench-synthetic-fixed: install
	$(PY) -m das_core bench --datasets synthetic-volumes:fixed --methods $(MAIN_METHODS) --ratios 0.25 --seeds 0 1 2 3 4 \
	    --epochs 8 --max-train-batches 36 --patience 4 $(MNV3) $(FIXED)
	$(PY) -m das_core paired --runs-dir runs/bench-fixed --out-dir docs/results/synthetic_fixed
	$(PY) -m das_core bench --report-only $(MNV3) $(FIXED)

# docs/results-adps_budget.md: ADPS closer to its authors' budget (their code: 100 epochs at lr 2e-4); on this 2-core
# CPU 32 epochs at lr 2e-4 (4x the grid's steps), seed 0, synthetic moving and VesselMNIST3D at ratio 0.5, no early stop.
bench-adps-budget: install
	$(PY) -m das_core bench --datasets synthetic-volumes:moving vesselmnist3d --methods adps --ratios 0.5 --seeds 0 \
	    --epochs 32 --lr 2e-4 --sampler-warmup 2 --max-train-batches 36 --patience 100 --min-epochs 3 \
	    --backbone mobilenet_v3_small --threads 1 --device cpu --workers 1 \
	    --runs-dir runs/bench-adps-budget --out-dir docs/results/adps_budget --results-md docs/results-adps_budget.md \
	    --command-line "make bench-adps-budget"

bench-warmup: install  # docs/results-mobilenet_warmup.md: the learned samplers with a 3-epoch sampler warm-up
	$(PY) -m das_core bench --datasets synthetic-volumes:moving synthetic-volumes:fixed --ratios 0.5 0.25 --seeds 0 1 2 \
	    --methods das --sampler-warmup 3 --epochs 8 --max-train-batches 24 --patience 4 $(MNV3) $(WARMUP)
	$(PY) -m das_core bench --datasets synthetic-volumes:moving synthetic-volumes:fixed --ratios 0.5 --seeds 0 1 2 \
	    --methods dps adps --sampler-warmup 3 --epochs 8 --max-train-batches 24 --patience 4 $(MNV3) $(WARMUP)

bench-small-cnn: install  # docs/results-small_cnn.md: the small-CNN grid
	$(PY) -m das_core bench --datasets synthetic-volumes:moving synthetic-volumes:fixed --ratios 0.5 --seeds 0 1 2 \
	    --epochs 10 --lr 2e-3 --max-train-batches 24 --min-epochs 4 --patience 3 $(SMALL)
	$(PY) -m das_core bench --datasets synthetic-volumes:moving synthetic-volumes:fixed --ratios 0.25 --seeds 0 \
	    --methods uniform random dps adps das --epochs 10 --lr 2e-3 --max-train-batches 24 --min-epochs 4 --patience 3 $(SMALL)
	$(PY) -m das_core bench --datasets vesselmnist3d adrenalmnist3d --ratios 0.5 --seeds 0 1 2 \
	    --epochs 4 --lr 1e-3 --max-train-batches 30 --min-epochs 2 --patience 2 $(SMALL)
	$(PY) -m das_core bench --datasets pocus-lung --folds 5 --seeds 0 --ratios 0.5 --epochs 8 --lr 1e-3 \
	    --min-epochs 3 --patience 3 $(SMALL)

bench-report: install  # re-aggregate every grid from its finished runs (each page keeps naming its grid's target)
	$(PY) -m das_core bench --report-only $(MAIN)
	$(PY) -m das_core bench --report-only $(WARMUP) --command-line "make bench-warmup (the two bench commands in the Makefile)"
	$(PY) -m das_core bench --report-only $(SMALL) --command-line "make bench-small-cnn (the four bench commands in the Makefile)"

ablation: install  # docs/results-ablation.md: DAS's training recipe (300 runs: about 5 h of one-thread CPU time, estimated from the 68-73 s measured per MobileNetV3-Small run; 11 min on one H200 as 15 shards)
	$(PY) -m das_core ablation --threads 1

checkpoints: install
	$(PY) -m das_core checkpoints

# The shipped POCUS demo models (checkpoints/pocus-lung-*.pt): all six methods, small CNN, T = 32 frames of 64x64
# (the app's default for POCUS), trained on the CC BY clips only (the others are val/test), seed 0, one thread each;
# then compacted into checkpoints/ and merged into its manifest (the other entries untouched). Resumable.
POCUS_LICENCES := "CC BY 4.0" "CC BY 2.0"
pocus-demo: install
	$(PY) -m das_core bench --datasets pocus-lung --seeds 0 --ratios 0.5 --frames 32 --size 64 \
	    --train-licences $(POCUS_LICENCES) --backbone small_cnn --lr 1e-3 --batch-size 8 --epochs 15 --min-epochs 4 --patience 5 \
	    --threads 1 --device cpu --workers 1 --runs-dir runs/pocus-demo --out-dir runs/pocus-demo \
	    --results-md runs/pocus-demo/results-page.md --command-line "make pocus-demo"
	$(PY) -m das_core checkpoints --datasets pocus-lung --threads 1

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
