"""embedtune command line: maps flags onto the pipelines' `with_options(...)`; the commands are in commands/.

    python run.py run                      # end to end on configs/default.yaml (the docs/ user guide)
    python run.py run --corpus ~/my-docs --export-dir outputs/my-model
    python run.py generate / finetune      # the two halves, e.g. with human review in between
    python run.py evaluate --model all-MiniLM-L6-v2 --model outputs/tuned-model \\
        --benchmark ../shared/data/scifact-dev --split train --output outputs/scifact.json
    python run.py --help                   # every command
"""

from __future__ import annotations

import os

for _key, _value in {
    "HF_HUB_OFFLINE": "1",  # offline by default: a hub lookup without network wastes minutes in retries
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ZENML_ANALYTICS_OPT_IN": "false",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_WAIT_POLICY": "PASSIVE",  # llama.cpp on few cores stalls without it
}.items():
    os.environ.setdefault(_key, _value)

from commands import cli, main

__all__ = ["cli", "main"]

if __name__ == "__main__":
    main()
