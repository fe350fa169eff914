"""Table 5 of the Lt-Di paper: GLUE accuracy and fine-tuning latency on MRPC and QNLI - Mc-Di's Table 5
protocol (reproduce/table5.py) with the Lt-Di paper's rows: the five gradient fine-tuners, Lv-Di
(vanilla diffusion on the LoRA weights theta_M, the objective of Mv-Di) and Lt-Di (trajectory
diffusion on the LoRA trajectory). Shared cells (the fine-tuners) are computed once.

    python reproduce/ltdi_table5.py --profile cpu --data ../shared/data
"""
import _checkout  # noqa: F401,I001  (this checkout's code first on sys.path)
from dataclasses import replace

from benchmark.cli import grid_main
from table5 import GRID as TABLE5

GRID = replace(
    TABLE5, table="ltdi_table5", paper_table="table5", source="lt-di",
    caption=TABLE5.caption.replace("GLUE accuracy", "Lt-Di paper, GLUE accuracy"),
    methods=["full-ft", "lora", "adalora", "dylora", "fourierft", "lv-di-lora", "lt-di-lora", "ref-target-lora"],
    variants=[],
)

if __name__ == "__main__":
    raise SystemExit(grid_main(GRID))
