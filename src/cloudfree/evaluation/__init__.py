"""Evaluation of cloud-free outputs: metrics report (JSON + CSV) and figures."""

from cloudfree.evaluation.report import evaluate_rasters, write_report

__all__ = ["evaluate_rasters", "write_report"]
