"""The ``drawbridge`` command line."""
