"""Example strategies that trade; each has a config under ``configs/backtest/``."""
