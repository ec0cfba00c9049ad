"""Image painting (lesson 2): a coordinate network fitted to each frame; see pipeline.py."""
