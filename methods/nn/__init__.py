"""Building blocks shared by the methods."""
