"""Evaluation of cloud-free outputs: metrics and the field's protocols, spectral indices, burned
area, figures and the HTML report.

Submodules are imported on use (``from cloudfree.evaluation.indices import ...``), so that commands
that need no PyTorch (``indices``; ``burn`` with ``--pre-mask none --post-mask none``: its auto
masks run the mask pipeline) do not pay for importing it; ``evaluate_rasters`` and
``write_report`` are re-exported lazily from :mod:`cloudfree.evaluation.report`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["evaluate_rasters", "write_report"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from cloudfree.evaluation import report

        return getattr(report, name)
    raise AttributeError(f"module 'cloudfree.evaluation' has no attribute {name!r}")
