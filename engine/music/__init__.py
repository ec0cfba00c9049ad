"""Music: what a soundtrack (or a microphone) says, frame by frame, and what settings make of it.

- `audio`: a file's sound as mono blocks at one rate (PyAV), in step with its frames' times.
- `features`: onsets (spectral flux), loudness and bass/mid/high energies from those blocks,
  in NumPy, smoothed and normalised to 0..1.
- `beats`: the tempo and the beats of an onset envelope (autocorrelation, then dynamic
  programming), or a fixed `--bpm` grid laid on the strongest phase.
- `react`: mappings such as `strength=0.4+0.6*bass` or `style=beat:3,12`, turned into each
  frame's setting values.
"""
