"""verl-videorft: VideoRFT-style video reasoning RL as a verl 0.9.1 plugin.

Importing this package is cheap on purpose: verl imports the ``verl.plugins`` entry point
(:mod:`verl_videorft.plugin`) in the driver and in every Ray worker.
"""

__version__ = "0.1.0"
