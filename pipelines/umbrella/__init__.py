"""Tasks of the `umbrella` example pipeline (pipelines/umbrella.yaml).

Two independent branches, weather (`umbrella.weather`, then a shell task) and sales
(`umbrella.sales`), are joined and feed a linear model (`umbrella.model`) that is
trained, evaluated on a held-out period and deployed only when it is at least as good
as the deployed one. Standard library only; files are written atomically.
"""
