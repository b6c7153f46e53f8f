"""rmmctl: agentless remote monitoring and maintenance from a technician's shell."""

__version__ = "0.1.0"
