"""What exists only to run verl without a GPU; nothing is imported here.

- :mod:`.platform`          verl platform ``cpu`` (device cpu, gloo) and the gloo backend-string fix.
- :mod:`.engines`           verl's FSDP engines registered for device ``cpu``.
- :mod:`.torchvision_shim`  the ``.pth`` that lets the CUDA-only torchvision wheel import on CPU.

All registrations happen in :mod:`verl_videorft.plugin`.
"""
