"""Synthesis methods. Importing this package registers the built-in methods in ``benchmark.registry.METHODS``."""

from methods import adanorm, crn, pix2pix, pix2pixhd, slnp, spade  # noqa: F401
