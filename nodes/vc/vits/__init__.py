"""VITS building blocks shared by the RVC and so-vits-svc architectures (no file I/O here).

Module and parameter names follow the upstream networks so their state dicts
load by name; weight-normed layers are plain layers here (the loader folds
weight_g/weight_v into one weight).
"""
