# foleygan: every target sets itself up, so `make demo` and `make test` work on a fresh clone.
# The training targets are thin wrappers over named config stacks (configs/<group>/<name>.yaml):
#   make train LOSS=2c TAU_C=0.1 DATA_CONFIG=dcase DATA=data/DCASEFoleySoundSynthesisDevSet \
#     ARGS="--trainer.devices=4"
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FOLEYGAN := $(VENV)/bin/foleygan
STAMP := $(VENV)/.setup-stamp
TORCH_VERSION ?= 2.14.1
TORCHAUDIO_VERSION ?= 2.11.0
# (not PIP_QUIET: pip reads PIP_<OPTION> variables from the environment)
PIP_FLAGS := -q --disable-pip-version-check

# Experiment knobs: each names a file of configs/<group>/; DATA, TAU_C and ARGS are overrides
# configs/data/<DATA_CONFIG>.yaml: synthetic or dcase; DATA overrides its data_root
DATA_CONFIG ?= synthetic
DATA ?=
TRAINER ?= default
LOGGER ?= csv
LOSS ?= csupcon
TAU_C ?=
EXPERIMENT ?=
ENCODER_CONFIG ?= supcon_resnet18
CALLBACKS ?= gan   # gan_cpu: FAD with the project's encoder + Griffin-Lim (no weights needed)
NAME ?= $(if $(EXPERIMENT),$(EXPERIMENT),$(LOSS))
ARGS ?=
CKPT ?= runs/$(NAME)
OUT ?= runs/$(NAME)/synth
REF ?= data/synthetic_eval
BACKBONE ?= vggish
VOCODER ?= hifigan
SWEEP ?= configs/sweeps/kt_table.yaml

DATA_FILE = configs/data/$(DATA_CONFIG).yaml
DATA_ARG = $(if $(DATA),--data.data_root=$(DATA),)
# the data root of this run, for `foleygan prepare`: DATA, else the data file's data_root
DATA_ROOT = $(or $(DATA),$(shell $(PY) -c "import yaml; \
  print(yaml.safe_load(open('$(DATA_FILE)'))['data']['data_root'])"))
# the synthetic set is generated first when the run reads it from its default place
SYNTHETIC_DEP = $(if $(filter synthetic,$(DATA_CONFIG)),$(if $(DATA),,synthetic),)
LOSS_CONFIG = configs/gan/$(subst -,_,$(LOSS)).yaml
EXPERIMENT_CONFIG = $(if $(EXPERIMENT),--config configs/experiment/$(EXPERIMENT).yaml,)
LOGGER_CONFIG = configs/logger/$(LOGGER).yaml
# pip quiet on success; on failure its own output and make stops
PIP_INSTALL = $(PY) -m pip install $(PIP_FLAGS) $(1) > $(VENV)/pip.log 2>&1 \
  || { cat $(VENV)/pip.log; echo "make setup: pip install $(1) failed (log: $(VENV)/pip.log)"; exit 1; }

.PHONY: setup test test-slow lint demo bench bench-quick gpu-check data data-cache synthetic \
        pretrain-encoder train synth fad sweep report fetch-vggish tiny-gan

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(call PIP_INSTALL,--upgrade pip)
	@$(call PIP_INSTALL,torch==$(TORCH_VERSION))
	@$(call PIP_INSTALL,torchaudio==$(TORCHAUDIO_VERSION))
	@$(call PIP_INSTALL,-e '.[dev]')
	$(PY) -c "import torch, torchaudio, pytorch_lightning, datamodules; print('torch', torch.__version__, 'torchaudio', torchaudio.__version__)"
	touch $(STAMP)

test: setup
	$(PY) -m pytest -q

test-slow: setup
	$(PY) -m pytest -q -m slow

lint: setup
	$(PY) -m ruff check .

bench: setup
	$(PY) -m bench.run --out bench/latest.json

bench-quick: setup
	$(PY) -m bench.run --quick --out bench/quick.json

# every GPU figure in one command, nothing downloaded (< 5 min on one GPU; a reduced CPU run
# without CUDA): bench/gpu.json and the table bench/gpu.md, printed
gpu-check: setup
	$(PY) -m bench.gpu_check --out bench/gpu.json

