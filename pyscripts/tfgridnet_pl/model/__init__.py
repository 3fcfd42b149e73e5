"""The model ESPnet trains: the PL separator, its loss wrapper, criteria, complexity, safe checkpoints."""
