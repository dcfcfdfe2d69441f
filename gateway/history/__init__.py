"""History: an embedded time-series store (SQLite, WAL) that keeps readings across restarts.

Pure parts (no sqlite3, no threads, no clock reads): :mod:`.policy` (tiers, defaults, tier choice, pruning
order), :mod:`.rollup` (min/max/mean/last maths), :mod:`.codec` (chunk blobs). The I/O shell is
:mod:`.store` (one writer thread, reader connections in a thread).
"""
