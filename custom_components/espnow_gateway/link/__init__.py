"""Gateway link: frame codec, protocol messages, serial connection and simulator.

Pure Python with no Home Assistant imports, so it can be used (and shipped) on its own.
"""
