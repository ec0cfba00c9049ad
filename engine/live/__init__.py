"""`dreamreel live`: real-time stylization of a camera for performers (VJs).

capture: the newest-frame-wins capture thread; control: live parameters, keys, OSC, MIDI;
show: the compiled show loop; outputs: preview window, virtual camera, NDI, recording.
"""
