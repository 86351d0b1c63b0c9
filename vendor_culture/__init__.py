"""A clean-room implementation of François Fleuret's culture world and MyGPT model.

Depends on torch only: the grid tasks, the quiz layout, MyGPT with the original
state-dict layout, masked autoregression and the training protocol.
"""
