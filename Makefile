# segclassics: the two commands of the README.
#   make demo   set up .venv on a fresh machine (idempotent), then train + evaluate the demo
#   make test   set up (idempotent), then run the test suite (tests/ and dev/tests/, what CI runs)
# and, for developers:
#   make test-fast  the suite without the tests marked slow (trainings, subprocess runs)
#   make format     ruff's fixes and formatting over the tree (dev/format_tree.sh)
PYTHON := .venv/bin/python
export OMP_NUM_THREADS ?= 2

.PHONY: setup demo test test-fast fuzz format clean-demo
setup:
	@bash scripts/setup_env.sh

demo: setup
	@echo "[demo] training configs/unet/unet_synthetic.py on the synthetic shapes (CPU, a few minutes)"
	$(PYTHON) tools/demo.py

TEST_PATHS := tests dev/tests

test: setup
	@echo "[test] running the test suite: $(PYTHON) -m pytest $(TEST_PATHS)"
	SEGCLASSICS_REQUIRE_STACK=1 $(PYTHON) -m pytest $(TEST_PATHS) -q -p no:cacheprovider

# the tests not marked slow (`@pytest.mark.slow`: trainings and subprocess runs); CI runs them all
test-fast: setup
	SEGCLASSICS_REQUIRE_STACK=1 $(PYTHON) -m pytest $(TEST_PATHS) -q -p no:cacheprovider -m "not slow"

# the property tests of the reader, the writer and the validators, with random seeds and many
# more examples than the suite's fixed ones (a few minutes)
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz $(PYTHON) -m pytest $(TEST_PATHS) -q -p no:cacheprovider -m property

format: setup
	@bash dev/format_tree.sh

clean-demo:
	rm -rf work_dirs/demo
