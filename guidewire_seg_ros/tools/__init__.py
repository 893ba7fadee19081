"""Tools around the node, not the node: the demo, the recorder, the synthetic fluoroscope, the node
benchmark, the soak run, bag replay and evaluation, and the process and spinning helpers they share.

They import the node package (messages, image conversion, parameters); the node never imports them.
"""
