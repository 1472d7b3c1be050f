"""Top-1 accuracy, macro-F1, per-class accuracy and confusion matrix of one classification head.

A local `evaluate` module (`evaluate.load("metrics/head_metrics")`), so evaluation never needs the Hub.
"""

import datasets
import evaluate
import numpy as np
from sklearn.metrics import confusion_matrix, f1_score

_DESCRIPTION = """Single-label classification metrics for one head of a multi-head classifier.
macro_f1 averages over the classes present in the references (a class with no validation example has
no defined recall); a class's accuracy is its recall, None where it has no example."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of int): predicted class ids.
    references (list of int): true class ids.
    labels (list of str): the head's label names, index = class id; sets the confusion matrix size.
Returns:
    accuracy (float), macro_f1 (float), per_class (label -> {"accuracy": float or None, "support": int}),
    confusion_matrix (list of list of int): row = true class, column = predicted class.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class HeadMetrics(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, labels: list[str]) -> dict:
        predictions, references = np.asarray(predictions, dtype=np.int64), np.asarray(references, dtype=np.int64)
        matrix = confusion_matrix(references, predictions, labels=np.arange(len(labels)))
        support = matrix.sum(axis=1)
        present = np.flatnonzero(support)
        return {
            "accuracy": float((predictions == references).mean()),
            "macro_f1": float(f1_score(references, predictions, labels=present, average="macro", zero_division=0)),
            "per_class": {
                label: {"accuracy": float(matrix[i, i] / support[i]) if support[i] else None, "support": int(support[i])}
                for i, label in enumerate(labels)
            },
            "confusion_matrix": matrix.tolist(),
        }
