"""gansu-health: the Gansu provincial Internet + Healthcare platform."""

__version__ = "0.1.0"
