"""WGSPLIT_LAB_ORDER=reverse runs the lab tests last to first: a test that needs what an earlier one
left behind fails then."""
import os


def pytest_collection_modifyitems(items):
    if os.environ.get('WGSPLIT_LAB_ORDER') == 'reverse':
        items.reverse()
