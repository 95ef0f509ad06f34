"""vocbot: answers questions about the Beibei District vocational-education reform plan."""

__version__ = "0.1.0"
