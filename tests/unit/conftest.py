"""Hypothesis profiles of the unit tests.

`wgsplit` (the default, what CI runs) is derandomized: the same examples every run, so a gate never fails by the
luck of a draw, and a failure found once is found again. `thorough` (HYPOTHESIS_PROFILE=thorough) draws new
examples each run, 25 times as many in test_properties.py: the search for what the fixed examples miss.
"""
import os

from hypothesis import HealthCheck, settings

settings.register_profile('wgsplit', deadline=None, database=None, print_blob=True, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                 HealthCheck.filter_too_much])
settings.register_profile('thorough', parent=settings.get_profile('wgsplit'), derandomize=False)
PROFILE = os.environ.get('HYPOTHESIS_PROFILE', 'wgsplit')
settings.load_profile(PROFILE if PROFILE in ('wgsplit', 'thorough') else 'wgsplit')
