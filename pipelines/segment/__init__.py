"""Person segmentation: who is the performer and what is the stage, a mask per frame."""
