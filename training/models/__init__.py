"""Model families (one file each) and the registry that builds them by name.

Importing the package registers every family, so ``create_model`` knows them all whichever module a caller
imports first; the registry itself imports no family (the families import it).
"""

from training.models import apvit, ferformer, poster  # noqa: F401  (each registers its family on import)
from training.models.registry import create_model, list_models, model_config

__all__ = ["create_model", "list_models", "model_config"]
