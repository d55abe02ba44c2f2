# segclassics: the two commands of the README.
#   make demo   set up .venv on a fresh machine (idempotent), then train + evaluate the demo
#   make test   set up (idempotent), then run the test suite
PYTHON := .venv/bin/python
export OMP_NUM_THREADS ?= 2

.PHONY: setup demo test fuzz clean-demo
setup:
	@bash scripts/setup_env.sh

demo: setup
	@echo "[demo] training configs/unet/unet_synthetic.py on the synthetic shapes (CPU, a few minutes)"
	$(PYTHON) tools/demo.py

test: setup
	@echo "[test] running the test suite: $(PYTHON) -m pytest tests"
	SEGCLASSICS_REQUIRE_STACK=1 $(PYTHON) -m pytest tests -q -p no:cacheprovider

# the property tests of the reader, the writer and the validators, with random seeds and many
# more examples than the suite's fixed ones (a few minutes)
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz $(PYTHON) -m pytest tests -q -p no:cacheprovider -m property

clean-demo:
	rm -rf work_dirs/demo
