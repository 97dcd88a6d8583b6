"""Stand-in for ansible-test's pip bootstrap script (get-pip.py), whose download host is not reachable here.

ansible-test runs it in each empty sanity venv with pip install arguments; this installs pip from the
interpreter's own ensurepip wheel and then runs those arguments through it (packages come from PyPI).
"""
import subprocess
import sys

GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel')

subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'])
subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS])
