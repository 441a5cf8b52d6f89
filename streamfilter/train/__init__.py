"""Training: blur synthesis, datasets, losses, the training loop, evaluation and mining."""
