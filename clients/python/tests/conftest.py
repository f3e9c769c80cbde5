import os
import sys

# proxy.py sits next to the tests.
sys.path.insert(0, os.path.dirname(__file__))
