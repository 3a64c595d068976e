"""embedtune command line: maps flags onto the pipelines' `with_options(...)`; the commands are in commands/.

    python run.py run                      # end to end on configs/default.yaml (the docs/ user guide)
    python run.py run --corpus ~/my-docs --export-dir outputs/my-model
    python run.py generate / finetune      # the two halves, e.g. with human review in between
    python run.py evaluate --model all-MiniLM-L6-v2 --model outputs/tuned-model \\
        --benchmark ../shared/data/scifact-dev --split train --output outputs/scifact.json
    python run.py --help                   # every command (the same CLI as the `embedtune` console script)

Importing `commands` sets the offline environment defaults (HF_HUB_OFFLINE=1 and the like) before anything
heavy is imported.
"""

from __future__ import annotations

from commands import cli, main

__all__ = ["cli", "main"]

if __name__ == "__main__":
    main()
