"""Table 6's Mv-Di on MobileNetV2 for given seeds, on this machine's bodies (a check, not a table):
the committed Mv-Di seeds 3-4 stand on AVX2-trained bodies, Mc-Di's on AVX512 ones."""
import sys
from dataclasses import replace
sys.path[:0] = ["/work/runs/wtD", "/work/runs/wtD/reproduce"]
import table6  # noqa: E402
from benchmark.cli import grid_main  # noqa: E402
raise SystemExit(grid_main(replace(table6.GRID, backbones=("mobilenetv2",))))