# ---- data -------------------------------------------------------------------------------
data: setup
	$(FOLEYGAN) download --root data

data-cache: setup $(SYNTHETIC_DEP)
	$(FOLEYGAN) prepare $(DATA_ROOT)

synthetic: setup
	$(FOLEYGAN) synthetic data/synthetic --clips-per-class 40 --seed 0
	$(FOLEYGAN) synthetic data/synthetic_eval --clips-per-class 100 --seed 1

fetch-vggish: setup
	$(FOLEYGAN) fetch-vggish

# ---- training ---------------------------------------------------------------------------
pretrain-encoder: setup $(SYNTHETIC_DEP)
	$(FOLEYGAN) fit --config configs/trainer/$(TRAINER).yaml --config $(LOGGER_CONFIG) \
	  --config $(DATA_FILE) --config configs/callbacks/encoder.yaml \
	  --config configs/encoder/$(ENCODER_CONFIG).yaml --config configs/experiment/encoder.yaml \
	  $(DATA_ARG) --trainer.logger.init_args.name=encoder $(ARGS)

train: setup $(SYNTHETIC_DEP)
	$(FOLEYGAN) fit --config configs/trainer/$(TRAINER).yaml --config $(LOGGER_CONFIG) \
	  --config $(DATA_FILE) --config configs/callbacks/$(strip $(CALLBACKS)).yaml \
	  --config configs/gan/base.yaml --config $(LOSS_CONFIG) $(EXPERIMENT_CONFIG) $(DATA_ARG) \
	  --trainer.logger.init_args.name=$(NAME) $(if $(TAU_C),--model.init_args.tau_c=$(TAU_C),) $(ARGS)

synth: setup
	$(FOLEYGAN) synth $(CKPT) --out $(OUT) --n-per-class 100 --vocoder $(VOCODER)

fad: setup
	$(FOLEYGAN) fad $(OUT) --ref $(REF) --backbone $(BACKBONE) --out $(OUT)/fad.csv

sweep: setup
	$(FOLEYGAN) sweep $(SWEEP)

report: setup
	$(FOLEYGAN) report runs/$(NAME)

# ---- the quick CPU check: 1 s crops, encoder + GAN + probe (under 10 minutes on 2 cores) -----
#   make tiny-gan              hinge + projection D
#   make tiny-gan LOSS=csupcon TAU_C=0.1   any configs/gan/*.yaml; the report's S2 here
TINY := runs/tiny_1s
TINY_NAME = $(LOSS)$(if $(TAU_C),_tau_c$(TAU_C),)
TINY_STACK = --config configs/trainer/cpu.yaml --config configs/logger/csv.yaml \
  --config configs/data/synthetic.yaml --data.data_root=data/synthetic \
  --trainer.logger.init_args.save_dir=$(TINY)
tiny-gan: LOSS = hinge

$(TINY)/encoder.pt: | setup synthetic
	$(FOLEYGAN) fit $(TINY_STACK) --config configs/callbacks/encoder.yaml \
	  --config configs/encoder/supcon_tiny.yaml --config configs/experiment/encoder.yaml \
	  --data.num_samples=22050 \
	  --trainer.max_epochs=8 --trainer.logger.init_args.name=encoder \
	  --model.init_args.export_path=$@

tiny-gan: setup synthetic $(TINY)/encoder.pt
	$(FOLEYGAN) fit $(TINY_STACK) --config configs/callbacks/tiny_1s.yaml \
	  --config configs/gan/base.yaml --config $(LOSS_CONFIG) --config configs/gan/cpu.yaml \
	  --config configs/experiment/tiny_1s.yaml --model.init_args.encoder_path=$(TINY)/encoder.pt \
	  $(if $(TAU_C),--model.init_args.tau_c=$(TAU_C),) --trainer.logger.init_args.name=$(TINY_NAME) $(ARGS)
	$(FOLEYGAN) probe $(TINY)/$(TINY_NAME) --encoder $(TINY)/encoder.pt \
	  --out $(TINY)/$(TINY_NAME)/probe.json

# ---- the demo: the whole pipeline on the synthetic set, on a CPU ---------------------------
demo: setup
	$(FOLEYGAN) demo
