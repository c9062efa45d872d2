"""Models: cards (what a model expects), the registry (the models folder) and the ONNX Runtime engine."""

from app.inference.card import InputSpec, ModelCard
from app.inference.engine import InferenceEngine
from app.inference.registry import ModelEntry, ModelRegistry, default_models_dir

__all__ = ["InferenceEngine", "InputSpec", "ModelCard", "ModelEntry", "ModelRegistry", "default_models_dir"]
