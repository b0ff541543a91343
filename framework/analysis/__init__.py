"""Analysis: indicators, the five dashboards, the order-flow chart and the REST-vs-stream reconciliation report.

Data comes from a ``collect`` output folder or from the catalog (``framework.analysis.sources``); charts are
matplotlib/mplfinance figures written as PNG (Agg backend, no display needed).
"""
