# The two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
export FLASK_APP := wsgi

.PHONY: run test lint fmt migrate seed worker clean messages translations

# Message catalogues (docs/translations.md). The .po files are the source; the compiled
# .mo files are build products (gitignored), made by the install rules and kept current
# by the rule below whenever a .po file changes.
LOCALES      := id en
TRANSLATIONS := core/translations
MO_FILES     := $(foreach l,$(LOCALES),$(TRANSLATIONS)/$(l)/LC_MESSAGES/messages.mo)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when pyproject.toml changes; the stamp files record what was installed.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(BIN)/pybabel compile --directory $(TRANSLATIONS) --statistics
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pybabel compile --directory $(TRANSLATIONS) --statistics
	@touch $@ $(VENV)/.installed

# Recompile one catalogue when its .po changes (fuzzy entries are never compiled).
$(TRANSLATIONS)/%/LC_MESSAGES/messages.mo: $(TRANSLATIONS)/%/LC_MESSAGES/messages.po | $(VENV)/.installed
	$(BIN)/pybabel compile --locale $* --input-file $< --output-file $@ --statistics

translations: $(MO_FILES)

# Extract every msgid from the code into a template, then merge it into each catalogue:
# new msgids arrive untranslated (never fuzzy-matched), removed ones are dropped.
# Translate the empty msgstr entries in the id catalogue, then `make translations`.
messages: $(VENV)/.installed
	$(BIN)/pybabel extract --mapping-file babel.cfg --output-file $(TRANSLATIONS)/messages.pot \
	    --add-location file --sort-by-file --no-wrap --project Sentra --version 0.1.0 \
	    core onboarding tenants
	for l in $(LOCALES); do \
	    $(BIN)/pybabel update --input-file $(TRANSLATIONS)/messages.pot \
	        --output-dir $(TRANSLATIONS) --locale $$l --init-missing --no-fuzzy-matching \
	        --ignore-obsolete --no-wrap --ignore-pot-creation-date || exit 1; \
	done

migrate: $(VENV)/.installed
	$(BIN)/flask db upgrade

seed: migrate
	$(BIN)/flask sentra seed-demo --if-empty

run: seed $(MO_FILES)
	$(BIN)/flask run --host 127.0.0.1 --port 5000

worker: $(VENV)/.installed $(MO_FILES)
	$(BIN)/flask sentra worker

test: $(VENV)/.installed-dev $(MO_FILES)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache $(MO_FILES) $(TRANSLATIONS)/messages.pot
