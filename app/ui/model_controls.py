"""The model group: a dropdown that says what each model is for and whether it keeps up live here, the provider
choice, and what really runs (with a busy bar while a model loads).

It only shows state it is told and turns picks into signals; ``ModelSwitcher`` does the loading.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QProgressBar, QVBoxLayout, QWidget

from app.inference.lineup import frame_budget_ms, too_slow_for_live
from app.inference.registry import ModelEntry

PROVIDERS = [("Auto", "auto"), ("TensorRT", "tensorrt"), ("CUDA", "cuda"), ("CPU", "cpu")]
TOO_SLOW = "too slow for live video on this CPU"


def set_combo_silently(combo: QComboBox, index: int) -> None:
    """Show ``index`` without emitting the signal a user's choice would (the app is reporting, not choosing)."""
    combo.blockSignals(True)
    combo.setCurrentIndex(index)
    combo.blockSignals(False)


class ModelControls(QGroupBox):
    """Model dropdown (invalid models disabled, reason as tooltip), provider choice and what actually runs."""

    modelChosen = Signal(str)  # noqa: N815 (Qt signal naming)
    providerChosen = Signal(str)  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self.model_combo = QComboBox()
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(16)
        self.provider_combo = QComboBox()
        for text, key in PROVIDERS:
            self.provider_combo.addItem(text, key)
        self.provider_label = QLabel("not loaded")
        self.provider_label.setWordWrap(True)
        self.loading_bar = QProgressBar()  # range (0, 0): a busy indicator; ONNX Runtime reports no progress
        self.loading_bar.setRange(0, 0)
        self.loading_bar.setMaximumHeight(6)
        self.loading_bar.setTextVisible(False)
        policy = self.loading_bar.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # the controls below must not jump when a load ends
        self.loading_bar.setSizePolicy(policy)
        self.loading_bar.hide()
        running = QVBoxLayout()
        running.setContentsMargins(0, 0, 0, 0)
        running.setSpacing(2)
        running.addWidget(self.provider_label)
        running.addWidget(self.loading_bar)
        form = QFormLayout(self)
        form.addRow("Model", self.model_combo)
        form.addRow("Provider", self.provider_combo)
        form.addRow("Running", running)
        self.model_combo.activated.connect(self._on_model_activated)
        self.provider_combo.activated.connect(lambda pos: self.providerChosen.emit(self.provider_combo.itemData(pos)))

    def set_entries(self, entries: Sequence[ModelEntry], on_gpu: bool = False) -> None:
        """``ModelEntry``s from the registry; unusable ones stay listed, disabled, with the reason as tooltip.

        ``on_gpu``: the models run on a GPU provider, where none is marked too slow. The shown item is kept.
        """
        keep = self.model_combo.currentData()
        self.model_combo.clear()
        if not entries:
            self.model_combo.addItem("No model in models/", None)
            self.model_combo.setEnabled(False)
            return
        self.model_combo.setEnabled(True)
        for entry in entries:
            self.model_combo.addItem(model_title(entry, on_gpu), entry.name)
            pos = self.model_combo.count() - 1
            if entry.error:
                self.model_combo.model().item(pos).setEnabled(False)
                self.model_combo.setItemData(pos, entry.error, Qt.ItemDataRole.ToolTipRole)
            elif entry.card is not None:
                self.model_combo.setItemData(pos, model_tooltip(entry, on_gpu), Qt.ItemDataRole.ToolTipRole)
        if keep is not None:
            self.select_model(keep)

    def select_model(self, name: str | None) -> None:
        set_combo_silently(self.model_combo, max(self.model_combo.findData(name), 0) if name else 0)

    def current_model(self) -> str | None:
        return self.model_combo.currentData()

    def _on_model_activated(self, pos: int) -> None:
        name = self.model_combo.itemData(pos)
        if name:
            self.modelChosen.emit(str(name))

    def select_provider(self, key: str) -> None:
        set_combo_silently(self.provider_combo, max(self.provider_combo.findData(key), 0))

    def current_provider(self) -> str:
        return str(self.provider_combo.currentData())

    def show_running(self, provider: str, note: str | None = None, loading: bool = False) -> None:
        """What really runs (``engine.provider``), with the fallback note, if any, in small grey type; while a
        model loads, ``provider`` says what is loading and the busy bar runs."""
        text = html.escape(f"loading… {provider}" if loading else provider)
        if note:
            text += f"<br><span style='color:gray; font-size:small'>{html.escape(note)}</span>"
        self.provider_label.setText(text)
        self.provider_label.setToolTip(note or "")
        self.loading_bar.setVisible(loading)

    @property
    def loading(self) -> bool:
        return self.loading_bar.isVisibleTo(self)


def model_title(entry: ModelEntry, on_gpu: bool = False) -> str:
    """What a person needs to choose: "poster-small (AffectNet 67.0%) · default: ...", and a warning when the
    model cannot keep up with live video on this CPU."""
    if entry.error or entry.card is None:
        return f"{entry.name} (unusable)"
    parts = [entry.display_name]
    if entry.card.purpose:
        parts.append(entry.card.purpose)
    if too_slow_for_live(entry.card, on_gpu):
        parts.append(TOO_SLOW)
    return " · ".join(parts)


def model_tooltip(entry: ModelEntry, on_gpu: bool = False) -> str:
    card = entry.card
    lines = [f"{card.name}: {card.architecture} {card.size}, {len(card.classes)} classes"]
    if card.purpose:
        lines.append(card.purpose)
    datasets = (("AffectNet valid (in-the-wild colour faces)", card.camera_accuracy),
                ("FER2013 PublicTest", card.accuracy), ("CK+ (posed)", card.metric("ckplus_acc")),
                ("labelled real clips", card.metric("clip_acc")))
    measured = [f"{dataset} {100 * acc:.1f}%" for dataset, acc in datasets if acc is not None]
    if measured:
        lines.append("Accuracy: " + ", ".join(measured))
    ms = card.cpu_ms_per_face
    if ms is not None:
        # the cost decides whether a model runs live here: the ensemble is ~30x a small model
        lines.append(f"{ms:.0f} ms per face on a 2-core CPU (about {1000 / ms:.0f} faces/s)")
        if too_slow_for_live(card, on_gpu):
            lines.append(f"More than the {frame_budget_ms():.0f} ms a face may take for 15 fps live video: use a GPU")
    lines.append(str(entry.onnx_path))
    return "\n".join(lines)
