"""Synthesis methods. Importing this package registers the built-in methods in ``benchmark.registry.METHODS``."""

from methods import adanorm  # noqa: F401
from methods import crn  # noqa: F401
from methods import pix2pix  # noqa: F401
from methods import pix2pixhd  # noqa: F401
from methods import slnp  # noqa: F401
from methods import spade  # noqa: F401
