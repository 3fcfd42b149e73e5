"""Data: the DNS5 tree layout, the simulation config, and mixing (fixed sets and on-the-fly training)."""
