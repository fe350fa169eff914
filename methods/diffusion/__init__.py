"""Shared diffusion pieces (Mc-Di paper, reversed indexing: x_0 is noise, x_T the weights).

- :mod:`.schedule` - increasing alpha schedules and the products abar_t, abar^i_t;
- :mod:`.losses` - vanilla DDPM (Eq. 1), local consistency (Eq. 3), Tw-Di,
  Lt-Di's trajectory loss (Lt-Di Eq. 2);
- :mod:`.sampler` - the deterministic inference chain;
- :mod:`.denoiser` - the 1-D U-Net eps_phi(x_t, t, Emb).
"""
