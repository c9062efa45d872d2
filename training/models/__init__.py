"""Model families (one file each) and the registry that builds them by name."""

from training.models.registry import create_model, list_models, model_config

__all__ = ["create_model", "list_models", "model_config"]
