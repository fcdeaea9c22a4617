"""Configuration as code: ``renkei plan|apply|export`` over one YAML file."""

from renkei.config.loader import ConfigError, load_config
from renkei.config.plan import Change, Plan, apply_plan, export_state, make_plan
from renkei.config.resources import ResourceKind

__all__ = [
    "Change",
    "ConfigError",
    "Plan",
    "ResourceKind",
    "apply_plan",
    "export_state",
    "load_config",
    "make_plan",
]
