"""Bus-level record and replay (``sensorcast record`` / ``sensorcast replay``, docs/record-replay.md).

codec.py (PURE): the capture file format. recorder.py: the recording bus tap and the file writer.
replayer.py: the replaying bus tap. secrets.py: what of the config goes into a capture.
"""
