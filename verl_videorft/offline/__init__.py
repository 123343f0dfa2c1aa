"""Offline jobs (``cot build``, ``data precompute``, ``eval``) on Ray Data: :mod:`.ray_data`."""
