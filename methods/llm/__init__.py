"""Table 5's rows: single-task gradient fine-tuning (:mod:`.finetuners`: Full-FT, LoRA, AdaLoRA,
DyLoRA, FourierFT) and LoRA generation by diffusion (:mod:`.lora_diffusion`: Mv-Di, Mc-Di)."""
