"""The studio's built browser bundle (index.js + index.css), made by studio/frontend/build.sh.

A package of its own so the built files ship as package data."""
from pathlib import Path

BUNDLE_DIR = Path(__file__).parent
