"""dreamreel: real-time video and webcam stylization with compiled TensorFlow graphs."""
