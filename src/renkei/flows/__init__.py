"""Flows: the engine that runs user-defined flows (specs, steps, schedules, effects).

The language they are written in (filters, mappings, templates, paths) is :mod:`renkei.expr`.
"""
