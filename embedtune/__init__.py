"""embedtune: fine-tune an embedding model on your own documents and prove the gain.

The logic lives here, importable and testable without ZenML; `steps/` and `pipelines/` only wire it.
"""

import logging

__version__ = "0.1.0"

logger = logging.getLogger("embedtune")


class EmbedtuneError(Exception):
    """A problem the user can fix; its message says what was wrong and how to fix it."""
