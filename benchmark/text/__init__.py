"""Table 5's text pipeline: GLUE tasks (:mod:`.glue`), the split pretrained encoder (:mod:`.encoder`),
the one fine-tuning loop with its convergence rule (:mod:`.finetune`) and a text cell's context and
evaluation (:mod:`.context`)."""
from .glue import TASKS, load_glue  # noqa: F401
