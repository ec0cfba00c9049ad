"""The `autoencoder` pipeline: frames redrawn through a small network trained on the clip."""
