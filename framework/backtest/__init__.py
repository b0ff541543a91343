"""Backtests from YAML through Nautilus's BacktestNode: config + validation, runner, reports, charts, sweeps,
perpetual funding settlement."""
