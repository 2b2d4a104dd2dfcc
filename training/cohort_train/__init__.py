"""Cohort model training: teacher, K-student sets, early-exit segments, calibration, export."""
