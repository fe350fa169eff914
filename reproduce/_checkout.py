"""Imported first by every reproduce script: puts this checkout's root first on ``sys.path`` so a
script runs the code of the checkout it lives in - a clean worktree of a commit runs that commit,
whatever another checkout ``pip install -e`` points at - and the records' code version is true."""
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
if sys.path[:1] != [ROOT]:
    sys.path.insert(0, ROOT)
