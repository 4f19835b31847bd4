"""Paperboy: research papers where your team already talks."""

__version__ = "0.1.0"
